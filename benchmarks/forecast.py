"""Benchmark of the `forecast` stage: how much faster than the solver each forecaster rolls
the wake forward, at equal physical time."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from karman.forecast.goals import KERAS_TYPES
from karman.stores import open_store, write_store

from .common import REPO, default_config, median_seconds, run_workflow, sweep_config
from .flow import lattice_mlups

TRAINING_GROUPS = (300.0, 600.0, 900.0)
FRAMES_PER_GROUP = 120


def random_frames_store(path: Path, shape: tuple[int, int], step_time: float) -> xr.DataArray:
    """Random vorticity frames of `shape` at three Reynolds numbers, as the fields stage lays
    them out: a rollout's speed depends on a forecaster's size, not on what it learnt, and
    random frames keep every POD mode (a smooth field would leave fewer)."""
    rng = np.random.default_rng(0)
    count = len(TRAINING_GROUPS) * FRAMES_PER_GROUP
    dataset = xr.Dataset(
        {"vorticity": (("sample", "y", "x"), rng.standard_normal((count, *shape), dtype=np.float32))},
        coords={"sample": np.arange(count), "reynolds": ("sample", np.repeat(TRAINING_GROUPS, FRAMES_PER_GROUP)),
                "time": ("sample", np.tile(np.arange(FRAMES_PER_GROUP) * step_time, len(TRAINING_GROUPS))),
                "y": np.arange(shape[0], dtype=float), "x": np.arange(shape[1], dtype=float)},
    )
    write_store(dataset, path, chunks={"sample": 64})
    return open_store(path)["vorticity"]


def fitted_forecaster(spec: dict, task, field: xr.DataArray, threads: int):
    """The forecaster `spec` (its config entry) fitted for one epoch on `field`."""
    from karman.forecast.forecasters import build_forecaster, trainable

    quick = {**spec, **({"epochs": 1, "patience": 1} if "epochs" in spec else {})}
    forecaster = build_forecaster(quick, task)
    groups = field["reynolds"].values
    if trainable(forecaster):
        train_frames = {group: np.flatnonzero(groups == group) for group in TRAINING_GROUPS}
        forecaster.fit(field, groups, train_frames, task, seed=0, threads=threads, backend="tensorflow", gpu=False)
    return forecaster


def rollout_frames_per_second(spec: dict, task, field: xr.DataArray, threads: int, repeats: int) -> float:
    """Forecast frames per second of the forecaster `spec` (its config entry), fitted for one
    epoch on `field`, over a rollout of the task's horizon from a history of random frames."""
    forecaster = fitted_forecaster(spec, task, field, threads)
    history = field.isel(sample=slice(0, forecaster.history or task.history)).values
    forecaster.rollout(history, 450.0, task.horizon)  # warm up: graph tracing, first allocation
    return task.horizon / median_seconds(lambda: forecaster.rollout(history, 450.0, task.horizon), repeats)


