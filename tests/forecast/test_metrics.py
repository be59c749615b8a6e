"""The forecast scores, on tiny arrays computed by hand and on waves with a known answer."""

import numpy as np
import pytest

from karman.forecast.metrics import (correlation, drift, enstrophy_ratio, errors_per_lead, nearest_cell, nrmse, rollout_strouhal,
                                     rollout_windows, spectral_error, valid_time, valid_time_units, vrmse)

TRUTH = np.array([[[1.0, 2.0], [3.0, 4.0]]])
PREDICTION = np.array([[[1.0, 2.0], [3.0, 6.0]]])


def wave(phases: np.ndarray, wavelengths: int = 2, shape: tuple[int, int] = (8, 32)) -> np.ndarray:
    """sin(k x − phase) over whole wavelengths across x, one frame per phase."""
    x = np.arange(shape[1])[np.newaxis, np.newaxis, :]
    frames = np.sin(2 * np.pi * wavelengths * x / shape[1] - np.asarray(phases)[:, np.newaxis, np.newaxis])
    return np.broadcast_to(frames, (len(phases), *shape)).copy()


def test_vrmse_and_nrmse_by_hand():
    # squared error 4 over 4 cells; the truth's mean 2.5, sample variance 5/3; ||p − t|| = 2, ||t|| = √30
    np.testing.assert_allclose(vrmse(TRUTH, PREDICTION), [np.sqrt(1 / (5 / 3 + 1e-7))])
    np.testing.assert_allclose(nrmse(TRUTH, PREDICTION), [2 / np.sqrt(30)])
    np.testing.assert_allclose(vrmse(TRUTH, TRUTH), [0.0])
    assert vrmse(TRUTH, np.full_like(TRUTH, 2.5))[0] == pytest.approx(np.sqrt(3 / 4), rel=1e-6)  # the mean: about 1


def test_nan_cells_of_the_truth_are_ignored():
    truth = np.array([[[1.0, 2.0], [3.0, np.nan]]])
    prediction = np.array([[[1.0, 2.0], [5.0, 999.0]]])
    # cells 1, 2, 3: squared error 4/3, mean 2, sample variance 1; ||p − t|| = 2, ||t|| = √14
    np.testing.assert_allclose(vrmse(truth, prediction), [np.sqrt(4 / 3 / (1 + 1e-7))])
    np.testing.assert_allclose(nrmse(truth, prediction), [2 / np.sqrt(14)])
    np.testing.assert_allclose(correlation(truth, np.where(np.isnan(truth), -50.0, 2 * truth + 1)), [1.0])
    assert enstrophy_ratio(truth[0], prediction[0]) == pytest.approx(30 / 14)
    failed = prediction.copy()
    failed[0, 0, 0] = np.nan  # a prediction NaN where the truth is not: a failed forecast
    assert np.isnan(vrmse(truth, failed)[0]) and np.isnan(nrmse(truth, failed)[0]) and np.isnan(correlation(truth, failed)[0])


def test_correlation_of_scaled_and_flipped_frames():
    truth = wave(np.array([0.3, 1.1]))
    np.testing.assert_allclose(correlation(truth, 3 * truth - 2), [1.0, 1.0])
    np.testing.assert_allclose(correlation(truth, -truth), [-1.0, -1.0])


@pytest.mark.parametrize("threshold", [0.999, 0.9, 0.5, 0.0, -0.5, -2.0])
def test_valid_time_of_a_known_phase_drift(threshold):
    leads = np.arange(1, 31)
    truth = wave(0.3 * leads)
    prediction = wave(0.3 * leads + 0.1 * leads)  # a phase error of 0.1 rad per step: correlation cos(0.1 · lead)
    correlations = correlation(truth, prediction)
    np.testing.assert_allclose(correlations, np.cos(0.1 * leads), atol=1e-12)
    expected = int(leads[np.cos(0.1 * leads) >= threshold].max(initial=0))
    assert valid_time(correlations, threshold) == expected
    assert {0.999: 0, 0.5: 10, -2.0: 30}.get(threshold, expected) == expected


def test_valid_time_stops_at_the_first_drop_and_at_nan():
    assert valid_time(np.array([0.9, 0.4, 0.9, 0.9]), 0.5) == 1
    assert valid_time(np.array([0.9, 0.8, np.nan, 0.9]), 0.5) == 2
    assert valid_time_units(10, step_time=0.08, strouhal=0.2) == pytest.approx({"steps": 10, "time": 0.8, "periods": 0.16})


def test_rollout_windows_follow_the_well_and_say_what_the_horizon_cut():
    assert rollout_windows(np.arange(1.0, 31.0)) == {"1": 1.0, "2-5": 3.5, "6-12": 9.0, "13-30": 21.5, "all": 15.5}
    assert rollout_windows(np.arange(1.0, 21.0)) == {"1": 1.0, "2-5": 3.5, "6-12": 9.0, "13-20": 16.5, "all": 10.5}
    assert rollout_windows(np.arange(1.0, 5.0)) == {"1": 1.0, "2-4": 3.0, "6-12": None, "13-30": None, "all": 2.5}


