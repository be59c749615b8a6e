"""karman.configfile: a config file Snakemake's reader rejects, named on one line.

The errors are the ones Snakemake's own reader (snakemake.common.configfile.load_configfile,
what `--configfile` calls) raises on real files; the workflow-level cases are in
tests/test_config_errors.py, on the same CASES.
"""

from __future__ import annotations

import logging

import pytest
from snakemake.common import configfile as snakemake_configfile

from karman.configfile import ConfigFileErrors, command_line_config_files, config_file_problem, name_unreadable_config_files


def reader_error(path) -> BaseException:
    with pytest.raises(Exception) as caught:
        snakemake_configfile.load_configfile(str(path))
    return caught.value


CASES = {
    "missing": (lambda folder: folder / "nothere.yaml", "there is no such file"),
    "folder": (lambda folder: mkdir(folder / "d.yaml"), "it is a folder, not a file"),
    "binary": (lambda folder: write(folder / "b.yaml", b"\xff\xfe\x00bin"), "it is not UTF-8 text (byte 0 is b'\\xff')"),
    "bad yaml": (lambda folder: write(folder / "y.yaml", b"reynolds: [300\n  bad: : x\n"),
                 "it is not valid YAML (line 2, column 6: expected ',' or ']', but got ':')"),
    "a list": (lambda folder: write(folder / "l.yaml", b"- 300\n- 600\n"),
               "its top level is a list, not a mapping of keys to values (such as `reynolds: [300, 600]`)"),
    "a number": (lambda folder: write(folder / "n.yaml", b"300\n"), "its top level is a number, not a mapping of keys to values"),
    "empty": (lambda folder: write(folder / "e.yaml", b""), "it is empty (or only comments)"),
    "only comments": (lambda folder: write(folder / "c.yaml", b"# nothing yet\n"), "it is empty (or only comments)"),
}


def write(path, content: bytes):
    path.write_bytes(content)
    return path


def mkdir(path):
    path.mkdir()
    return path


@pytest.mark.parametrize("case", CASES)
def test_each_unreadable_config_file_is_named_with_what_is_wrong(tmp_path, case):
    make, what = CASES[case]
    path = make(tmp_path)
    fine = write(tmp_path / "fine.yaml", b"reynolds: [300]\n")
    problem = config_file_problem(reader_error(path), [str(fine), str(path)])  # as the command line gives them
    assert problem.startswith(f"config file {path}: ") and what in problem, problem
    assert problem.endswith("a config file is YAML with config keys at its top, as config/sweep.yaml is (docs/configuration.md)")


def test_a_file_that_cannot_be_opened_says_permission_denied(tmp_path, monkeypatch):
    """Root reads any file, so the denial is raised where Snakemake's reader opens the file."""
    path = tmp_path / "locked.yaml"

    def denied(name, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(name))

    monkeypatch.setattr(snakemake_configfile, "open", denied, raising=False)
    problem = config_file_problem(reader_error(path))
    assert problem.startswith(f"config file {path}: it cannot be read (permission denied)"), problem


def test_errors_from_anywhere_else_are_left_alone(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        open(tmp_path / "nothere.yaml")
    assert config_file_problem(caught.value) is None
    assert config_file_problem(ValueError("no traceback")) is None


def logged(logger: logging.Logger, message: str, error: BaseException | None) -> logging.LogRecord:
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        if error is None:
            logger.error(message)
        else:
            try:
                raise error
            except BaseException:
                logger.error(message)  # as Snakemake does: its report is logged inside the `except`
    finally:
        logger.removeHandler(handler)
    return records[0]


@pytest.fixture
def logger():
    logger = logging.getLogger("karman-test-configfile")
    name_unreadable_config_files(logger)
    yield logger
    logger.filters.clear()


def test_the_filter_rewrites_snakemakes_report_of_an_unreadable_config_file(logger, tmp_path):
    error = reader_error(tmp_path / "nothere.yaml")
    record = logged(logger, "Traceback (most recent call last):\n  … 25 more lines …", error)
    assert record.getMessage() == f"karman: {config_file_problem(error)}"


def test_the_filter_finds_a_file_the_error_does_not_name_on_the_command_line(logger, tmp_path, monkeypatch):
    path = write(tmp_path / "l.yaml", b"- 300\n")
    monkeypatch.setattr("sys.argv", ["snakemake", "--cores", "2", "--configfile", "config.yaml", str(path), "-n"])
    record = logged(logger, "Config file must be given as JSON or YAML with keys at top level.", reader_error(path))
    assert record.getMessage().startswith(f"karman: config file {path}: its top level is a list"), record.getMessage()


def test_the_config_files_are_read_from_the_command_line_as_snakemake_takes_them():
    argv = ["snakemake", "--configfile", "a.yaml", "b.yaml", "--cores", "2", "all", "--configfiles=c.yaml", "--configfile", "d.yaml"]
    assert command_line_config_files(argv) == ["a.yaml", "b.yaml", "c.yaml", "d.yaml"]
    assert command_line_config_files(["snakemake", "--cores", "2"]) == []


def test_the_filter_passes_every_other_message_unchanged(logger):
    assert logged(logger, "Building DAG of jobs...", None).getMessage() == "Building DAG of jobs..."
    assert logged(logger, "Error in rule simulate_flow", RuntimeError("a job failed")).getMessage() == "Error in rule simulate_flow"


def test_the_filter_is_put_on_a_logger_once(logger):
    name_unreadable_config_files(logger)
    assert sum(isinstance(existing, ConfigFileErrors) for existing in logger.filters) == 1
