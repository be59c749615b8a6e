"""The `karman` command line."""

from __future__ import annotations

import argparse
import sys

from karman import __version__, check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="karman", description="karman: flow past a cylinder to trained models.")
    parser.add_argument("--version", action="version", version=f"karman {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="check Zarr stores against the data contract", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "check":
        return check.main(rest)
    return 2


if __name__ == "__main__":
    sys.exit(main())