def test_spectral_error_lands_in_the_band_of_the_perturbation():
    truth = wave(np.array([0.0, 0.5]), wavelengths=1, shape=(64, 64))
    x = np.arange(64)[np.newaxis, np.newaxis, :]
    for k, band in ((2, "low"), (7, "mid"), (20, "high")):
        errors = spectral_error(truth, truth + 0.1 * np.cos(2 * np.pi * k * x / 64))
        assert {name: bool(np.all(values > 1e-6)) for name, values in errors.items()} == {name: name == band for name in errors}
    # by hand: a cosine of amplitude A at index 2 has |F| = A·N/2 on N = 64² cells, so its shell's error is A/2
    # and the low band's, the mean over 4 shells, A/8
    np.testing.assert_allclose(spectral_error(truth, truth + 0.1 * np.cos(2 * np.pi * 2 * x / 64))["low"], [0.1 / 8] * 2)
    np.testing.assert_allclose(spectral_error(truth, truth)["mid"], [0.0, 0.0], atol=1e-15)
    assert spectral_error(truth[:, :16, :16], truth[:, :16, :16])["high"] is None  # 8 shells: no k ≥ 12


def test_spectral_error_fills_nan_cells_with_the_frame_mean():
    truth = wave(np.array([0.0]), shape=(32, 32))
    truth[:, 10:12, 10:12] = np.nan
    errors = spectral_error(truth, np.where(np.isnan(truth), 7.0, truth))
    assert all(np.all(values == 0) for values in errors.values())


def test_rollout_strouhal_finds_the_wave_frequency():
    frequency, dt = 0.21, 0.04
    times = 40 + dt * np.arange(500)  # T ≈ 20 D/U, about 4 periods
    y, x = np.linspace(-2.5, 2.5, 21), np.linspace(-0.5, 4.5, 21)  # 0.25 D cells
    frames = np.sin(2 * np.pi * (x[np.newaxis, np.newaxis, :] / 3 - frequency * times[:, np.newaxis, np.newaxis]))
    frames = np.broadcast_to(frames, (len(times), len(y), len(x)))
    probe = nearest_cell(y, x, (0.0, 2.0))
    assert probe == (10, 10)
    span = times[-1] - times[0]
    assert abs(rollout_strouhal(frames, times, probe) - frequency) <= 1 / (32 * span)
    assert np.isnan(rollout_strouhal(frames[:20], times[:20], probe))  # 0.8 D/U: less than a period


def test_errors_per_lead_rows():
    truth = wave(np.array([0.0, 0.2, 0.4]))
    rows = errors_per_lead(truth, wave(np.array([0.0, 0.25, 0.5])), reynolds=900.0, test="unseen-re")
    assert [row["lead"] for row in rows] == [1, 2, 3]
    assert list(rows[0]) == ["reynolds", "test", "lead", "vrmse", "nrmse", "correlation"]
    assert rows[0]["vrmse"] == 0.0 and rows[0]["correlation"] == pytest.approx(1.0)
    assert rows[2]["correlation"] == pytest.approx(np.cos(0.1)) and rows[2]["vrmse"] > rows[1]["vrmse"] > 0


def test_drift_sees_damping_growth_and_a_frequency_that_moves():
    """A truth of St 0.2 over 10 periods; rollouts that halve, double or end at St 0.25."""
    dt, frequency = 0.2, 0.2  # 25 steps per period
    times = dt * np.arange(250)
    truth = wave(2 * np.pi * frequency * times)
    probe = (4, 5)
    same = drift(truth, truth, times, probe, frequency)
    assert same["periods_in_rollout"] == pytest.approx(10)
    assert same["amplitude_ratio_last_period"] == pytest.approx(1) and same["enstrophy_ratio_last_period"] == pytest.approx(1)
    damped = drift(truth, truth * np.linspace(1, 0.5, len(times))[:, None, None], times, probe, frequency)
    assert damped["amplitude_ratio_last_period"] == pytest.approx(0.525, abs=0.01)  # the scale over the last period: 0.55 to 0.5
    assert damped["enstrophy_ratio_last_period"] == pytest.approx(0.525**2, abs=0.01)
    grown = drift(truth, 2 * truth, times, probe, frequency)
    assert grown["amplitude_ratio_last_period"] == pytest.approx(2) and grown["enstrophy_ratio_last_period"] == pytest.approx(4)
    # the first half at St 0.2, the second at 0.25: the whole rollout's St hides it, the last half's shows it
    shifted_phase = np.where(times < 25, 2 * np.pi * 0.2 * times, 2 * np.pi * (0.2 * 25 + 0.25 * (times - 25)))
    shifted = drift(truth, wave(shifted_phase), times, probe, frequency)
    assert shifted["strouhal_last_half"]["truth"] == pytest.approx(0.2, abs=0.005)
    assert shifted["strouhal_last_half"]["rollout"] == pytest.approx(0.25, abs=0.005)


def test_drift_of_a_rollout_shorter_than_a_period_tells_nothing():
    times = 0.2 * np.arange(10)  # 2 D/U: less than the period of St 0.2
    truth = wave(2 * np.pi * 0.2 * times)
    result = drift(truth, truth, times, (4, 5), 0.2)
    assert result["amplitude_ratio_last_period"] is None and result["enstrophy_ratio_last_period"] is None
    assert np.isnan(result["strouhal_last_half"]["rollout"])
    assert drift(truth, truth, times, (4, 5), float("nan"))["periods_in_rollout"] is None
