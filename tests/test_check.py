"""The store validator reports every violation; corrupted stores fail naming the problem."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from karman.check import check_store, violations
from karman.cli import main
from karman.vortex.fields import write_vorticity
from karman.stores import StoreError, damaged_chunks, open_store, write_store
from karman.vortex.store import FLOW, VORTICITY

ATTRS = {"reynolds": 100.0, "source": "simulate", "solver": "test", "karman_version": "test"}


def flow_dataset(n_time=8, ny=6, nx=10):
    rng = np.random.default_rng(0)
    shape = (n_time, ny, nx)
    return xr.Dataset(
        {"u": (("time", "y", "x"), rng.standard_normal(shape).astype(np.float32)),
         "v": (("time", "y", "x"), rng.standard_normal(shape).astype(np.float32))},
        coords={"time": np.arange(n_time) * 0.5, "y": np.linspace(-1, 1, ny), "x": np.linspace(-1, 3, nx)},
        attrs=ATTRS,
    )


@pytest.fixture
def flow_store(tmp_path):
    path = tmp_path / "re100.zarr"
    write_store(flow_dataset(), path, chunks={"time": 2})
    return path


def test_a_good_store_has_no_violations(flow_store, tmp_path):
    assert violations(flow_store, FLOW) == []
    write_vorticity([flow_store], tmp_path / "vorticity.zarr", crop={"x": [0, 2], "y": [-1, 1]},
                    downsample={"factor": 1, "method": "stride"}, sample_chunk=3)
    assert violations(tmp_path / "vorticity.zarr", VORTICITY) == []


def test_every_violation_is_reported(tmp_path):
    bad = flow_dataset().drop_vars("v").drop_attrs()
    bad["u"] = bad["u"].astype(np.float64).transpose("time", "x", "y")
    bad = bad.assign_coords(x=bad.x.values[::-1])
    path = tmp_path / "bad.zarr"
    write_store(bad, path)
    found = "\n".join(violations(path, FLOW))
    assert "missing variable 'v'" in found
    assert "variable 'u' has dims ('time', 'x', 'y'), expected ('time', 'y', 'x')" in found
    assert "variable 'u' has dtype float64, expected float32" in found
    assert "coordinate 'x' is not strictly increasing" in found
    for name in ATTRS:
        assert f"missing attribute {name!r}" in found


def test_a_deleted_chunk_is_found(flow_store):
    chunk = next(p for p in (flow_store / "u").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.unlink()
    key = chunk.relative_to(flow_store)
    assert violations(flow_store, FLOW) == [f"{flow_store} is damaged: chunk {key} is missing. Remove it (rm -r {flow_store}) and rerun: "
                                            "the workflow writes it again"]
    with pytest.raises(StoreError, match=rf"re100.zarr breaks the flow store contract:\n  - .*re100.zarr is damaged: chunk {key} is missing"):
        check_store(flow_store, FLOW)


def test_a_truncated_chunk_is_found_without_decompressing_it(flow_store):
    chunk = next(p for p in (flow_store / "u").rglob("*") if p.is_file() and p.name != "zarr.json")
    with open(chunk, "r+b") as data:
        data.truncate(chunk.stat().st_size - 1)
    assert damaged_chunks(flow_store) == [f"chunk {chunk.relative_to(flow_store)} is cut short or garbled ({chunk.stat().st_size} bytes)"]
    with pytest.raises(StoreError, match="is damaged: chunk .* is cut short"):
        open_store(flow_store)


def test_garbled_metadata_names_the_store(flow_store):
    (flow_store / "zarr.json").write_text("{ not json")
    with pytest.raises(StoreError, match=r"re100.zarr: cannot read the store"):
        open_store(flow_store)
    assert violations(flow_store, FLOW)[0].startswith(f"{flow_store}: cannot read the store")


def test_garbled_variable_metadata_names_the_store(flow_store):
    meta = flow_store / "u" / "zarr.json"
    meta.write_text(meta.read_text().replace('"float32"', '"complex-nonsense"'))
    problems = violations(flow_store, FLOW)
    assert len(problems) == 1 and problems[0].startswith("u: cannot read its metadata")
    with pytest.raises(StoreError, match=r"re100.zarr breaks the flow store contract:\n  - u: cannot read its metadata"):
        check_store(flow_store, FLOW)


def test_a_missing_store_is_reported(tmp_path):
    assert violations(tmp_path / "nowhere.zarr", FLOW) == [f"{tmp_path / 'nowhere.zarr'}: no Zarr store there"]


def test_a_bad_store_is_never_written(tmp_path):
    path = tmp_path / "out.zarr"
    with pytest.raises(StoreError, match="out.zarr breaks the flow store contract"):
        write_store(flow_dataset().drop_vars("u"), path, check=lambda p, name: check_store(p, FLOW, name))
    assert list(tmp_path.iterdir()) == []  # neither the store nor a partial one


def test_the_fields_stage_refuses_a_broken_flow_store(flow_store, tmp_path):
    shutil.rmtree(flow_store / "v")
    with pytest.raises(StoreError, match="re100.zarr is damaged: chunk v/c/0/0/0 is missing"):
        write_vorticity([flow_store], tmp_path / "vorticity.zarr", crop={"x": [0, 2], "y": [-1, 1]},
                        downsample={"factor": 1, "method": "stride"}, sample_chunk=3)
    assert not (tmp_path / "vorticity.zarr").exists()


def test_command_line_reports_and_exits_non_zero(flow_store, tmp_path, capsys):
    assert main(["check", str(flow_store)]) == 0
    assert capsys.readouterr().out == f"{flow_store}: ok (flow)\n"  # the kind guessed from the variables
    meta = json.loads((flow_store / "zarr.json").read_text())
    del meta["attributes"]["solver"]
    meta.pop("consolidated_metadata")
    (flow_store / "zarr.json").write_text(json.dumps(meta))
    result = subprocess.run([sys.executable, "-m", "karman.cli", "check", str(flow_store), "--kind", "flow"], capture_output=True, text=True)
    assert result.returncode == 1
    assert "1 problem(s)" in result.stdout and "missing attribute 'solver'" in result.stdout


def test_a_garbled_chunk_is_named_when_the_fields_stage_reads_it(flow_store, tmp_path):
    chunk = flow_store / "u" / "c" / "1" / "0" / "0"
    garbage = bytearray(b"garbage" * 10)
    garbage[12:16] = len(garbage).to_bytes(4, "little")  # a Blosc header that states the chunk's length
    chunk.write_bytes(garbage)
    assert violations(flow_store, FLOW) == []  # the routine check reads metadata and chunk headers only
    assert violations(flow_store, FLOW, deep=True) == ["u: chunk 1.0.0 cannot be decoded (RuntimeError: error during blosc decompression: -1)"]
    with pytest.raises(StoreError, match=r"flow stores are damaged:\n  - .*re100.zarr: u: chunk 1.0.0 cannot be decoded"):
        write_vorticity([flow_store], tmp_path / "vorticity.zarr", crop={"x": [0, 2], "y": [-1, 1]},
                        downsample={"factor": 1, "method": "stride"}, sample_chunk=3)
    assert not (tmp_path / "vorticity.zarr").exists()
