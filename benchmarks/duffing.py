"""Benchmarks of the Duffing oscillator: the vectorised RK4 against a per-sample loop, and
the default models' test scores against the goal, with all and with 64 training samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .common import REPO, default_config, median_seconds, run_workflow


def bench_duffing_throughput(scratch: Path, repeats: int) -> None:
    """Samples/s of the vectorised RK4 against a per-sample Python loop over the same RK4, one thread."""
    from karman.duffing.oscillator import draw_parameters, sweep_response, sweep_response_per_sample

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
    from karman.duffing.report import GOAL

    config = default_config() | {"systems": ["duffing"]}
    metrics = {}
    # The notes' small-data run: the MLP trained for 1000 epochs, no early stopping.
    notes_mlp = config["duffing"]["models"]["mlp"] | {"epochs": 1000, "patience": 1000}
    for case, train_samples in (("all", None), ("small", 64)):
        workdir = REPO / "results" / "benchmarks" / "duffing" / case
        config["duffing"]["split"]["train_samples"] = train_samples
        if train_samples:
            config["duffing"]["models"]["mlp_1000_epochs"] = notes_mlp
        run_workflow(workdir, config)
        metrics[case] = {name: json.loads((workdir / f"results/duffing/models/{name}/metrics.json").read_text()) for name in config["duffing"]["models"]}
    for name, model in metrics["all"].items():
        for target in model["targets"]:
            r2 = model["test"][target]["r2"]
            print(f"duffing-r2-{name}-{target}: {r2 / GOAL['r2']:.3f}x test R² over the goal {GOAL['r2']} "
                  f"(R² {r2:.3f}, RMSE {model['test'][target]['rmse']:.3g}; the goal is set for {', '.join(GOAL['targets'])} from images)")
    for name, small in metrics["small"].items():
        full = metrics["all"].get(name) or metrics["all"]["mlp"]  # the 1000-epoch MLP against the default one
        for target in small["targets"]:
            def gap(m):
                return m["test"][target]["rmse"] / m["train"][target]["rmse"]

            print(f"duffing-small-data-{name}-{target}: {gap(small):.2f}x test RMSE over train RMSE with 64 training samples "
                  f"(vs {gap(full):.2f}x for {full['model']} with all {full['train'][target]['n']}; test R² {small['test'][target]['r2']:.3f} "
                  f"vs {full['test'][target]['r2']:.3f})")
