"""karman's performance harness: measurements side by side in one run, printed as ratios.

    uv run python benchmarks/run.py            # every benchmark
    uv run python benchmarks/run.py fields     # only those whose name starts with "fields"

Each benchmark prints one line, `name: <ratio>x <what over what> (<details>)`. Timings
vary between runs on shared machines: compare the ratios of one run, not absolute
numbers across runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr

from karman.fields import build_vorticity_dataset
from karman.flow import CylinderFlow, FlowParameters, gpu_unavailable
from karman.stores import write_store

GRID = (128, 256)  # the default config's lattice (ny, nx)
CROP = {"x": [-0.5, 4.5], "y": [-2.5, 2.5]}
NO_DOWNSAMPLE = {"factor": 1, "method": "stride"}
SAMPLE_CHUNK = 64


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
from karman.fields import write_vorticity
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
    import os

    from karman.flow import configure_threads

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
    for benchmark, channels in (("flow-gpu-mlups", default_grid_channels(GPU_BATCH)), ("flow-gpu-mlups-single", default_grid_channels(1))):
        sim = CylinderFlow(channels, backend="gpu")
        sim.run(steps)  # warm up: kernel compilation and first launches
        # Each run() also copies the populations to the host once; the difference between
        # 2n and n steps is the time of n steps alone.
        seconds = median_seconds(lambda: sim.run(2 * steps), repeats) - median_seconds(lambda: sim.run(steps), repeats)
        cells = len(channels) * sim.params.nx * sim.params.ny
        mlups = steps * cells / seconds / 1e6
        print(f"{benchmark}: {mlups / bound:.2f}x karman gpu backend over the memory-bandwidth bound "
              f"({mlups:.0f} vs {bound:.0f} MLUPS; {len(channels)} Reynolds numbers in one lattice, 256x128 each, "
              f"{cells / 1e6:.2f}e6 cells; {bandwidth / 1e12:.2f} TB/s device copy / {BYTES_PER_UPDATE} B per update; {name})")
        del sim


def bench_flow_validation(scratch: Path, repeats: int) -> None:
    """Grid convergence of the validation cases: St and c_D at three resolutions, against the literature."""
    import os

    from karman.flow import configure_threads
    from karman.validation import CASES, deviation, validate

    configure_threads(len(os.sched_getaffinity(0)))
    for name, case in CASES.items():
        base = case.parameters.diameter_cells
        for factor in (0.5, 1.0, 1.5):
            for row in validate([name], diameter_cells=base * factor):
                print(f"flow-validation {name} D={row['diameter_cells']:g} {row['quantity']}: {row['value'] / (0.5 * (row['low'] + row['high'])):.3f}x "
                      f"karman over reference ({row['value']:.4f} vs [{row['low']:.4f}, {row['high']:.4f}], {deviation(row):+.1%}, "
                      f"{'inside' if row['passed'] else 'outside'} the interval; grid {row['grid']}, {row['seconds']:.0f} s; {row['source']})")


def synthetic_vorticity_store(path: Path, n_samples: int, shape=(64, 64)) -> Path:
    rng = da.random.default_rng(0)
    reynolds = np.repeat([300.0, 600.0, 900.0, 1200.0], n_samples // 4)
    field = xr.Dataset(
        {"vorticity": (("sample", "y", "x"), rng.standard_normal((len(reynolds), *shape), chunks=(SAMPLE_CHUNK, *shape), dtype=np.float32))},
        coords={"sample": np.arange(len(reynolds)), "reynolds": ("sample", reynolds), "time": ("sample", np.zeros(len(reynolds)))},
    )
    write_store(field, path, chunks={"sample": SAMPLE_CHUNK})
    return path


def bench_train_streaming(scratch: Path, repeats: int) -> None:
    """Keras epochs streamed from the Zarr store (karman.train.fit_keras) vs fed from numpy arrays in memory.

    The default data's sizes: 1400 training and 200 validation snapshots of 64 x 64, batch
    32, validation after every epoch; the streamed batches hold the whole split in their
    chunk cache, so the difference is the feeding alone. Time per epoch after the first.
    """
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from karman.loader import SnapshotBatches, keras_fit_data
    from karman.stores import open_store
    from karman.train import PREDICT_BATCH, build_keras_model, configure_keras

    keras = configure_keras("tensorflow", seed=0, threads=2, gpu=False)
    path = synthetic_vorticity_store(scratch / "train-vorticity.zarr", 1600)
    field = open_store(path)["vorticity"]
    targets = field["reynolds"].values.astype(np.float32)
    train, val = np.arange(1400), np.arange(1400, 1600)
    epochs = 2 + 3 * repeats

    class EpochSeconds(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    def seconds_per_epoch(model, **data):
        timer = EpochSeconds()
        model.fit(**data, epochs=epochs, verbose=0, callbacks=[timer])
        return statistics.median(timer.seconds[1:])

    spec = {"type": "mlp", "hidden_units": [10, 10], "activation": "relu", "dropout": 0.0}
    cnn = {**spec, "type": "cnn", "filters": [16, 32], "kernel_size": 3, "dense_units": [64], "strides": 1, "padding": "same", "pooling": True}
    for name, flatten, spec in (("mlp", True, spec), ("cnn", False, cnn)):
        def batches(samples, shuffle, batch_size=32):
            return SnapshotBatches(field, samples, targets[samples], batch_size, shuffle=shuffle, flatten=flatten)

        training = batches(train, shuffle=True)
        shape = training.sample_shape
        model = build_keras_model(keras, spec, shape, 0.0, 1.0, 750.0, 335.0)
        model.compile(optimizer="adam", loss="mse")
        in_memory = np.nan_to_num(field.values).reshape(len(targets), *shape)
        memory_s = seconds_per_epoch(model, x=in_memory[train], y=targets[train], batch_size=32, shuffle=True,
                                     validation_data=(in_memory[val], targets[val]), validation_batch_size=PREDICT_BATCH)
        stream_s = seconds_per_epoch(model, **keras_fit_data(keras, training, batches(val, False, PREDICT_BATCH)))
        print(f"train-streaming-{name}: {memory_s / stream_s:.2f}x samples/s streamed from zarr over in-memory numpy "
              f"({len(train) / stream_s:.0f} vs {len(train) / memory_s:.0f} training samples/s with validation every epoch, "
              f"{name} on 64x64 snapshots, batch 32, 2 threads, CPU)")


def bench_learning_splits(scratch: Path, repeats: int) -> None:
    """Test R² of every default model under each split strategy, on the default data.

    Runs the real workflow (default config.yaml with split.compare set to all three
    strategies) in results/benchmarks/splits/, kept so that later runs reuse its outputs.
    """
    import yaml

    repo = Path(__file__).resolve().parents[1]
    workdir = repo / "results" / "benchmarks" / "splits"
    workdir.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((repo / "config.yaml").read_text())
    strategies = ["random", "blocked", "holdout-re"]
    config["split"]["compare"] = strategies
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(workdir), "--cores", "2", "--quiet", "all"], check=True)
    names = list(config["models"])
    test = {s: {n: json.loads((workdir / f"results/comparison/{s}/models/{n}/metrics.json").read_text())["test"] for n in names} for s in strategies}

    def r2(value):
        return "undefined" if value is None else f"{value:.3f}"

    print("| split | " + " | ".join(f"{n} test R²" for n in names) + " | " + " | ".join(f"{n} test MAE" for n in names) + " |")
    print("|---|" + "---|" * (2 * len(names)))
    for strategy in strategies:
        print(f"| {strategy} | " + " | ".join(r2(test[strategy][n]["r2"]) for n in names) + " | "
              + " | ".join(f"{test[strategy][n]['mae']:.1f}" for n in names) + " |")
    print(f"(report with the same table: {workdir / 'results/report/index.html'})")
    for strategy in strategies[1:]:
        for name in names:
            print(f"learning-{strategy}-{name}: {test[strategy][name]['mae'] / test['random'][name]['mae']:.2f}x test MAE under {strategy} over random "
                  f"({test[strategy][name]['mae']:.1f} vs {test['random'][name]['mae']:.1f}; R² {r2(test[strategy][name]['r2'])} vs {r2(test['random'][name]['r2'])})")


def bench_duffing_throughput(scratch: Path, repeats: int) -> None:
    """Samples/s of the vectorised RK4 against a per-sample Python loop over the same RK4, one thread."""
    from karman.duffing import draw_parameters, sweep_response, sweep_response_per_sample

    sweep = {"frequency": [-4.0, 4.0], "duration": 200.0, "steps": 400}  # the default sweep
    vectorised_samples, loop_samples = 2000, 40
    params = draw_parameters(vectorised_samples, {"omega0": [-1, 1], "gamma": [0.5, 1.5], "epsilon": [0, 0.15]}, 0)
    args = (params["omega0"], params["gamma"], params["epsilon"], 1.0)
    loop_args = tuple(a[:loop_samples] for a in args[:3]) + (1.0,)
    vectorised = median_seconds(lambda: sweep_response(*args, sweep), repeats)
    loop = median_seconds(lambda: sweep_response_per_sample(*loop_args, sweep), repeats)
    same = np.allclose(sweep_response(*loop_args, sweep), sweep_response_per_sample(*loop_args, sweep), rtol=1e-12)
    rate, loop_rate = vectorised_samples / vectorised, loop_samples / loop
    print(f"duffing-throughput: {rate / loop_rate:.0f}x vectorised RK4 over a per-sample Python loop ({rate:.0f} vs {loop_rate:.0f} "
          f"response curves/s, {sweep['steps']} steps, {vectorised_samples} vs {loop_samples} samples, same result: {same})")


def bench_duffing_learning(scratch: Path, repeats: int) -> None:
    """Test R² per parameter of the default Duffing models against the goal, and the
    train-vs-fresh-data gap of the small-data case (64 training samples) against all.

    Runs the real workflow (default config.yaml, systems: [duffing]) in
    results/benchmarks/duffing/{all,small}/, kept so that later runs reuse its outputs.
    """
    import yaml

    from karman.report import DUFFING_GOAL

    repo = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((repo / "config.yaml").read_text()) | {"systems": ["duffing"]}
    metrics = {}
    # The notes' small-data run: the MLP trained for 1000 epochs, no early stopping.
    notes_mlp = config["duffing"]["models"]["mlp"] | {"epochs": 1000, "patience": 1000}
    for case, train_samples in (("all", None), ("small", 64)):
        workdir = repo / "results" / "benchmarks" / "duffing" / case
        workdir.mkdir(parents=True, exist_ok=True)
        config["duffing"]["split"]["train_samples"] = train_samples
        if train_samples:
            config["duffing"]["models"]["mlp_1000_epochs"] = notes_mlp
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(workdir), "--cores", "2", "--quiet", "all"], check=True)
        metrics[case] = {name: json.loads((workdir / f"results/duffing/models/{name}/metrics.json").read_text()) for name in config["duffing"]["models"]}
    for name, model in metrics["all"].items():
        for target in model["targets"]:
            r2 = model["test"][target]["r2"]
            print(f"duffing-r2-{name}-{target}: {r2 / DUFFING_GOAL['r2']:.3f}x test R² over the goal {DUFFING_GOAL['r2']} "
                  f"(R² {r2:.3f}, RMSE {model['test'][target]['rmse']:.3g}; the goal is set for {', '.join(DUFFING_GOAL['targets'])} from images)")
    for name, small in metrics["small"].items():
        full = metrics["all"].get(name) or metrics["all"]["mlp"]  # the 1000-epoch MLP against the default one
        for target in small["targets"]:
            def gap(m):
                return m["test"][target]["rmse"] / m["train"][target]["rmse"]

            print(f"duffing-small-data-{name}-{target}: {gap(small):.2f}x test RMSE over train RMSE with 64 training samples "
                  f"(vs {gap(full):.2f}x for {full['model']} with all {full['train'][target]['n']}; test R² {small['test'][target]['r2']:.3f} "
                  f"vs {full['test'][target]['r2']:.3f})")


BENCHMARKS = {
    "fields-memory": bench_fields_memory,
    "fields-throughput": bench_fields_throughput,
    "flow-mlups": bench_flow_mlups,
    "flow-gpu-mlups": bench_flow_gpu_mlups,
    "flow-validation": bench_flow_validation,
    "train-streaming": bench_train_streaming,
    "learning-splits": bench_learning_splits,
    "duffing-throughput": bench_duffing_throughput,
    "duffing-learning": bench_duffing_learning,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"benchmark name prefixes (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    chosen = [name for name in BENCHMARKS if not args.names or any(name.startswith(prefix) for prefix in args.names)]
    if not chosen:
        parser.error(f"no benchmark matches {args.names}; known: {', '.join(BENCHMARKS)}")
    with tempfile.TemporaryDirectory() as scratch:
        for name in chosen:
            BENCHMARKS[name](Path(scratch), args.repeats)


if __name__ == "__main__":
    main()
