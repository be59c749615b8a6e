"""Benchmarks of the `split` and `train` stages: Keras epochs streamed from Zarr against
in-memory arrays, the test scores of the default models under each split strategy, and
the CNN's interpolation error against the number of Reynolds numbers it trains on."""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr

from karman.stores import write_store

from .common import REPO, SAMPLE_CHUNK, default_config, run_workflow, sweep_config
from .forecast import forecast_summary


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
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from karman.keras_fit import configure_keras
    from karman.loader import SnapshotBatches, keras_fit_data
    from karman.stores import open_store
    from karman.train import PREDICT_BATCH, build_keras_model

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
    workdir = REPO / "results" / "benchmarks" / "splits"
    config = default_config()
    strategies = ["random", "blocked", "holdout-re"]
    config["split"]["compare"] = strategies
    run_workflow(workdir, config)
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


def bench_learning_reynolds(scratch: Path, repeats: int) -> None:
    """Test MAE of config/sweep.yaml's CNN on the interior Reynolds numbers the sweep holds out,
    against how many of the other Reynolds numbers it trains on (evenly spread, both ends
    included): how many does it need to interpolate within a given error?

    Runs the sweep up to its vorticity store in $KARMAN_SWEEP_WORKDIR (default
    results/benchmarks/sweep/, kept so that later runs reuse it; about 10 minutes the first
    time on 2 cores; a finished sweep's working directory serves as it is), then trains the
    CNN once per count with the sweep's split settings (train and val in time blocks).
    """
    import pandas as pd

    from karman.split import assign, held_out_groups
    from karman.stores import open_store
    from karman.train import train_model

    config = sweep_config()
    workdir = Path(os.environ.get("KARMAN_SWEEP_WORKDIR", REPO / "results/benchmarks/sweep"))
    # The data only, reused as they are where they exist (whatever library version made them).
    run_workflow(workdir, config, ("results/fields/vorticity.zarr",), "--rerun-triggers", "mtime")
    store = workdir / "results/fields/vorticity.zarr"
    coords = open_store(store).coords
    samples = pd.DataFrame({"sample": coords["sample"].values, "reynolds": coords["reynolds"].values, "time": coords["time"].values})
    values = sorted(samples["reynolds"].unique())
    test = held_out_groups(values, config["split"])
    kept = [value for value in values if value not in test]
    settings = {key: config["split"][key] for key in ("fractions", "seed", "blocks", "gap", "val")}
    settings |= {"strategy": "holdout-re", "holdout_reynolds": test}
    spec = config["models"]["cnn"]
    for count in (2, 3, 4, 6, 8, len(kept)):
        trained = [kept[i] for i in np.unique(np.linspace(0, len(kept) - 1, count).round().astype(int))]
        used = samples["reynolds"].isin([*trained, *test])
        labels = pd.Series("unused", index=samples.index, dtype=object)
        labels[used] = assign(samples[used], settings, "reynolds")["split"].to_numpy()
        assignment = samples.assign(split=labels.to_numpy())
        assignment.to_csv(scratch / f"assignment-{count}.csv", index=False)
        started = time.perf_counter()
        metrics = train_model(store, scratch / f"assignment-{count}.csv", scratch / f"cnn-{count}", spec=spec, threads=2)
        per_re = ", ".join(f"{re}: {m['mae']:.0f}" for re, m in metrics["test"]["per_reynolds"].items())
        print(f"learning-reynolds {count} training Re: CNN test MAE {metrics['test']['mae']:.1f} (R² {metrics['test']['r2']:.3f}) on the "
              f"held-out Re {', '.join(f'{re:g}' for re in test)} (per Re: {per_re}); trained on {', '.join(f'{re:g}' for re in trained)}; "
              f"{time.perf_counter() - started:.0f} s", flush=True)


def bench_sweep(scratch: Path, repeats: int) -> None:
    """config/sweep.yaml end to end from an empty working directory (a scratch one), on 2 cores:
    its wall time, how many flows lie within the physics bands, the models' test scores on
    the held-out Reynolds numbers beside the random split's, and the forecasters' table."""
    config = sweep_config()
    workdir = scratch / "sweep"
    started = time.perf_counter()
    run_workflow(workdir, config)
    minutes = (time.perf_counter() - started) / 60
    flows = json.loads((workdir / "results/flow/summary.json").read_text())["flows"]
    inside = sum(flow["strouhal"]["within"] and flow["drag_coefficient"]["within"] for flow in flows)
    print(f"sweep: {minutes:.1f} min end to end on 2 cores for {len(flows)} Reynolds numbers; {inside} of {len(flows)} flows within "
          "the St (±5 %) and mean c_D (±10 %) bands")
    for name in config["models"]:
        held = json.loads((workdir / f"results/models/{name}/metrics.json").read_text())["test"]
        random = json.loads((workdir / f"results/comparison/random/models/{name}/metrics.json").read_text())["test"]
        print(f"sweep {name}: {held['mae'] / random['mae']:.2f}x test MAE on held-out Re over the random split "
              f"({held['mae']:.1f} vs {random['mae']:.1f}; R² {held['r2']:.4f} vs {random['r2']:.4f})")
    print("sweep forecasters (valid time at correlation 0.9, St and VRMSE, per test, over its Reynolds numbers):")
    print("\n".join(forecast_summary(workdir)))
