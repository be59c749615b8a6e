import numpy as np
import pandas as pd
import pytest

from karman.split import assign, random_split, summarize

FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}


def samples(n=403):
    return pd.DataFrame({"sample": np.arange(n), "reynolds": np.repeat([300, 600, 900, 1200], -(-n // 4))[:n], "time": np.arange(n) * 0.1})


def test_every_sample_lands_in_exactly_one_split():
    labels = random_split(403, FRACTIONS, seed=0)
    assert len(labels) == 403 and set(labels) == {"train", "val", "test"}
    counts = pd.Series(labels).value_counts()
    assert counts["train"] == round(0.7 * 403) and counts["val"] == round(0.1 * 403)
    assert counts.sum() == 403


def test_split_is_reproducible_and_depends_on_the_seed():
    np.testing.assert_array_equal(random_split(100, FRACTIONS, 3), random_split(100, FRACTIONS, 3))
    assert not np.array_equal(random_split(100, FRACTIONS, 3), random_split(100, FRACTIONS, 4))


def test_fractions_must_add_up_to_one():
    with pytest.raises(ValueError, match="split.fractions must add up to 1"):
        random_split(10, {"train": 0.5, "val": 0.1, "test": 0.1}, 0)


def test_unknown_strategy_names_the_allowed_ones():
    with pytest.raises(ValueError, match="split.strategy 'nope'.*random"):
        assign(samples(), "nope", FRACTIONS, 0)


def test_summary_counts_per_reynolds_number():
    assignment = assign(samples(), "random", FRACTIONS, 0)
    summary = summarize(assignment, "random", FRACTIONS, 0)
    assert summary["n_samples"] == 403
    assert sum(summary["counts"].values()) == 403
    assert set(summary["counts_per_reynolds"]) == {"300", "600", "900", "1200"}
    per_re_total = sum(sum(c.values()) for c in summary["counts_per_reynolds"].values())
    assert per_re_total == 403
