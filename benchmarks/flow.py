"""Benchmarks of the `flow` stage: the lattice-Boltzmann solver's speed on the CPU and the
GPU against the memory-bandwidth bound, and its grid convergence on the validation cases."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from karman.vortex.lattice import CylinderFlow, gpu_unavailable
from karman.vortex.parameters import FlowParameters
from karman.vortex.simulation import configure_threads

from .common import median_seconds

# A float32 D2Q9 update reads and writes nine populations: 2 x 9 x 4 bytes at least.
BYTES_PER_UPDATE = 72
FLOW_GRID = (1600, 400)  # (nx, ny): 23 MB of float32 populations per array, two arrays: beyond a 32 MiB last-level cache
LARGE_FLOW_GRID = (4800, 1200)  # 207 MB per array: no cache helps


def channel_of(nx: int, ny: int) -> FlowParameters:
    """The default channel's shape (10 D high) at Re 300 on an nx x ny grid."""
    return FlowParameters(reynolds=300, diameter_cells=ny / 10, domain_length=nx / (ny / 10), domain_height=10)


def roll_bgk_step(f: np.ndarray, omega: float, cx: np.ndarray, cy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The floor: a plain np.roll D2Q9 BGK step (periodic, no obstacle), as textbooks write it."""
    rho = f.sum(axis=0)
    ux = np.tensordot(cx, f, axes=1) / rho
    uy = np.tensordot(cy, f, axes=1) / rho
    usq = 1.5 * (ux * ux + uy * uy)
    for i in range(9):
        cu = 3.0 * (cx[i] * ux + cy[i] * uy)
        f[i] -= omega * (f[i] - w[i] * rho * (1.0 + cu + 0.5 * cu * cu - usq))
        f[i] = np.roll(f[i], (cy[i], cx[i]), axis=(0, 1))
    return f


def stream_copy_bandwidth(repeats: int, megabytes: int = 512) -> float:
    """Bytes per second of a STREAM-like copy (read + write) of arrays far beyond the caches."""
    a = np.ones(megabytes * 2**20 // 4, dtype=np.float32)
    b = np.empty_like(a)
    seconds = median_seconds(lambda: np.copyto(b, a), max(repeats, 5))
    return 2 * a.nbytes / seconds


def default_grid_channels(count: int) -> list[FlowParameters]:
    """`count` Reynolds numbers from 300 to 1200 on the default configuration's grid (256 x 128)."""
    return [FlowParameters(reynolds=float(re)) for re in np.linspace(300, 1200, count)]


def lattice_mlups(sim: CylinderFlow, steps: int, repeats: int) -> float:
    """Million lattice updates per second of `steps` steps, over every channel of `sim`."""
    sim.run(20)  # warm up: first touch of the pages, OpenMP start-up
    cells = len(sim.channels) * sim.params.nx * sim.params.ny
    return steps * cells / median_seconds(lambda: sim.run(steps), repeats) / 1e6


def bench_flow_mlups(scratch: Path, repeats: int) -> None:
    """MLUPS of karman's CPU backend against the np.roll floor and the memory-bandwidth bound,
    and of a batch of Reynolds numbers in one lattice against one lattice each, one run."""
    threads = len(os.sched_getaffinity(0))
    configure_threads(threads)

    def cpu_backend_mlups(nx: int, ny: int) -> float:
        return lattice_mlups(CylinderFlow(channel_of(nx, ny)), 200 * (FLOW_GRID[0] * FLOW_GRID[1]) // (nx * ny) or 10, repeats)

    nx, ny = FLOW_GRID
    karman = cpu_backend_mlups(nx, ny)
    cx = np.array([0, 1, 0, -1, 0, 1, -1, -1, 1])
    cy = np.array([0, 0, 1, 0, -1, 1, 1, -1, -1])
    w = np.array([4 / 9] + [1 / 9] * 4 + [1 / 36] * 4, dtype=np.float32)
    f = np.ones((9, ny, nx), dtype=np.float32) * w[:, None, None]
    floor_steps = 5
    floor = floor_steps * nx * ny / median_seconds(lambda: [roll_bgk_step(f, 1.8, cx, cy, w) for _ in range(floor_steps)], repeats) / 1e6
    large = cpu_backend_mlups(*LARGE_FLOW_GRID)
    batch_size = 4
    one = lattice_mlups(CylinderFlow(default_grid_channels(1)[0]), 2000, repeats)
    batched = lattice_mlups(CylinderFlow(default_grid_channels(batch_size)), 2000 // batch_size, repeats)

    bandwidth = stream_copy_bandwidth(repeats)
    bound = bandwidth / BYTES_PER_UPDATE / 1e6
    print(f"flow-mlups-floor: {karman / floor:.1f}x karman cpu backend over np.roll D2Q9 BGK "
          f"({karman:.0f} vs {floor:.1f} MLUPS, float32, {nx}x{ny} grid, {threads} threads vs 1)")
    for name, (gx, gy), mlups in (("flow-mlups-bound", FLOW_GRID, karman), ("flow-mlups-bound-large", LARGE_FLOW_GRID, large)):
        print(f"{name}: {mlups / bound:.2f}x karman cpu backend over the memory-bandwidth bound "
              f"({mlups:.0f} vs {bound:.0f} MLUPS on {gx}x{gy} = {bandwidth / 1e9:.1f} GB/s STREAM-like copy / {BYTES_PER_UPDATE} B per update, "
              f"{threads} threads)")
    print(f"flow-mlups-batched: {batched / one:.2f}x {batch_size} Reynolds numbers in one lattice over one lattice each "
          f"({batched:.0f} vs {one:.0f} MLUPS, the default 256x128 grid, cpu backend, {threads} threads)")


GPU_BATCH = 320  # channels of the default 256 x 128 grid: 1.05e7 cells, 377 MB per population array


def bench_flow_gpu_mlups(scratch: Path, repeats: int) -> None:
    """MLUPS of karman's gpu backend against the device's memory-bandwidth bound, for a batch
    of Reynolds numbers in one lattice and for one of them alone, one run."""
    if reason := gpu_unavailable():
        print(f"flow-gpu-mlups: skipped (the gpu backend cannot run here: {reason})")
        return
    import cupy

    device = cupy.cuda.Device()
    name = cupy.cuda.runtime.getDeviceProperties(device.id)["name"].decode()
    a = cupy.ones(2**30 // 4, dtype=cupy.float32)
    b = cupy.empty_like(a)

    def device_copy():
        cupy.copyto(b, a)
        device.synchronize()

    bandwidth = 2 * a.nbytes / median_seconds(device_copy, max(repeats, 5))
    bound = bandwidth / BYTES_PER_UPDATE / 1e6
    steps = 1000

    def gpu_backend_mlups(channels: list[FlowParameters]) -> tuple[float, int]:
        """MLUPS and cells of `channels` in one lattice; its device memory is freed on return."""
        sim = CylinderFlow(channels, backend="gpu")
        sim.run(steps)  # warm up: kernel compilation and first launches
        # Each run() also copies the populations to the host once; the difference between
        # 2n and n steps is the time of n steps alone.
        seconds = median_seconds(lambda: sim.run(2 * steps), repeats) - median_seconds(lambda: sim.run(steps), repeats)
        cells = len(channels) * sim.params.nx * sim.params.ny
        return steps * cells / seconds / 1e6, cells

    for benchmark, channels in (("flow-gpu-mlups", default_grid_channels(GPU_BATCH)), ("flow-gpu-mlups-single", default_grid_channels(1))):
        mlups, cells = gpu_backend_mlups(channels)
        print(f"{benchmark}: {mlups / bound:.2f}x karman gpu backend over the memory-bandwidth bound "
              f"({mlups:.0f} vs {bound:.0f} MLUPS; {len(channels)} Reynolds numbers in one lattice, 256x128 each, "
              f"{cells / 1e6:.2f}e6 cells; {bandwidth / 1e12:.2f} TB/s device copy / {BYTES_PER_UPDATE} B per update; {name})")


def bench_flow_validation(scratch: Path, repeats: int) -> None:
    """Grid convergence of the validation cases: St and c_D at three resolutions, against the literature."""
    from karman.vortex.physics import deviation
    from karman.vortex.validation import CASES, validate

    configure_threads(len(os.sched_getaffinity(0)))
    for name, case in CASES.items():
        base = case.parameters.diameter_cells
        for factor in (0.5, 1.0, 1.5):
            for row in validate([name], diameter_cells=base * factor):
                print(f"flow-validation {name} D={row['diameter_cells']:g} {row['quantity']}: {row['value'] / (0.5 * (row['low'] + row['high'])):.3f}x "
                      f"karman over reference ({row['value']:.4f} vs [{row['low']:.4f}, {row['high']:.4f}], {deviation(row):+.1%}, "
                      f"{'inside' if row['passed'] else 'outside'} the interval; grid {row['grid']}, {row['seconds']:.0f} s; {row['source']})")


# The set-up config/sweep.yaml runs, and the variations the convergence study compares it with.
SWEEP_SETUP = dict(diameter_cells=20, domain_length=46, domain_height=20, cylinder_x=16, mach=0.1, spinup_time=40, sample_time=40,
                   sample_interval=0.2)
SWEEP_VARIANTS = {
    "sweep set-up": {},
    "coarser (D = 16 cells)": {"diameter_cells": 16},
    "finer (D = 25.6 cells)": {"diameter_cells": 25.6},
    "inlet 8 D upstream": {"cylinder_x": 8, "domain_length": 38},
    "lower Mach (0.05)": {"mach": 0.05},
    "the course's domain (3 D inlet, 20 x 10 D)": {"cylinder_x": 3, "domain_length": 20, "domain_height": 10},
}


def bench_flow_sweep_convergence(scratch: Path, repeats: int) -> None:
    """St and mean c_D of config/sweep.yaml's set-up against its variations (resolution, inlet
    distance, Mach number, the course's domain) at the ends and middle of the sweep, against the
    2D references of karman.vortex.physics."""
    from karman.signal import dominant_frequency
    from karman.vortex.physics import drag_reference, strouhal_reference
    from karman.vortex.simulation import run

    configure_threads(len(os.sched_getaffinity(0)))
    for reynolds in (100, 1000, 1200):
        for variant, change in SWEEP_VARIANTS.items():
            params = FlowParameters(reynolds=reynolds, **(SWEEP_SETUP | change))
            started = time.perf_counter()
            sim, samples = run(params, fields=False)
            seconds = time.perf_counter() - started
            strouhal = dominant_frequency(samples.lift, samples.times(params))
            drag = float(samples.drag.mean())
            print(f"flow-sweep-convergence Re={reynolds} {variant}: St {strouhal:.4f} ({strouhal / strouhal_reference(reynolds) - 1:+.1%} "
                  f"against the 2D fit), mean c_D {drag:.3f} ({drag / drag_reference(reynolds) - 1:+.1%}); grid {params.nx}x{params.ny}, "
                  f"{params.spinup_steps + params.n_samples * params.sample_every} steps, {seconds:.0f} s", flush=True)