def bench_forecast_batch(scratch: Path, repeats: int) -> None:
    """The forecast stage's rollouts of config/sweep.yaml (one per Reynolds number: the unseen
    ones and the future of the others) in one batch against one by one, side by side, for
    every forecaster of the sweep, fitted for one epoch on random frames of its window."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from karman.forecast.windows import ForecastTask
    from karman.settings import check_config
    from karman.vortex.fields import window_shape
    from karman.vortex.sweep import reynolds_values

    threads = len(os.sched_getaffinity(0))
    config = check_config(sweep_config(), REPO / "schemas/config.schema.yaml")
    forecast = config["forecast"]
    task = ForecastTask(**{key: forecast[key] for key in ("history", "stride", "horizon", "future_fraction")})
    groups = reynolds_values(config["reynolds"])
    shape = window_shape(config["flow"], config["fields"])
    field = random_frames_store(scratch / f"forecast-batch-{shape[0]}x{shape[1]}.zarr", shape, 0.2)
    for name, spec in forecast["models"].items():
        forecaster = fitted_forecaster(spec, task, field, threads)
        steps = forecaster.history or task.history
        histories = np.stack([field.isel(sample=slice(k, k + steps)).values for k in range(len(groups))])
        forecaster.rollout_batch(histories, groups, task.horizon)  # warm up: tracing and compiling for both batch sizes
        forecaster.rollout(histories[0], groups[0], task.horizon)
        one_by_one = median_seconds(lambda: [forecaster.rollout(h, g, task.horizon) for h, g in zip(histories, groups)], repeats)
        batched = median_seconds(lambda: forecaster.rollout_batch(histories, groups, task.horizon), repeats)
        print(f"forecast-batch-{name} (config/sweep.yaml): {one_by_one / batched:.1f}x faster in one batch "
              f"({len(groups)} rollouts of {task.horizon} steps on {shape[1]}x{shape[0]}: {batched:.2f} s against "
              f"{one_by_one:.2f} s one by one; {threads} threads)")
        if spec["type"] in KERAS_TYPES:  # the whole rollout compiled, against one Keras call per step, both in one batch
            forecaster.rollout_batch(histories, groups, task.horizon, compiled=False)
            per_step = median_seconds(lambda: forecaster.rollout_batch(histories, groups, task.horizon, compiled=False), repeats)
            print(f"forecast-compiled-{name} (config/sweep.yaml): {per_step / batched:.1f}x faster compiled "
                  f"({batched:.3f} s for the batch as one XLA program against {per_step:.3f} s with one Keras call per step)")


def bench_forecast_speed(scratch: Path, repeats: int) -> None:
    """Rollout frames per second of every forecaster of config.yaml and of config/sweep.yaml
    against the lattice-Boltzmann solver producing the same physical time for the same Re, on
    the same cores, in one run.

    The solver's frames per second count its lattice steps only (`forecast.stride` x
    snapshot interval of D/U per frame, at the config's grid and Reynolds number), not the
    vorticity, so they favour the solver. The forecasters run on the vorticity window of the
    config (`fields`), fitted for one epoch on random frames of that size: a rollout costs
    the same whatever the weights. The sweep's forecasters that config.yaml lacks (`gru`,
    `mlp`) are measured on the default grid too, with the default's task (its history) and
    `unroll: 1`.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from karman.forecast.windows import ForecastTask
    from karman.settings import check_config
    from karman.vortex.fields import window_shape
    from karman.vortex.lattice import CylinderFlow
    from karman.vortex.parameters import flow_parameters
    from karman.vortex.simulation import configure_threads
    from karman.vortex.sweep import reynolds_values

    threads = len(os.sched_getaffinity(0))
    configure_threads(threads)
    default, sweep = (check_config(config, REPO / "schemas/config.schema.yaml") for config in (default_config(), sweep_config()))
    for label, config in (("config.yaml", default), ("config/sweep.yaml", sweep)):
        forecast = config["forecast"]
        # (trained on one step from the task's history: the default's short random series hold no
        # window of 16 steps after 12, and the rollout costs the same)
        models = {**{name: {key: value for key, value in spec.items() if key != "history"} | ({"unroll": 1} if "unroll" in spec else {})
                     for name, spec in sweep["forecast"]["models"].items() if name not in forecast["models"]}, **forecast["models"]}
        task = ForecastTask(**{key: forecast[key] for key in ("history", "stride", "horizon", "future_fraction")})
        values = reynolds_values(config["reynolds"])
        reynolds = values[len(values) // 2]
        params = flow_parameters(reynolds, config["flow"])
        steps_per_frame = params.sample_every * task.stride
        step_time = steps_per_frame / params.steps_per_time_unit
        mlups = lattice_mlups(CylinderFlow(params), steps=max(20, steps_per_frame), repeats=repeats)
        solver_fps = mlups * 1e6 / (params.nx * params.ny) / steps_per_frame
        shape = window_shape(config["flow"], config["fields"])
        field = random_frames_store(scratch / f"forecast-speed-{shape[0]}x{shape[1]}.zarr", shape, step_time)
        for name, spec in models.items():
            fps = rollout_frames_per_second(spec, task, field, threads, repeats)
            print(f"forecast-speed-{name} ({label}): {fps / solver_fps:.0f}x {spec['type']} rollout over the solver at equal "
                  f"physical time ({fps:.0f} vs {solver_fps:.2f} frames/s of {step_time:.2f} D/U; solver: {params.nx}x{params.ny} "
                  f"lattice at Re {reynolds:g}, {steps_per_frame} steps per frame; forecaster: {shape[1]}x{shape[0]} vorticity, "
                  f"horizon {task.horizon}; solver {mlups:.0f} MLUPS; {threads} threads)")


def forecast_summary(workdir: Path) -> list[str]:
    """A Markdown table of the forecasters of a finished run in `workdir`, against the goals of
    docs/forecasting.md: per forecaster and test, the shortest and the mean valid time at
    correlation 0.9 (shedding periods) over the Reynolds numbers, the largest deviation of the
    rollout's Strouhal number from the truth's, and the mean VRMSE at lead 10 over persistence's."""
    import json

    from karman.forecast.goals import LEAD, rollouts_of, strouhal_deviation, valid_time

    results = {path.parent.name: json.loads(path.read_text()) for path in sorted((workdir / "results/forecast").glob("*/metrics.json"))}

    def mean_vrmse_10(rollouts):
        return float(np.mean([r["vrmse_at_lead"].get(LEAD, np.nan) for r in rollouts]))

    lines = ["| forecaster | test | valid time, shortest (periods) | valid time, mean (periods) | largest St deviation | "
             "VRMSE lead 10 / persistence's | training (s) |", "|---|---|---|---|---|---|---|"]
    for test in ("unseen-re", "future"):
        persistence = list(rollouts_of(results["persistence"], test).values()) if "persistence" in results else []
        for name, result in results.items():
            rollouts = list(rollouts_of(result, test).values())
            periods = [valid_time(r, "periods") for r in rollouts]
            deviations = [d for d in map(strouhal_deviation, rollouts) if d is not None]
            largest = f"{100 * max(deviations):.1f} % ({len(deviations)} of {len(rollouts)} with a St)" if deviations else "—"
            ratio = mean_vrmse_10(rollouts) / mean_vrmse_10(persistence) if persistence else float("nan")
            timings = workdir / "results/forecast" / name / "timings.json"
            training = json.loads(timings.read_text())["fit_seconds"] if timings.is_file() else None
            lines.append(f"| {name} | {test} | {min(periods):.2f} | {np.mean(periods):.2f} | {largest} | {ratio:.2f} | "
                         f"{'—' if training is None else f'{training:.0f}'} |")
    return lines


FRONTIER_CELLS = (10, 14, 20)  # cells per D of the solver runs; 20 is config/sweep.yaml's own grid
FRONTIER_LEAD = 10  # the lead whose VRMSE the figure plots


def bench_forecast_frontier(scratch: Path, repeats: int) -> None:
    """Each forecaster of config/sweep.yaml against the solver's own speed–accuracy curve, at
    one unseen Re, in one run on this machine: the solver at FRONTIER_CELLS cells per D (same
    domain and physical time), its vorticity resampled to the forecast window and phase-aligned
    to the reference (`karman.forecast.frontier`), scored with the forecasters' VRMSE and valid
    time; the forecasters from a finished sweep run in scratch/sweep (`sweep` makes it; this
    runs the workflow up to the forecasts if it is not there). Prints a table and writes
    docs/images/forecast-frontier.png."""
    import json
    import time

    from karman.forecast.frontier import common_cells, forecast_scores, phase_aligned_forecast
    from karman.settings import check_config
    from karman.stores import open_store
    from karman.vortex.fields import vorticity_samples
    from karman.vortex.parameters import flow_parameters
    from karman.vortex.simulation import configure_threads, simulate

    config = check_config(sweep_config(), REPO / "schemas/config.schema.yaml")
    workdir = scratch / "sweep"
    forecasters = sorted(config["forecast"]["models"])
    if not all((workdir / f"results/forecast/{name}/timings.json").is_file() for name in forecasters):
        run_workflow(workdir, config, tuple(f"results/forecast/{name}/timings.json" for name in forecasters))
    store = open_store(workdir / "results/fields/vorticity.zarr")
    first = open_store(workdir / f"results/forecast/{forecasters[0]}/rollout.zarr")
    unseen = [float(r) for r, test in zip(first["reynolds"].values, first["test"].values) if test == "unseen-re"]
    reynolds = unseen[len(unseen) // 2]
    own = np.flatnonzero(store["reynolds"].values == reynolds)
    own = own[np.argsort(store["time"].values[own])]
    reference, times = store["vorticity"].values[own], store["time"].values[own]
    flows = json.loads((workdir / "results/flow/summary.json").read_text())["flows"]
    strouhal = next(flow["strouhal"]["measured"] for flow in flows if flow["reynolds"] == reynolds)
    rows = []
    for name in forecasters:
        rollout = open_store(workdir / f"results/forecast/{name}/rollout.zarr").sel(reynolds=reynolds)
        truth = reference[np.searchsorted(times, rollout["time"].values)]
        timings = json.loads((workdir / f"results/forecast/{name}/timings.json").read_text())
        step_time = float(rollout.attrs["dt"])
        seconds_per_time = timings["rollout_seconds"] / (timings["frames_forecast"] * step_time)
        rows.append({"name": name, "kind": "forecaster", "seconds_per_time": seconds_per_time,
                     **forecast_scores(truth, rollout["vorticity"].values, step_time, FRONTIER_LEAD)})
    # The solver: the horizon of the unseen-Re test of the cnn (4 history frames), from the frame before its first target.
    horizon = config["forecast"]["horizon"]
    stride = config["forecast"]["stride"]
    start = config["forecast"]["history"] * stride - stride
    truth = reference[start + stride::stride][:horizon]
    step_time = float(times[stride] - times[0])
    period_steps = int(np.ceil(1 / (strouhal * step_time)))
    configure_threads(len(os.sched_getaffinity(0)))
    for cells in FRONTIER_CELLS:
        flow = {**config["flow"], "diameter_cells": cells}
        params = flow_parameters(reynolds, flow)
        began = time.perf_counter()
        run = simulate(params)
        seconds = time.perf_counter() - began
        omega = vorticity_samples(run, config["fields"]["crop"], {"factor": 1, "method": "stride"}, config["fields"]["operator"])
        # onto the reference's cells and times (a grid's snapshot interval is the nearest whole number of its steps)
        # (extrapolated by at most a cell or a snapshot interval at the edges)
        omega = omega.swap_dims(sample="time").interp(time=times, x=store["x"].values, y=store["y"].values,
                                                      kwargs={"fill_value": "extrapolate"}).values
        candidate = omega[start::stride]
        forecast, shift = phase_aligned_forecast(common_cells(reference[start], candidate), candidate, horizon, period_steps)
        simulated = flow["spinup_time"] + flow["sample_time"]
        rows.append({"name": f"solver {cells} cells/D ({params.nx}x{params.ny})", "kind": "solver", "seconds_per_time": seconds / simulated,
                     "shift": shift, **forecast_scores(common_cells(truth, forecast), forecast, step_time, FRONTIER_LEAD)})
    print(f"forecast-frontier (config/sweep.yaml, unseen Re {reynolds:g}, St {strouhal:.3f}; horizon {horizon} steps of {step_time:.2f} D/U; "
          f"{len(os.sched_getaffinity(0))} threads):")
    print("| run | wall s per D/U | VRMSE at lead 10 | valid time (D/U, correlation ≥ 0.9) |\n|---|---|---|---|")
    for row in sorted(rows, key=lambda row: row["seconds_per_time"]):
        print(f"| {row['name']} | {row['seconds_per_time']:.3g} | {row['vrmse_at_lead']:.3f} | {row['valid_time']:.1f} |")
    frontier_figure(rows, REPO / "docs/images/forecast-frontier.png", f"unseen Re {reynolds:g}, config/sweep.yaml")


def frontier_figure(rows: list[dict], path: Path, title: str) -> None:
    """VRMSE at FRONTIER_LEAD against wall time per D/U: the solver's curve and each forecaster."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    solver = sorted((row for row in rows if row["kind"] == "solver"), key=lambda row: row["seconds_per_time"])
    axes.plot([row["seconds_per_time"] for row in solver], [max(row["vrmse_at_lead"], 1e-4) for row in solver], "k-o", label="solver, coarser grids")
    for row in solver:
        axes.annotate(row["name"].split(" (")[0].removeprefix("solver "), (row["seconds_per_time"], max(row["vrmse_at_lead"], 1e-4)),
                      textcoords="offset points", xytext=(4, 4), fontsize=8)
    for row in rows:
        if row["kind"] == "forecaster":
            axes.plot(row["seconds_per_time"], max(row["vrmse_at_lead"], 1e-4), "s", label=row["name"])
    axes.set(xscale="log", yscale="log", xlabel="wall time per simulated D/U (s, 2 cores)", ylabel=f"VRMSE at lead {FRONTIER_LEAD}",
             title=f"Speed against accuracy: {title}")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


LONG_HISTORY = 32  # the frames dmd_long reads; every long rollout starts after them


def bench_forecast_horizon(scratch: Path, repeats: int) -> None:
    """How long config/sweep.yaml's `gru` and `dmd_long` stay valid at each unseen Re when they
    roll out over the whole stored series after the 32 frames that dmd_long reads (343 steps
    of the 375 frames, 13 to 16 shedding periods), beyond the workflow's horizon. The gru
    is fitted as the forecast stage fits it, on the sweep run's store in scratch/sweep (`sweep`
    makes it; this runs the workflow up to dmd_long's rollouts if they are not there); both start at the
    same frame, the gru from the last `history` frames, dmd_long from its 32. Prints, per Re,
    the valid time (correlation ≥ 0.9) in periods, the St of the rollout and the drift scores."""
    from karman.forecast import metrics
    from karman.forecast.forecasters import build_forecaster
    from karman.forecast.windows import ForecastTask, group_frames, plan
    from karman.settings import check_config

    config = check_config(sweep_config(), REPO / "schemas/config.schema.yaml")
    workdir = scratch / "sweep"
    if not (workdir / "results/forecast/dmd_long/rollout.zarr").is_dir():
        run_workflow(workdir, config, ("results/forecast/dmd_long/rollout.zarr",))
    store = open_store(workdir / "results/fields/vorticity.zarr")
    tested = open_store(workdir / "results/forecast/dmd_long/rollout.zarr")  # which Re the forecast stage held out
    held = [float(r) for r, test in zip(tested["reynolds"].values, tested["test"].values) if test == "unseen-re"]
    settings = config["forecast"]
    task = ForecastTask(**{key: settings[key] for key in ("history", "stride", "horizon", "future_fraction")})
    frames = group_frames(store["reynolds"].values, store["time"].values)
    _, train_frames = plan(frames, held, task)
    spec = settings["models"]["gru"]
    gru = build_forecaster(spec, task)
    gru.fit(store["vorticity"], store["reynolds"].values, train_frames, task, seed=spec.get("seed", 0),
            threads=len(os.sched_getaffinity(0)), backend="tensorflow", gpu=False)
    dmd = build_forecaster(settings["models"]["dmd_long"], task)
    probe = metrics.nearest_cell(store["y"].values, store["x"].values, (settings["probe"]["y"], settings["probe"]["x"]))
    print(f"forecast-horizon (config/sweep.yaml, unseen Re, the whole series after frame {LONG_HISTORY}):")
    print("| Re | steps | forecaster | valid time (periods) | St error | St error, last half | amplitude ratio, last period | "
          "enstrophy ratio, last period |\n|---|---|---|---|---|---|---|---|")
    for reynolds in held:
        own = store.isel(sample=frames[reynolds])  # this Re's frames only, in time order
        series, times = own["vorticity"].values, own["time"].values
        truth, steps = series[LONG_HISTORY:], len(series) - LONG_HISTORY
        strouhal = metrics.rollout_strouhal(truth, times[LONG_HISTORY:], probe)
        for name, forecaster, history in (("gru", gru, series[LONG_HISTORY - (gru.history or task.history):LONG_HISTORY]),
                                          ("dmd_long", dmd, series[:LONG_HISTORY])):
            rollout = forecaster.rollout(history, reynolds, steps)
            valid = metrics.valid_time_units(metrics.valid_time(metrics.correlation(truth, rollout), 0.9), float(times[1] - times[0]), strouhal)
            strouhal_rollout = metrics.rollout_strouhal(rollout, times[LONG_HISTORY:], probe)
            drift = metrics.drift(truth, rollout, times[LONG_HISTORY:], probe, strouhal)
            half = drift["strouhal_last_half"]
            print(f"| {reynolds:g} | {steps} | {name} | {valid['periods']:.2f} | {deviation(strouhal_rollout, strouhal)} | "
                  f"{deviation(half['rollout'], half['truth'])} | {drift['amplitude_ratio_last_period'] or float('nan'):.2f} | "
                  f"{drift['enstrophy_ratio_last_period'] or float('nan'):.2f} |")


def deviation(value: float | None, reference: float | None) -> str:
    """`value`'s relative deviation from `reference` in per cent, or — where either is missing (no St found)."""
    return "—" if value is None or reference is None else f"{100 * (value / reference - 1):+.1f} %"
