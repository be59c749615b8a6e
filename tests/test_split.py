import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from karman.split import assign, counts_per_group, held_out_groups, random_split, settings_for, summarize, write_split
from karman.stores import Declaration, StoreError, declaration, open_store, write_store

FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
RANDOM = {"strategy": "random", "fractions": FRACTIONS, "seed": 0}


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
    with pytest.raises(ValueError, match="split.strategy 'nope'.*random, blocked, holdout-re"):
        assign(samples(), RANDOM | {"strategy": "nope"}, "reynolds")


def test_summary_counts_per_group_number():
    assignment = assign(samples(), RANDOM, "reynolds")
    summary = summarize(assignment, RANDOM, "reynolds")
    assert summary["n_samples"] == 403
    assert sum(summary["counts"].values()) == 403 and summary["counts"]["gap"] == 0
    assert set(summary["counts_per_reynolds"]) == {"300", "600", "900", "1200"}
    per_re_total = sum(sum(c.values()) for c in summary["counts_per_reynolds"].values())
    assert per_re_total == 403
    # As the split stage writes and the report reads it: the JSON's sorted keys, then ascending Re again.
    written = json.loads(json.dumps(summary, sort_keys=True))
    assert list(written["counts_per_reynolds"]) == ["1200", "300", "600", "900"]
    assert list(counts_per_group(written)) == ["300", "600", "900", "1200"]


def time_series(n_per_re=200, reynolds=(300, 600, 900, 1200)):
    """Samples as the fields stage writes them: per Re, snapshots in time order."""
    return pd.DataFrame({
        "sample": np.arange(n_per_re * len(reynolds)),
        "reynolds": np.repeat(np.array(reynolds, dtype=float), n_per_re),
        "time": np.tile(40 + 0.1 * np.arange(n_per_re), len(reynolds)),
    })


BLOCKED = {"strategy": "blocked", "fractions": FRACTIONS, "seed": 0, "blocks": 10, "gap": 7}


def test_blocked_split_is_contiguous_with_gaps_between_splits():
    assignment = assign(time_series(), BLOCKED, "reynolds")
    for _, group in assignment.groupby("reynolds"):
        labels = group.sort_values("time")["split"].to_numpy()
        runs = []  # (label, length) of consecutive equal labels
        for value in labels:
            if runs and runs[-1][0] == value:
                runs[-1][1] += 1
            else:
                runs.append([value, 1])
        kept = [run for run in runs if run[0] != "gap"]
        # Two different splits are never neighbours: a gap of exactly `gap` snapshots lies between.
        for before, after in zip(runs, runs[1:]):
            assert "gap" in (before[0], after[0])
        assert all(length == 7 for value, length in runs if value == "gap")
        assert {value for value, _ in kept} == {"train", "val", "test"}
    counts = assignment["split"].value_counts()
    assert counts["train"] > counts["test"] > counts["val"] > 0
    assert len(assignment) == 800  # every sample is listed, gap ones included


def test_blocked_split_keeps_one_block_per_split_apart_when_gap_is_zero():
    assignment = assign(time_series(), BLOCKED | {"gap": 0}, "reynolds")
    assert "gap" not in set(assignment["split"])
    # each of the 10 blocks of 20 snapshots has one label
    for _, group in assignment.groupby("reynolds"):
        labels = group.sort_values("time")["split"].to_numpy().reshape(10, 20)
        assert all(len(set(block)) == 1 for block in labels)


def test_holdout_split_has_no_held_out_reynolds_number_in_train_or_val():
    settings = {"strategy": "holdout-re", "fractions": FRACTIONS, "seed": 0, "holdout_reynolds": [900]}
    assignment = assign(time_series(), settings, "reynolds")
    assert set(assignment.loc[assignment["split"] == "test", "reynolds"]) == {900.0}
    assert 900.0 not in set(assignment.loc[assignment["split"] != "test", "reynolds"])
    train_val = assignment[assignment["split"] != "test"]
    assert abs((train_val["split"] == "val").mean() - 0.1 / 0.8) < 0.01
    with pytest.raises(ValueError, match=r"split.holdout_reynolds, .* hold out \[950\].* of which \[950\] are not in the data"):
        assign(time_series(), settings | {"holdout_reynolds": [950]}, "reynolds")


SWEEP = [100.0, 173.33, 246.67, 320.0, 393.33, 466.67, 540.0, 613.33, 686.67]


@pytest.mark.parametrize("settings, held", [
    ({"holdout_every": 4}, [173.33, 466.67]),  # interior: the 2nd, then every 4th, never an end
    ({"holdout_every": 1}, SWEEP[1:-1]),
    ({"holdout_top": 2}, [613.33, 686.67]),
    ({"holdout_bottom": 1, "holdout_top": 1}, [100.0, 686.67]),
    ({"holdout_reynolds": [320], "holdout_every": 4}, [173.33, 320.0, 466.67]),
])
def test_held_out_reynolds_numbers_interior_or_at_the_ends(settings, held):
    assert held_out_groups(SWEEP, settings) == held


