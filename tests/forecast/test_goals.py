"""The forecasting goals, read from the metrics of every forecaster of a run."""

import pytest

from karman.forecast.goals import best_keras, goals, same_history_dmd

HORIZON = 120  # steps of every rollout below: 12 periods of 10 steps at St 0.2 and 0.5 D/U a step


def result(kind: str, per_re: dict[float, tuple], *, window: int | None = None, test: str = "unseen-re",
           horizon_periods: float = 12.0, amplitude: float = 1.0) -> dict:
    """A forecaster's metrics.json: per Re (valid periods, St of the rollout, VRMSE at lead 10), St
    of the truth 0.2, rollouts `horizon_periods` long whose amplitude in the last period is `amplitude` × the truth's."""
    spec = {"type": kind, **({"window": window} if window else {})}
    steps = round(HORIZON * horizon_periods / 12)
    rollouts = [{"test": test, "reynolds": re,
                 "valid_time": {"0.9": {"steps": min(steps, round(10 * periods)), "time": 5 * periods, "periods": periods if strouhal else None}},
                 "strouhal": {"rollout": strouhal, "truth": 0.2 if strouhal else None},
                 "vrmse_at_lead": {"1": 0.01, "10": vrmse, str(steps): 0.5},
                 "drift": {"periods_in_rollout": horizon_periods if strouhal else None,
                           "amplitude_ratio_last_period": amplitude if strouhal else None}}
                for re, (periods, strouhal, vrmse) in per_re.items()]
    return {"grouping": "reynolds", "spec": spec, "task": {"history": 4}, "rollouts": rollouts}


RUN = {
    "persistence": result("persistence", {450.0: (0.05, None, 1.0), 900.0: (0.05, None, 1.2)}),
    "dmd": result("dmd", {450.0: (0.06, None, 0.8), 900.0: (0.05, None, 0.9)}),
    "dmd_long": result("dmd", {450.0: (5.2, 0.201, 0.03), 900.0: (4.9, 0.199, 0.05)}, window=32),
    "ridge": result("ridge", {450.0: (9.0, 0.2, 0.01), 900.0: (9.0, 0.2, 0.01)}),  # not Keras: not a candidate
    "cnn": result("cnn", {450.0: (7.0, 0.203, 0.1), 900.0: (1.5, 0.2049, 0.5)}),  # shortest 1.5
    "mlp": result("mlp", {450.0: (5.2, 0.2, 0.2), 900.0: (5.5, 0.198, 0.3)}, amplitude=1.2),  # shortest 5.2: the best Keras one
}


def verdicts(run: dict) -> dict[str, dict]:
    """The goals of `run` by their first word (a DMD goal by the forecaster it names)."""
    rows = goals(run)["goals"]
    return {row["goal"].split("(")[-1].rstrip(")") if "DMD" in row["goal"] else row["goal"].split(" ")[0]: row for row in rows}


def test_the_best_keras_forecaster_holds_its_worst_unseen_re_longest():
    assert best_keras(RUN) == "mlp"
    assert best_keras({name: RUN[name] for name in ("persistence", "ridge")}) is None
    assert same_history_dmd(RUN) == "dmd"  # not dmd_long, whose window is its own
    assert same_history_dmd({"long": RUN["dmd_long"]}) is None


def test_each_goal_is_measured_at_its_worst_unseen_re():
    verdict = goals(RUN)
    assert verdict["forecaster"] == "mlp" and verdict["unseen"] == [450.0, 900.0]
    rows = verdicts(RUN)
    assert list(rows) == ["correlation", "rollout", "no", "VRMSE", "dmd", "dmd_long"]
    assert rows["correlation"]["met"] and rows["correlation"]["measured"] == "5.20 periods at the shortest"
    assert rows["rollout"]["met"] and rows["rollout"]["measured"] == "1.0 % at the largest"
    assert rows["no"]["met"] and rows["no"]["measured"] == "1.20 × the truth's at the largest"
    assert rows["VRMSE"]["met"] and rows["VRMSE"]["measured"] == "0.25 × persistence's at the largest"
    assert rows["dmd"]["met"] and rows["dmd"]["measured"] == "+25.7 D/U at the smallest margin"
    assert rows["dmd_long"]["met"] and rows["dmd_long"]["measured"] == "+0.0 D/U at the smallest margin"
    assert rows["dmd_long"]["goal"] == "a valid time at least that of DMD over 32 frames (dmd_long)"


@pytest.mark.parametrize("change, goal, measured", [
    ({900.0: (4.9, 0.2, 0.3)}, "correlation", "4.90 periods at the shortest"),
    ({900.0: (5.5, 0.21, 0.3)}, "rollout", "5.0 % at the largest"),
    ({900.0: (5.5, 0.2, 1.3)}, "VRMSE", "1.08 × persistence's at the largest"),
    ({450.0: (5.1, 0.2, 0.2)}, "dmd_long", "-0.5 D/U at the smallest margin"),
])
def test_a_goal_missed_at_one_unseen_re_is_not_met(change, goal, measured):
    per_re = {450.0: (5.2, 0.2, 0.2), 900.0: (5.5, 0.198, 0.3)} | change
    row = verdicts({**RUN, "mlp": result("mlp", per_re)})[goal]
    assert row["met"] is False and row["measured"] == measured


def test_a_rollout_that_grows_is_a_blow_up():
    row = verdicts({**RUN, "mlp": result("mlp", {450.0: (5.2, 0.2, 0.2)}, amplitude=2.5)})["no"]
    assert row["met"] is False and row["measured"] == "2.50 × the truth's at the largest"


def test_goals_a_short_horizon_cannot_reach_are_not_told():
    """Valid to the end of rollouts 2.3 periods long: neither the 5-period nor the 10-period goal is met or missed."""
    short = {name: result(spec["spec"]["type"], {re: (min(2.3, p["valid_time"]["0.9"]["time"] / 5), p["strouhal"]["rollout"],
                                                      p["vrmse_at_lead"]["10"]) for re, p in ((r["reynolds"], r) for r in spec["rollouts"])},
                          window=spec["spec"].get("window"), horizon_periods=2.3)
             for name, spec in RUN.items()}
    rows = verdicts(short)
    assert rows["correlation"]["met"] is None
    assert rows["correlation"]["measured"] == "valid to the end of every rollout, 2.30 periods at the shortest: the horizon is too short to tell"
    assert rows["no"]["met"] is None and rows["no"]["measured"] == "the rollouts hold 2.3 periods at the shortest: too short to tell"
    # one rollout that loses the truth before the end: missed, whatever the horizon
    rows = verdicts({**short, "mlp": result("mlp", {450.0: (1.8, 0.2, 0.2), 900.0: (2.3, 0.2, 0.2)}, horizon_periods=2.3)})
    assert rows["correlation"]["met"] is False and rows["correlation"]["measured"] == "1.80 periods at the shortest"


def test_a_rollout_without_a_strouhal_number_cannot_tell():
    verdict = goals({"mlp": result("mlp", {450.0: (2.5, None, 0.2)}), "future": result("cnn", {300.0: (9.0, 0.2, 0.1)}, test="future")})
    assert verdict["forecaster"] == "mlp"
    assert [(row["goal"].split(" ")[0], row["met"]) for row in verdict["goals"]] == [("correlation", None), ("rollout", None), ("no", None)]
