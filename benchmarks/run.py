"""karman's performance harness: measurements side by side in one run, printed as ratios.

    python benchmarks/run.py flow     # lattice-Boltzmann throughput (MLUPS) per grid size
    python benchmarks/run.py fields   # Dask vorticity vs the same computation on numpy

Timings vary between runs on shared machines; compare the ratios printed by one run,
not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from karman.fields import build_vorticity_dataset
from karman.flow import CylinderFlow, FlowParameters, simulate
from karman.stores import write_store


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_flow(repeats: int) -> None:
    print(f"{'grid':>12} {'MLUPS':>8}")
    for diameter in (6.4, 12.8, 25.6):
        sim = CylinderFlow(FlowParameters(reynolds=300, diameter_cells=diameter))
        steps = 50
        seconds = median_seconds(lambda: [sim.step() for _ in range(steps)], repeats)
        p = sim.params
        print(f"{p.nx:>6}x{p.ny:<5} {steps * p.nx * p.ny / seconds / 1e6:8.1f}")


def numpy_vorticity(u: np.ndarray, v: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.gradient(v, x, axis=2, edge_order=2) - np.gradient(u, y, axis=1, edge_order=2)


def bench_fields(repeats: int) -> None:
    params = FlowParameters(reynolds=300, diameter_cells=6.4, spinup_time=1, sample_time=60, sample_interval=0.1)
    flow = simulate(params)
    crop = {"x": [-20.0, 20.0], "y": [-10.0, 10.0]}  # the whole domain: same work as numpy
    downsample = {"factor": 1, "method": "stride"}
    with tempfile.TemporaryDirectory() as scratch:
        store = Path(scratch) / "re300.zarr"
        write_store(flow, store, chunks={"time": 64})
        u, v = flow["u"].values, flow["v"].values
        x, y = flow["x"].values, flow["y"].values
        in_memory = median_seconds(lambda: numpy_vorticity(u, v, x, y), repeats)
        lazy = median_seconds(lambda: build_vorticity_dataset([store], crop, downsample, 64)["vorticity"].values, repeats)
    cells = u.size
    print(f"{u.shape[0]} snapshots of {u.shape[1]}x{u.shape[2]} cells")
    print(f"numpy in memory : {cells / in_memory / 1e6:8.1f} Mcells/s")
    print(f"dask from zarr  : {cells / lazy / 1e6:8.1f} Mcells/s (reads, decompresses and differentiates)")
    print(f"ratio dask/numpy: {in_memory / lazy:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["flow", "fields"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    {"flow": bench_flow, "fields": bench_fields}[args.stage](args.repeats)


if __name__ == "__main__":
    main()
