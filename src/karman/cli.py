"""The `karman` command line.

    karman check PATH [PATH ...] [--kind KIND] [--deep]

checks Zarr stores against the contracts the systems declare (docs/data-format.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from karman import __version__
from karman.check import Contract, matches, violations
from karman.forecast.store import ROLLOUT
from karman.stores import StoreError, open_store
from karman.systems import registered

# Every store contract, by kind: each registered system's (karman.systems) and the forecasts'.
CONTRACTS: dict[str, Contract] = {contract.kind: contract for contract in
                                  (*(contract for system in registered().values() for contract in system.contracts), ROLLOUT)}


def guess_contract(path: str | Path) -> Contract | None:
    """The contract whose variables the store has, or None where none fits (StoreError where it cannot be read)."""
    dataset = open_store(path)
    return next((contract for contract in CONTRACTS.values() if matches(dataset, contract)), None)


def check(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="karman check", description="Check Zarr stores against karman's data contracts.")
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument("--kind", choices=sorted(CONTRACTS), help="contract to check (default: guessed from the variables)")
    parser.add_argument("--deep", action="store_true", help="also read and decode every chunk (a full pass over the data)")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.paths:
        try:
            contract = CONTRACTS[args.kind] if args.kind else guess_contract(path)
            problems = violations(path, contract, deep=args.deep) if contract else [
                f"no contract fits this store; name one with --kind ({', '.join(sorted(CONTRACTS))})"]
        except StoreError as error:
            problems = [str(error)]
        if problems:
            failed += 1
            print(f"{path}: {len(problems)} problem(s)")
            for problem in problems:
                print(f"  - {problem}")
        else:
            print(f"{path}: ok ({contract.kind})")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="karman", description="karman: physics simulations to trained models.")
    parser.add_argument("--version", action="version", version=f"karman {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="check Zarr stores against the data contracts", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "check":
        return check(rest)
    return 2


if __name__ == "__main__":
    sys.exit(main())
