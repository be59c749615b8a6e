"""Outputs that appear whole or not at all: every file and store karman writes is written
under a partial name beside its destination and renamed into place when whole.

A job killed midway leaves only such a partial name, `.{name}.partial-{random}`; the next
run removes them (`karman.recovery`) before any job starts. Stores use `partial_path`
(`karman.stores.write_store`); files use `written_whole` or `write_text_whole`.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

PARTIAL_MARK = ".partial-"


def partial_path(path: str | os.PathLike) -> Path:
    """A fresh temporary name beside `path` for writing it whole before it is renamed into place."""
    path = Path(path)
    return path.with_name(f".{path.name}{PARTIAL_MARK}{uuid.uuid4().hex[:8]}")


def is_partial(path: Path) -> bool:
    """Whether `path` is the partial name of an output (see `partial_path`)."""
    return path.name.startswith(".") and PARTIAL_MARK in path.name


@contextlib.contextmanager
def written_whole(path: str | os.PathLike):
    """A partial name beside `path` to write a file at; renamed to `path` when the block ends,
    removed if it raises.

        with written_whole(output) as partial:
            table.to_csv(partial, index=False)
    """
    path = Path(path)
    partial = partial_path(path)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text_whole(path: str | os.PathLike, text: str) -> None:
    """`text` (UTF-8) at `path`, whole or not at all."""
    with written_whole(path) as partial:
        partial.write_text(text, encoding="utf-8")
