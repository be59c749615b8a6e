"""Benchmarks of the `fields` stage: its peak memory as the input grows, and its
throughput against numpy on arrays already in memory."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr

from karman.stores import write_store
from karman.vortex.fields import build_vorticity_dataset

from .common import CROP, GRID, NO_DOWNSAMPLE, SAMPLE_CHUNK, median_seconds


def synthetic_flow_store(path: Path, reynolds: float, n_time: int) -> Path:
    """A flow store of random velocities, written chunk by chunk (never whole in memory)."""
    ny, nx = GRID
    rng = da.random.default_rng(int(reynolds))
    shape, chunks = (n_time, ny, nx), (32, ny, nx)
    flow = xr.Dataset(
        {name: (("time", "y", "x"), rng.standard_normal(shape, chunks=chunks, dtype=np.float32)) for name in ("u", "v")},
        coords={"time": np.arange(n_time) * 0.1, "y": (np.arange(ny) - ny / 2) / 12.8, "x": (np.arange(nx) - 38.4) / 12.8},
        attrs={"reynolds": reynolds, "source": "simulate", "solver": "benchmark: random fields", "karman_version": "benchmark"},
    )
    write_store(flow, path, chunks={"time": 32})
    return path


FIELDS_STAGE = """
import json, resource, sys, time
from karman.vortex.fields import write_vorticity
args = json.loads(sys.argv[1])
start = time.perf_counter()
write_vorticity(args["inputs"], args["output"], crop=args["crop"], downsample=args["downsample"], sample_chunk=args["chunk"], threads=2)
print(json.dumps({"seconds": time.perf_counter() - start, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_fields_stage(inputs: list[Path], output: Path) -> dict:
    """The fields stage in a fresh process, so that its peak resident memory is its own."""
    args = {"inputs": [str(p) for p in inputs], "output": str(output), "crop": CROP, "downsample": NO_DOWNSAMPLE, "chunk": SAMPLE_CHUNK}
    result = subprocess.run([sys.executable, "-c", FIELDS_STAGE, json.dumps(args)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_fields_memory(scratch: Path, repeats: int) -> None:
    """Peak RSS of the fields stage when its input grows 10x at a fixed chunk size."""
    measured = {}
    for scale, n_time in (("1x", 128), ("10x", 1280)):
        inputs = [synthetic_flow_store(scratch / f"{scale}-re{re}.zarr", re, n_time) for re in (300, 600)]
        input_mb = sum(2 * n_time * GRID[0] * GRID[1] * 4 for _ in inputs) / 2**20
        runs = [run_fields_stage(inputs, scratch / f"{scale}-vorticity.zarr") for _ in range(repeats)]
        measured[scale] = (input_mb, statistics.median(r["max_rss_mb"] for r in runs), statistics.median(r["seconds"] for r in runs))
    (small_in, small_rss, _), (large_in, large_rss, large_s) = measured["1x"], measured["10x"]
    print(f"fields-memory: {large_rss / small_rss:.2f}x peak RSS at 10x input over 1x input "
          f"({large_rss:.0f} MB vs {small_rss:.0f} MB for {large_in:.0f} MB vs {small_in:.0f} MB of velocities, "
          f"chunks of {SAMPLE_CHUNK} samples, 2 threads; 10x stage took {large_s:.1f} s)")


def numpy_vorticity(u: np.ndarray, v: np.ndarray, x: np.ndarray, y: np.ndarray, window: tuple[slice, slice]) -> np.ndarray:
    omega = np.gradient(v, x, axis=2, edge_order=2) - np.gradient(u, y, axis=1, edge_order=2)
    return omega[:, window[0], window[1]].astype(np.float32)


def bench_fields_throughput(scratch: Path, repeats: int) -> None:
    """Dask reading the Zarr stores vs numpy on arrays already in memory, same result."""
    inputs = [synthetic_flow_store(scratch / f"tp-re{re}.zarr", re, 640) for re in (300, 600)]
    flows = [xr.open_zarr(p).load() for p in inputs]
    x, y = flows[0].x.values, flows[0].y.values
    window = (np.flatnonzero((y >= CROP["y"][0]) & (y <= CROP["y"][1])), np.flatnonzero((x >= CROP["x"][0]) & (x <= CROP["x"][1])))
    window = (slice(window[0][0], window[0][-1] + 1), slice(window[1][0], window[1][-1] + 1))

    def with_numpy():
        return np.concatenate([numpy_vorticity(f.u.values, f.v.values, x, y, window) for f in flows])

    def with_dask():
        with dask.config.set(scheduler="threads", num_workers=2):
            return build_vorticity_dataset(inputs, CROP, NO_DOWNSAMPLE, SAMPLE_CHUNK)["vorticity"].values

    np.testing.assert_allclose(with_dask(), with_numpy(), rtol=1e-5, atol=1e-4)
    numpy_s, dask_s = median_seconds(with_numpy, repeats), median_seconds(with_dask, repeats)
    cells = sum(f.u.size for f in flows)
    print(f"fields-throughput: {numpy_s / dask_s:.2f}x dask from zarr over numpy in memory "
          f"({cells / dask_s / 1e6:.0f} vs {cells / numpy_s / 1e6:.0f} Mcells/s; dask reads, decompresses and differentiates "
          f"with 2 threads, numpy differentiates arrays already loaded, 1 thread)")
