"""The forecasting goals (docs/forecasting.md), checked on the metrics.json of every forecaster
of a run: does the best Keras forecaster hold the unseen-Re rollouts long enough, with the
right shedding frequency, better than persistence and than DMD with the same history?

Each goal is measured on every rollout of the unseen-Re test and met only if it holds on all
of them. The speed goal (≥ 100× the solver) is measured by `benchmarks/run.py forecast-speed`,
not here: a run's metrics hold the forecasters' frames per second, not the solver's.
"""

from __future__ import annotations

from karman.forecast.windows import UNSEEN

KERAS_TYPES = ("mlp", "gru", "cnn", "convlstm")
VALID_PERIODS = 2.0  # shedding periods at correlation ≥ 0.9
STROUHAL_TOLERANCE = 0.02  # relative deviation of the rollout's St from the truth's
LEAD = "10"  # the lead at which VRMSE is compared with persistence's


def rollouts_of(result: dict, test: str = UNSEEN) -> dict[float, dict]:
    """The scores of each rollout of `test` in one forecaster's metrics.json, by group (Re)."""
    grouping = result["grouping"]
    return {rollout[grouping]: rollout for rollout in result["rollouts"] if rollout["test"] == test}


def valid_time(rollout: dict, unit: str) -> float | None:
    """The valid time at correlation 0.9 in `unit` (steps, time in D/U, or periods: None without the truth's St)."""
    return rollout["valid_time"]["0.9"][unit]


def strouhal_deviation(rollout: dict) -> float | None:
    """|St of the rollout / St of the truth − 1|, or None where either has none (a rollout shorter than a period)."""
    strouhal = rollout["strouhal"]
    return abs(strouhal["rollout"] / strouhal["truth"] - 1) if strouhal["rollout"] and strouhal["truth"] else None


def same_history_dmd(results: dict[str, dict]) -> str | None:
    """The `dmd` forecaster fitted on the models' history (no window of its own, or the history's)."""
    for name, result in sorted(results.items()):
        spec, history = result["spec"], result["task"]["history"]
        if spec["type"] == "dmd" and spec.get("window", history) == history and "periods" not in spec:
            return name
    return None


def best_keras(results: dict[str, dict]) -> str | None:
    """The Keras forecaster whose shortest unseen-Re valid time (D/U) is longest (the mean breaks a tie)."""
    ranking = {}
    for name, result in results.items():
        if result["spec"]["type"] in KERAS_TYPES and (rollouts := rollouts_of(result)):
            times = [valid_time(rollout, "time") for rollout in rollouts.values()]
            ranking[name] = (min(times), sum(times) / len(times))
    return max(ranking, key=ranking.get) if ranking else None


def goals(results: dict[str, dict]) -> dict | None:
    """The goals for the best Keras forecaster of `results` (name → metrics.json), or None
    without a Keras forecaster that has unseen-Re rollouts. Each goal: what it asks, what was
    measured (worst over the unseen Re) and whether it is met (None where it cannot be told)."""
    best = best_keras(results)
    if best is None:
        return None
    rollouts = rollouts_of(results[best])
    periods = [valid_time(rollout, "periods") for rollout in rollouts.values()]
    shortest = None if None in periods else min(periods)
    deviations = [strouhal_deviation(rollout) for rollout in rollouts.values()]
    largest = None if None in deviations else max(deviations)
    rows = [
        {"goal": f"correlation with the truth ≥ 0.9 for at least {VALID_PERIODS:g} shedding periods",
         "measured": "no St to count periods by (a rollout shorter than a period)" if shortest is None else f"{shortest:.2f} periods at the shortest",
         "met": None if shortest is None else shortest >= VALID_PERIODS},
        {"goal": f"rollout Strouhal number within {100 * STROUHAL_TOLERANCE:g} % of the truth's",
         "measured": "no St (a rollout shorter than a period)" if largest is None else f"{100 * largest:.1f} % at the largest",
         "met": None if largest is None else largest <= STROUHAL_TOLERANCE},
    ]
    if persistence := next((rollouts_of(r) for _, r in sorted(results.items()) if r["spec"]["type"] == "persistence"), None):
        ratios = [rollout["vrmse_at_lead"][LEAD] / persistence[group]["vrmse_at_lead"][LEAD]
                  for group, rollout in rollouts.items() if LEAD in rollout["vrmse_at_lead"] and group in persistence]
        rows.append({"goal": f"VRMSE at lead {LEAD} below persistence's",
                     "measured": f"{max(ratios):.2f} × persistence's at the largest" if ratios else "no lead 10 (a shorter horizon)",
                     "met": (max(ratios) < 1) if ratios else None})
    if dmd := same_history_dmd(results):
        baseline = rollouts_of(results[dmd])
        margins = [valid_time(rollout, "time") - valid_time(baseline[group], "time") for group, rollout in rollouts.items() if group in baseline]
        rows.append({"goal": f"a longer valid time than DMD with the same history ({dmd})",
                     "measured": f"{min(margins):+.1f} D/U at the smallest margin", "met": min(margins) > 0})
    return {"forecaster": best, "unseen": sorted(rollouts), "goals": rows}
