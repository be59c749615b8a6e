"""The forecasting goals (docs/forecasting.md), checked on the metrics.json of every forecaster
of a run: does the best Keras forecaster hold the unseen-Re rollouts long enough, with the
right shedding frequency, without blowing up, better than persistence, than DMD with the same
history and at least as long as DMD over a longer window?

Each goal is measured on every rollout of the unseen-Re test and met only if it holds on all
of them. A goal that the rollouts are too short to tell (a horizon under `VALID_PERIODS` or
`STABLE_PERIODS` shedding periods) is neither met nor missed, and says so. The speed goal
(≥ 100× the solver) is measured by `benchmarks/run.py forecast-speed`, not here: a run's
metrics hold the forecasters' frames per second, not the solver's.
"""

from __future__ import annotations

from karman.forecast.windows import UNSEEN

KERAS_TYPES = ("mlp", "gru", "cnn", "convlstm")
VALID_PERIODS = 5.0  # shedding periods at correlation ≥ 0.9
STABLE_PERIODS = 10.0  # shedding periods a rollout runs without blowing up
BLOW_UP = 2.0  # an amplitude ratio (rollout over truth, last period) above this is a blow-up
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


def longer_window_dmds(results: dict[str, dict]) -> list[str]:
    """The `dmd` forecasters fitted on a window longer than the models' history (`dmd_long`)."""
    return [name for name, result in sorted(results.items())
            if result["spec"]["type"] == "dmd" and result["spec"].get("window", result["task"]["history"]) > result["task"]["history"]]


def valid_time_goal(rollouts, shortest: float | None) -> dict:
    """Correlation ≥ 0.9 for VALID_PERIODS at every unseen Re; not told where every rollout is
    valid to its end but the horizon is shorter than that."""
    goal = f"correlation with the truth ≥ 0.9 for at least {VALID_PERIODS:g} shedding periods"
    if shortest is None:
        return {"goal": goal, "measured": "no St to count periods by (a rollout shorter than a period)", "met": None}
    if shortest < VALID_PERIODS and all(rollout["valid_time"]["0.9"]["steps"] == horizon_steps(rollout) for rollout in rollouts):
        return {"goal": goal, "measured": f"valid to the end of every rollout, {shortest:.2f} periods at the shortest: "
                f"the horizon is too short to tell", "met": None}
    return {"goal": goal, "measured": f"{shortest:.2f} periods at the shortest", "met": shortest >= VALID_PERIODS}


def horizon_steps(rollout: dict) -> int:
    """The rollout's horizon in steps (its last lead in `vrmse_at_lead`)."""
    return max(int(lead) for lead in rollout["vrmse_at_lead"])


def stability_goal(rollouts) -> dict:
    """No blow-up over STABLE_PERIODS: the rms vorticity at the probe over the last period at
    most BLOW_UP times the truth's, on rollouts that long; not told on shorter ones."""
    goal = f"no blow-up over {STABLE_PERIODS:g} shedding periods (amplitude in the last period ≤ {BLOW_UP:g} × the truth's)"
    drifts = [rollout["drift"] for rollout in rollouts]
    lengths = [drift["periods_in_rollout"] for drift in drifts]
    if None in lengths or min(lengths) < STABLE_PERIODS:
        held = "no St" if None in lengths else f"{min(lengths):.1f} periods at the shortest"
        return {"goal": goal, "measured": f"the rollouts hold {held}: too short to tell", "met": None}
    ratios = [drift["amplitude_ratio_last_period"] for drift in drifts]
    return {"goal": goal, "measured": f"{max(ratios):.2f} × the truth's at the largest", "met": max(ratios) <= BLOW_UP}


def valid_time_margins(rollouts: dict[float, dict], baseline: dict[float, dict]) -> list[float]:
    """Per group that both have, how much longer (D/U) `rollouts` stay valid than `baseline`."""
    return [valid_time(rollout, "time") - valid_time(baseline[group], "time") for group, rollout in rollouts.items() if group in baseline]


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
    rows = [valid_time_goal(rollouts.values(), shortest), {
        "goal": f"rollout Strouhal number within {100 * STROUHAL_TOLERANCE:g} % of the truth's",
        "measured": "no St (a rollout shorter than a period)" if largest is None else f"{100 * largest:.1f} % at the largest",
        "met": None if largest is None else largest <= STROUHAL_TOLERANCE},
        stability_goal(rollouts.values())]
    if persistence := next((rollouts_of(r) for _, r in sorted(results.items()) if r["spec"]["type"] == "persistence"), None):
        ratios = [rollout["vrmse_at_lead"][LEAD] / persistence[group]["vrmse_at_lead"][LEAD]
                  for group, rollout in rollouts.items() if LEAD in rollout["vrmse_at_lead"] and group in persistence]
        rows.append({"goal": f"VRMSE at lead {LEAD} below persistence's",
                     "measured": f"{max(ratios):.2f} × persistence's at the largest" if ratios else "no lead 10 (a shorter horizon)",
                     "met": (max(ratios) < 1) if ratios else None})
    if dmd := same_history_dmd(results):
        margins = valid_time_margins(rollouts, rollouts_of(results[dmd]))
        rows.append({"goal": f"a longer valid time than DMD with the same history ({dmd})",
                     "measured": f"{min(margins):+.1f} D/U at the smallest margin", "met": min(margins) > 0})
    for name in longer_window_dmds(results):
        margins = valid_time_margins(rollouts, rollouts_of(results[name]))
        rows.append({"goal": f"a valid time at least that of DMD over {results[name]['spec']['window']} frames ({name})",
                     "measured": f"{min(margins):+.1f} D/U at the smallest margin", "met": min(margins) >= 0})
    return {"forecaster": best, "unseen": sorted(rollouts), "goals": rows}
