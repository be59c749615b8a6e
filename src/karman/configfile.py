"""A config file Snakemake could not read, named on one screen.

Snakemake reads every `--configfile` in its command line before karman's Snakefile runs, so
karman's own config check (`karman.settings`) never sees these failures. Snakemake reports
some of them with a Python traceback (a missing file, a folder, a file that is not UTF-8
text) and others without naming the file (YAML it cannot parse, a list at the top).

`ConfigFileErrors` is a filter on Snakemake's logger, put there by karman's Snakemake logger
plugin (`logger: [karman]` in karman's profiles): when Snakemake reports an exception that
its config-file reader raised, the report becomes one `karman: …` line that names the file,
what is wrong with it and what a config file is. Every other message passes unchanged. The
file is the one the exception names (a missing file, a folder, the YAML parser's stream) or,
where it names none, the first of the command line's `--configfile` files that karman cannot
read as a mapping either: nothing of Snakemake's but the exception is read.
"""

from __future__ import annotations

import logging
import sys

import yaml

SNAKEMAKE_CONFIG_READER = "snakemake.common.configfile"  # the module whose exceptions are rewritten
TOP_LEVEL_KINDS = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true or false"}
WHAT_A_CONFIG_FILE_IS = "a config file is YAML with config keys at its top, as config/sweep.yaml is (docs/configuration.md)"


def from_config_reader(error: BaseException) -> bool:
    """Whether `error` was raised by Snakemake's config-file reader (its traceback passes there)."""
    trace = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_globals.get("__name__") == SNAKEMAKE_CONFIG_READER:
            return True
        trace = trace.tb_next
    return False


def yaml_problem(error: BaseException) -> str:
    """Where and what the YAML parser found wrong, from the error Snakemake's message replaced."""
    cause = error.__context__
    if isinstance(cause, yaml.MarkedYAMLError) and cause.problem_mark is not None:
        mark = cause.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {cause.problem}"
    return str(cause) if cause is not None else "the YAML parser gave no reason"


def command_line_config_files(argv: list[str]) -> list[str]:
    """The files given to `--configfile` / `--configfiles` in a Snakemake command line, in order."""
    files, taking = [], False
    for argument in argv[1:]:
        option, equals, value = argument.partition("=")
        if option in ("--configfile", "--configfiles"):
            taking = not equals
            files += [value] if equals else []
        elif argument.startswith("-"):
            taking = False
        elif taking:
            files.append(argument)
    return files


def top_level(path: str) -> object:
    """The top level of the YAML file at `path` (None if it is empty); raises as reading it fails."""
    with open(path, encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def not_a_mapping(path: str) -> bool:
    """Whether the file at `path` cannot be read as a mapping of config keys (the config reader would refuse it)."""
    try:
        return not isinstance(top_level(path), dict)
    except (OSError, ValueError, yaml.YAMLError):
        return True


def failing_file(error: BaseException, config_files: list[str]) -> str | None:
    """The config file `error` is about: the file the error names (a missing one, a folder, the
    YAML parser's stream), else the first of `config_files` that is not a readable mapping."""
    for cause in (error, error.__context__):
        if getattr(cause, "filename", None):
            return cause.filename
    mark = getattr(error.__context__, "problem_mark", None)
    if mark is not None and not mark.name.startswith("<"):
        return mark.name
    return next((path for path in config_files if not_a_mapping(path)), None)


def config_file_problem(error: BaseException, config_files: list[str] = ()) -> str | None:
    """What is wrong with the config file that Snakemake failed to read; None for any other
    error. `config_files`: the command line's (`command_line_config_files`), where to look for
    the file when the error does not name it (text that is not UTF-8, a top level that is not a
    mapping)."""
    if not from_config_reader(error):
        return None
    path = failing_file(error, list(config_files))
    context = error.__context__
    if isinstance(error, FileNotFoundError) or isinstance(context, FileNotFoundError):
        what = "there is no such file (a path is read from the folder snakemake runs in)"
    elif isinstance(error, IsADirectoryError):
        what = "it is a folder, not a file"
    elif isinstance(error, PermissionError):
        what = "it cannot be read (permission denied)"
    elif isinstance(error, OSError):
        what = f"it cannot be read ({error.strerror or error})"
    elif isinstance(error, UnicodeDecodeError):
        what = f"it is not UTF-8 text (byte {error.start} is {error.object[error.start:error.start + 1]!r})"
    elif isinstance(context, yaml.YAMLError):
        what = f"it is not valid YAML ({yaml_problem(error)})"
    elif path is not None and (content := top_level(path)) is None:
        what = "it is empty (or only comments)"
    elif path is not None and not isinstance(content, dict):
        kind = TOP_LEVEL_KINDS.get(type(content), type(content).__name__)
        what = f"its top level is {kind}, not a mapping of keys to values (such as `reynolds: [300, 600]`)"
    else:
        what = f"it cannot be read ({error})"
    return f"config file {path or 'given to --configfile'}: {what}; {WHAT_A_CONFIG_FILE_IS}"


class ConfigFileErrors(logging.Filter):
    """Rewrites Snakemake's report of an unreadable config file into karman's one-line message."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = sys.exc_info()[1]  # Snakemake logs its report from inside the `except` that caught it
        if record.levelno >= logging.ERROR and error is not None:
            problem = config_file_problem(error, command_line_config_files(sys.argv))
            if problem is not None:
                record.msg, record.args = f"karman: {problem}", ()
        return True


def name_unreadable_config_files(logger: logging.Logger) -> None:
    """Put `ConfigFileErrors` on `logger`, once."""
    if not any(isinstance(existing, ConfigFileErrors) for existing in logger.filters):
        logger.addFilter(ConfigFileErrors())
