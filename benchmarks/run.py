"""karman's performance harness: measurements side by side in one run, printed as ratios.

    uv run python benchmarks/run.py            # every benchmark
    uv run python benchmarks/run.py fields     # only those whose name starts with "fields"
    uv run python benchmarks/run.py sweep forecast-frontier --scratch ~/karman-bench
                                               # keep the working folders, so a later run reuses them

Each benchmark prints one line, `name: <ratio>x <what over what> (<details>)`. Timings
vary between runs on shared machines: compare the ratios of one run, not absolute
numbers across runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

if not __package__:
    # Run as a script (python benchmarks/run.py): import the package `benchmarks` from the
    # repository root, instead of its modules as top-level names from this folder.
    here = Path(__file__).resolve().parent
    sys.path[:] = [str(here.parent)] + [entry for entry in sys.path if Path(entry or ".").resolve() != here]

from benchmarks import duffing, fields, flow, forecast, train  # noqa: E402

BENCHMARKS = {
    "fields-memory": fields.bench_fields_memory,
    "fields-throughput": fields.bench_fields_throughput,
    "flow-mlups": flow.bench_flow_mlups,
    "flow-gpu-mlups": flow.bench_flow_gpu_mlups,
    "flow-validation": flow.bench_flow_validation,
    "flow-sweep-convergence": flow.bench_flow_sweep_convergence,
    "train-streaming": train.bench_train_streaming,
    "learning-splits": train.bench_learning_splits,
    "learning-reynolds": train.bench_learning_reynolds,
    "sweep": train.bench_sweep,
    "forecast-speed": forecast.bench_forecast_speed,
    "forecast-batch": forecast.bench_forecast_batch,
    "forecast-frontier": forecast.bench_forecast_frontier,
    "forecast-horizon": forecast.bench_forecast_horizon,
    "duffing-throughput": duffing.bench_duffing_throughput,
    "duffing-learning": duffing.bench_duffing_learning,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"benchmark name prefixes (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scratch", type=Path, help="a folder to keep the benchmarks' working folders in (default: a temporary one, removed at the end)")
    args = parser.parse_args()
    chosen = [name for name in BENCHMARKS if not args.names or any(name.startswith(prefix) for prefix in args.names)]
    if not chosen:
        parser.error(f"no benchmark matches {args.names}; known: {', '.join(BENCHMARKS)}")
    if args.scratch:
        args.scratch.mkdir(parents=True, exist_ok=True)
        run(chosen, args.scratch.resolve(), args.repeats)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            run(chosen, Path(scratch), args.repeats)


def run(chosen: list[str], scratch: Path, repeats: int) -> None:
    for name in chosen:
        BENCHMARKS[name](scratch, repeats)


if __name__ == "__main__":
    main()