def test_holdout_with_blocked_validation_keeps_test_re_out_and_time_neighbours_apart():
    settings = {"strategy": "holdout-re", "fractions": FRACTIONS, "seed": 0, "holdout_every": 2, "val": "blocked", "blocks": 10, "gap": 3}
    samples = time_series(reynolds=SWEEP)
    assignment = assign(samples, settings, "reynolds")
    test_re = set(assignment.loc[assignment["split"] == "test", "reynolds"])
    assert test_re == {173.33, 320.0, 466.67, 613.33}
    assert not test_re & set(assignment.loc[assignment["split"].isin(["train", "val"]), "reynolds"])
    for re, group in assignment[~assignment["reynolds"].isin(test_re)].groupby("reynolds"):
        labels = group.sort_values("time")["split"].to_numpy()
        changes = [i for i in range(1, len(labels)) if labels[i] != labels[i - 1]]
        for i in changes:  # train and val never touch: a gap lies between
            assert "gap" in (labels[i - 1], labels[i]), re
        assert {"train", "val"} <= set(labels)
    summary = summarize(assignment, settings, "reynolds")
    assert summary["counts"]["test"] == 4 * 200 and summary["counts"]["gap"] > 0


def test_a_split_depends_only_on_its_own_keys():
    config = {"strategy": "random", "fractions": FRACTIONS, "seed": 3, "blocks": 10, "gap": 5, "holdout_reynolds": [900], "compare": ["blocked"],
              "holdout_every": 0, "holdout_top": 1, "holdout_bottom": 0, "val": "random"}
    assert settings_for(config, "random") == {"strategy": "random", "fractions": FRACTIONS, "seed": 3}
    assert settings_for(config, "blocked") == {"strategy": "blocked", "fractions": FRACTIONS, "seed": 3, "blocks": 10, "gap": 5}
    holdout = settings_for(config, "holdout-re")
    assert holdout["holdout_reynolds"] == [900] and holdout["holdout_top"] == 1 and "gap" not in holdout
    assert settings_for(config | {"val": "blocked"}, "holdout-re")["gap"] == 5  # blocked validation reads blocks and gap


def declared_store(path, attrs: dict, grouped: bool = True):
    """A store of 40 samples (two groups of 20 in time) that declares `attrs`."""
    coords = {"sample": np.arange(40), "target": ("sample", np.linspace(0, 1, 40))}
    if grouped:
        coords |= {"group": ("sample", np.repeat([1.0, 2.0], 20)), "time": ("sample", np.tile(np.arange(20) * 0.5, 2))}
    write_store(xr.Dataset({"field": (("sample", "x"), np.zeros((40, 3), np.float32))}, coords=coords, attrs=attrs), path)
    return path


def test_one_write_split_serves_grouped_and_independent_samples_by_what_the_store_declares(tmp_path):
    grouped = declared_store(tmp_path / "grouped.zarr", {"targets": ["target"], "grouping": "group"})
    write_split(grouped, tmp_path / "a.csv", tmp_path / "a.json", settings=BLOCKED | {"blocks": 4, "gap": 1})
    assignment, summary = pd.read_csv(tmp_path / "a.csv"), json.loads((tmp_path / "a.json").read_text())
    assert list(assignment.columns) == ["sample", "group", "time", "split"]
    assert set(summary["counts_per_group"]) == {"1", "2"} and summary["counts"]["gap"] > 0 and "unused" not in summary["counts"]
    independent = declared_store(tmp_path / "independent.zarr", {"targets": ["target"]}, grouped=False)
    write_split(independent, tmp_path / "b.csv", tmp_path / "b.json", settings=RANDOM | {"train_samples": 10})
    assignment, summary = pd.read_csv(tmp_path / "b.csv"), json.loads((tmp_path / "b.json").read_text())
    assert list(assignment.columns) == ["sample", "split"] and (assignment["split"] == "train").sum() == 10
    assert summary["counts"]["unused"] == 28 - 10 and "gap" not in summary["counts"] and "counts_per_group" not in summary
    with pytest.raises(ValueError, match="split.strategy blocked needs samples grouped by a coordinate"):
        write_split(independent, tmp_path / "c.csv", tmp_path / "c.json", settings=BLOCKED)


def test_a_store_that_declares_no_targets_is_refused_naming_what_it_lacks(tmp_path):
    store = declared_store(tmp_path / "bare.zarr", {})
    with pytest.raises(StoreError, match="declares no samples: it needs one data variable along `sample` .* and the attribute `targets`"):
        declaration(open_store(store))
    assert declaration(open_store(declared_store(tmp_path / "ok.zarr", {"targets": ["target"]}, grouped=False))) == Declaration("field", ("target",), None)
