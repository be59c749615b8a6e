"""Files appear whole or not at all (karman.atomic)."""

import json

import numpy as np
import pytest
import xarray as xr

from karman.atomic import interrupted_partials, partial_path, write_text_whole, written_whole
from karman.stores import write_store
from karman.forecast.stage import write_json


def test_a_file_appears_under_its_name_only_when_the_block_ends(tmp_path):
    target = tmp_path / "table.csv"
    with written_whole(target) as partial:
        partial.write_text("a,b\n1,2\n")
        assert interrupted_partials(target) == [partial] and partial.parent == tmp_path and not target.exists()
    assert target.read_text() == "a,b\n1,2\n" and list(tmp_path.iterdir()) == [target]


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), written_whole(target) as partial:
        partial.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_a_block_that_fails_before_writing_leaves_nothing(tmp_path):
    with pytest.raises(ValueError), written_whole(tmp_path / "report.html"):
        raise ValueError("no data")
    assert not list(tmp_path.iterdir())


def test_text_and_json_are_written_whole(tmp_path):
    write_text_whole(tmp_path / "index.html", "<p>é</p>")
    assert (tmp_path / "index.html").read_text(encoding="utf-8") == "<p>é</p>"
    write_json({"st": float("nan")}, tmp_path / "metrics.json")
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"st": None}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["index.html", "metrics.json"]


def test_what_a_killed_job_left_of_an_output_goes_when_the_output_is_written_next(tmp_path, capsys):
    """A killed job leaves its partial store; the next writer of the same store removes it and
    says so, and leaves alone the partial names of other outputs (an in-flight download)."""
    store = tmp_path / "re00300.zarr"
    left = partial_path(store)
    (left / "vorticity").mkdir(parents=True)
    (left / "zarr.json").write_text("{}")
    download = partial_path(tmp_path / "re00300.zarr.download")
    download.write_bytes(b"half a file")
    write_store(xr.Dataset({"u": ("x", np.zeros(3, dtype=np.float32))}), store)
    assert sorted(tmp_path.iterdir()) == [download, store]
    assert f"karman: removed 1 partial output of an interrupted run: {left}" in capsys.readouterr().err


def test_a_file_written_whole_removes_its_own_leftovers_only(tmp_path, capsys):
    target = tmp_path / "metrics.json"
    left = partial_path(target)
    left.write_text("half")
    other = partial_path(tmp_path / "metrics.json.bak")
    other.write_text("x")
    write_text_whole(target, "{}")
    assert sorted(tmp_path.iterdir()) == sorted([other, target])
    assert capsys.readouterr().err.count("removed 1 partial output") == 1
