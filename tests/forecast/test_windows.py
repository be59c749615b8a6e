"""The forecast stage's frames: rollouts and training windows from the store's sample
indices, no frame both trained on and tested, no window across groups."""

import numpy as np
import pytest
import xarray as xr

from karman.forecast.windows import (FUTURE, UNSEEN, ForecastTask, check_task, group_frames, normalisation, plan,
                                     training_windows)

DT = 0.04  # D/U between stored snapshots


def store_coords(sizes: dict[float, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """reynolds(sample), time(sample) of a store holding `sizes[re]` snapshots per Re, the samples shuffled."""
    groups = np.concatenate([np.full(n, re) for re, n in sizes.items()])
    times = np.concatenate([40 + DT * np.arange(n) for n in sizes.values()])
    order = np.random.default_rng(seed).permutation(len(groups))
    return groups[order], times[order]


def test_group_frames_sorts_each_group_by_time():
    groups, times = store_coords({300.0: 7, 600.0: 5})
    frames = group_frames(groups, times)
    assert list(frames) == [300.0, 600.0]
    for re, samples in frames.items():
        assert np.all(groups[samples] == re)
        assert np.all(np.diff(times[samples]) > 0)
    assert sorted(np.concatenate(list(frames.values()))) == list(range(12))


def test_plan_takes_the_store_sample_indices():
    groups, times = store_coords({300.0: 40, 600.0: 40, 900.0: 40})
    task = ForecastTask(history=3, stride=2, horizon=4, future_fraction=0.25)
    rollouts, train = plan(group_frames(groups, times), [600.0], task)
    assert [(r.test, r.group) for r in rollouts] == [(FUTURE, 300.0), (UNSEEN, 600.0), (FUTURE, 900.0)]
    for rollout in rollouts:
        steps = np.concatenate([rollout.history, rollout.targets])
        assert np.all(groups[steps] == rollout.group)
        np.testing.assert_allclose(np.diff(times[steps]), 2 * DT)
        assert len(rollout.history) == 3 and len(rollout.targets) == 4
    unseen = rollouts[1]
    np.testing.assert_allclose(times[unseen.history], 40 + DT * np.array([0, 2, 4]))
    np.testing.assert_allclose(times[unseen.targets], 40 + DT * np.array([6, 8, 10, 12]))
    future = rollouts[0]  # the last quarter of 40 frames starts at frame 30
    np.testing.assert_allclose(times[future.targets], 40 + DT * np.array([30, 32, 34, 36]))
    np.testing.assert_allclose(times[future.history], 40 + DT * np.array([24, 26, 28]))
    assert list(train) == [300.0, 900.0]  # the held-out Re gives no training frame
    np.testing.assert_allclose(np.sort(times[train[300.0]]), 40 + DT * np.arange(24))


def test_a_longer_history_starts_the_unseen_rollout_later():
    frames = group_frames(*store_coords({300.0: 60, 600.0: 60}))
    task = ForecastTask(history=2, stride=1, horizon=5, future_fraction=0.2)
    short, _ = plan(frames, [600.0], task)
    long, train = plan(frames, [600.0], task, history=10)
    assert len(long[1].history) == 10
    assert list(long[1].targets) == list(frames[600.0][10:15]) and list(short[1].targets) == list(frames[600.0][2:7])
    assert list(long[0].targets) == list(short[0].targets)  # the future test keeps its targets
    assert len(train[300.0]) == 48 - 10


def test_no_training_window_shares_a_frame_with_a_test_window():
    rng = np.random.default_rng(1)
    checked = 0
    for trial in range(300):
        sizes = {float(re): int(rng.integers(1, 120)) for re in rng.choice(np.arange(100, 2000, 100), rng.integers(2, 6), replace=False)}
        groups, times = store_coords(sizes, seed=trial)
        task = ForecastTask(history=int(rng.integers(1, 6)), stride=int(rng.integers(1, 5)), horizon=int(rng.integers(1, 8)),
                            future_fraction=float(rng.uniform(0.05, 0.6)))
        held_out = list(rng.choice(list(sizes), rng.integers(0, len(sizes)), replace=False))
        unroll = int(rng.integers(1, 4))
        try:
            rollouts, train = plan(group_frames(groups, times), held_out, task)
            windows = training_windows(train, task, unroll)
        except ValueError:
            continue  # too short: tested below
        tested = np.concatenate([np.concatenate([r.history, r.targets]) for r in rollouts])
        assert not np.isin(windows, tested).any()
        assert not set(train) & {float(re) for re in held_out}
        assert not np.isin(windows, np.flatnonzero(np.isin(groups, held_out))).any()
        assert windows.shape[1] == task.history + unroll
        assert np.all(groups[windows] == groups[windows[:, :1]]), "a window crosses groups"
        np.testing.assert_allclose(np.diff(times[windows], axis=1), task.stride * DT)
        # every start frame, not only every stride-th: one window per frame that leaves room for the rest
        span = (task.history + unroll - 1) * task.stride
        assert len(windows) == sum(max(0, len(series) - span) for series in train.values())
        checked += 1
    assert checked > 100  # most draws fit; the rest are too short


def test_future_targets_are_never_trained_on():
    frames = group_frames(*store_coords({300.0: 100, 600.0: 100}))
    task = ForecastTask(history=4, stride=3, horizon=5, future_fraction=0.3)
    rollouts, train = plan(frames, [600.0], task)
    last_part = frames[300.0][70:]
    assert rollouts[0].targets[0] == last_part[0]
    assert not np.isin(training_windows(train, task, unroll=3), last_part).any()
    assert list(train[300.0]) == list(frames[300.0][: 70 - 4 * 3])  # strictly before the rollout's first history frame


@pytest.mark.parametrize("held_out, setting", [([300.0], "forecast.horizon"), ([], "forecast.future_fraction")])
def test_a_too_short_group_is_named_with_the_setting(held_out, setting):
    frames = group_frames(*store_coords({300.0: 12, 600.0: 200}))
    task = ForecastTask(history=4, stride=2, horizon=6, future_fraction=0.2)
    with pytest.raises(ValueError, match=rf"reynolds = 300 has 6 steps .*{setting}") as error:
        plan(frames, held_out, task, grouping="reynolds")
    assert "forecast.stride" in str(error.value)


def test_the_config_check_needs_no_store():
    check_task(ForecastTask(history=4, stride=2, horizon=10, future_fraction=0.2), frames_per_group=493)
    with pytest.raises(ValueError, match=r"493 frames.*needs horizon = 60 after"):
        check_task(ForecastTask(history=4, stride=2, horizon=60, future_fraction=0.2), frames_per_group=493)
    with pytest.raises(ValueError, match="no training window fits"):
        check_task(ForecastTask(history=4, stride=1, horizon=10, future_fraction=0.5), frames_per_group=20, unroll=5)
    with pytest.raises(ValueError, match="forecast.stride must be"):
        ForecastTask(history=4, stride=0, horizon=10, future_fraction=0.2)


def test_normalisation_reads_training_frames_only_and_skips_nan_cells():
    rng = np.random.default_rng(2)
    values = rng.normal(3.0, 2.0, (30, 4, 5)).astype(np.float32)
    values[:, 1, 1] = np.nan  # the cylinder
    values[20:] = 1e6  # frames training must not see
    field = xr.DataArray(values, dims=("sample", "y", "x")).chunk({"sample": 7})
    train = {300.0: np.arange(10, 20), 600.0: np.arange(0, 5)}
    mean, std = normalisation(field, train)
    seen = values[np.r_[0:5, 10:20]]
    assert mean == pytest.approx(np.nanmean(seen.astype(np.float64)), rel=1e-9)
    assert std == pytest.approx(np.nanstd(seen.astype(np.float64)), rel=1e-9)
