"""A config file Snakemake could not read, named on one screen.

Snakemake reads every `--configfile` in its command line before karman's Snakefile runs, so
karman's own config check (`karman.settings`) never sees these failures. Snakemake reports
some of them with a Python traceback (a missing file, a folder, a file that is not UTF-8
text) and others without naming the file (YAML it cannot parse, a list at the top).

`ConfigFileErrors` is a filter on Snakemake's logger, put there by karman's Snakemake logger
plugin (`logger: [karman]` in karman's profiles): when Snakemake reports an exception that
its config-file reader raised, the report becomes one `karman: …` line that names the file,
what is wrong with it and what a config file is. Every other message passes unchanged.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from types import FrameType

import yaml

SNAKEMAKE_CONFIG_READER = "snakemake.common.configfile"  # the module whose exceptions are rewritten
TOP_LEVEL_KINDS = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true or false"}
WHAT_A_CONFIG_FILE_IS = "a config file is YAML with config keys at its top, as config/sweep.yaml is (docs/configuration.md)"


def reader_frames(error: BaseException) -> Iterator[FrameType]:
    """The frames of Snakemake's config-file reader that `error` passed through, outermost first."""
    trace = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_globals.get("__name__") == SNAKEMAKE_CONFIG_READER:
            yield trace.tb_frame
        trace = trace.tb_next


def yaml_problem(error: BaseException) -> str:
    """Where and what the YAML parser found wrong, from the error Snakemake's message replaced."""
    cause = error.__context__
    if isinstance(cause, yaml.MarkedYAMLError) and cause.problem_mark is not None:
        mark = cause.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {cause.problem}"
    return str(cause) if cause is not None else "the YAML parser gave no reason"


def config_file_problem(error: BaseException) -> str | None:
    """What is wrong with the config file that Snakemake failed to read; None for any other error."""
    frames = list(reader_frames(error))
    if not frames:
        return None
    local = {name: value for frame in frames for name, value in frame.f_locals.items()}
    path = getattr(error, "filename", None) or local.get("configpath_or_obj") or local.get("configpath")
    if isinstance(error, FileNotFoundError):
        what = "there is no such file (a path is read from the folder snakemake runs in)"
    elif isinstance(error, IsADirectoryError):
        what = "it is a folder, not a file"
    elif isinstance(error, PermissionError):
        what = "it cannot be read (permission denied)"
    elif isinstance(error, OSError):
        what = f"it cannot be read ({error.strerror or error})"
    elif isinstance(error, UnicodeDecodeError):
        what = f"it is not UTF-8 text (byte {error.start} is {error.object[error.start:error.start + 1]!r})"
    elif isinstance(error.__context__, yaml.YAMLError):
        what = f"it is not valid YAML ({yaml_problem(error)})"
    elif "config" in local and local["config"] is None:
        what = "it is empty (or only comments)"
    elif "config" in local and not isinstance(local["config"], dict):
        kind = TOP_LEVEL_KINDS.get(type(local["config"]), type(local["config"]).__name__)
        what = f"its top level is {kind}, not a mapping of keys to values (such as `reynolds: [300, 600]`)"
    else:
        what = f"it cannot be read ({error})"
    return f"config file {path}: {what}; {WHAT_A_CONFIG_FILE_IS}"


class ConfigFileErrors(logging.Filter):
    """Rewrites Snakemake's report of an unreadable config file into karman's one-line message."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = sys.exc_info()[1]  # Snakemake logs its report from inside the `except` that caught it
        if record.levelno >= logging.ERROR and error is not None:
            problem = config_file_problem(error)
            if problem is not None:
                record.msg, record.args = f"karman: {problem}", ()
        return True


def name_unreadable_config_files(logger: logging.Logger) -> None:
    """Put `ConfigFileErrors` on `logger`, once."""
    if not any(isinstance(existing, ConfigFileErrors) for existing in logger.filters):
        logger.addFilter(ConfigFileErrors())
