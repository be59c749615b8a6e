"""The forecasting goals, read from the metrics of every forecaster of a run."""

import pytest

from karman.forecast.goals import best_keras, goals, same_history_dmd


def result(kind: str, per_re: dict[float, tuple], *, window: int | None = None, test: str = "unseen-re") -> dict:
    """A forecaster's metrics.json: per Re (valid periods, St of the rollout, VRMSE at lead 10), St of the truth 0.2."""
    spec = {"type": kind, **({"window": window} if window else {})}
    rollouts = [{"test": test, "reynolds": re, "valid_time": {"0.9": {"steps": 0, "time": 5 * periods, "periods": periods if strouhal else None}},
                 "strouhal": {"rollout": strouhal, "truth": 0.2 if strouhal else None}, "vrmse_at_lead": {"1": 0.01, "10": vrmse}}
                for re, (periods, strouhal, vrmse) in per_re.items()]
    return {"grouping": "reynolds", "spec": spec, "task": {"history": 4}, "rollouts": rollouts}


RUN = {
    "persistence": result("persistence", {450.0: (0.05, None, 1.0), 900.0: (0.05, None, 1.2)}),
    "dmd": result("dmd", {450.0: (0.06, None, 0.8), 900.0: (0.05, None, 0.9)}),
    "dmd_long": result("dmd", {450.0: (2.2, 0.201, 0.03), 900.0: (1.9, 0.199, 0.05)}, window=32),
    "ridge": result("ridge", {450.0: (5.0, 0.2, 0.01), 900.0: (5.0, 0.2, 0.01)}),  # not Keras: not a candidate
    "cnn": result("cnn", {450.0: (3.0, 0.203, 0.1), 900.0: (1.5, 0.2049, 0.5)}),  # shortest 1.5
    "mlp": result("mlp", {450.0: (2.1, 0.2, 0.2), 900.0: (2.5, 0.198, 0.3)}),  # shortest 2.1: the best Keras one
}


def test_the_best_keras_forecaster_holds_its_worst_unseen_re_longest():
    assert best_keras(RUN) == "mlp"
    assert best_keras({name: RUN[name] for name in ("persistence", "ridge")}) is None
    assert same_history_dmd(RUN) == "dmd"  # not dmd_long, whose window is its own
    assert same_history_dmd({"long": RUN["dmd_long"]}) is None


def test_each_goal_is_measured_at_its_worst_unseen_re():
    verdict = goals(RUN)
    assert verdict["forecaster"] == "mlp" and verdict["unseen"] == [450.0, 900.0]
    rows = {row["goal"].split(" ")[0]: row for row in verdict["goals"]}
    assert rows["correlation"]["met"] and rows["correlation"]["measured"] == "2.10 periods at the shortest"
    assert rows["rollout"]["met"] and rows["rollout"]["measured"] == "1.0 % at the largest"
    assert rows["VRMSE"]["met"] and rows["VRMSE"]["measured"] == "0.25 × persistence's at the largest"
    assert rows["a"]["met"] and rows["a"]["measured"] == "+10.2 D/U at the smallest margin"


@pytest.mark.parametrize("change, goal, measured", [
    ({900.0: (1.9, 0.2, 0.3)}, "correlation", "1.90 periods at the shortest"),
    ({900.0: (2.5, 0.21, 0.3)}, "rollout", "5.0 % at the largest"),
    ({900.0: (2.5, 0.2, 1.3)}, "VRMSE", "1.08 × persistence's at the largest"),
])
def test_a_goal_missed_at_one_unseen_re_is_not_met(change, goal, measured):
    per_re = {450.0: (2.1, 0.2, 0.2), 900.0: (2.5, 0.198, 0.3)} | change
    verdict = goals({**RUN, "mlp": result("mlp", per_re)})
    row = next(row for row in verdict["goals"] if row["goal"].startswith(goal))
    assert row["met"] is False and row["measured"] == measured


def test_a_rollout_without_a_strouhal_number_cannot_tell():
    verdict = goals({"mlp": result("mlp", {450.0: (2.5, None, 0.2)}), "future": result("cnn", {300.0: (9.0, 0.2, 0.1)}, test="future")})
    assert verdict["forecaster"] == "mlp"
    assert [(row["goal"].split(" ")[0], row["met"]) for row in verdict["goals"]] == [("correlation", None), ("rollout", None)]
