"""The frontier's scoring of a solver run, on travelling waves whose answer is known."""

import numpy as np
import pytest

from karman.forecast.frontier import common_cells, forecast_scores, phase_aligned_forecast

PERIOD = 25  # steps per period


def wave(steps: np.ndarray, frequency: float = 1 / PERIOD, phase: float = 0.0) -> np.ndarray:
    x = np.arange(32)[np.newaxis, np.newaxis, :]
    return np.broadcast_to(np.sin(2 * np.pi * (x / 16 - frequency * np.asarray(steps)[:, None, None]) + phase), (len(steps), 8, 32)).copy()


def test_a_run_in_another_phase_is_aligned_and_then_exact():
    truth = wave(np.arange(100, 140))  # the reference frames after step 99
    candidate = wave(np.arange(200), phase=1.3)  # the same wave, its own phase
    forecast, start = phase_aligned_forecast(wave([99])[0], candidate, horizon=40, period_steps=PERIOD)
    assert 0 <= start <= PERIOD
    scores = forecast_scores(truth, forecast, step_time=0.2, lead=10)
    assert scores["valid_steps"] == 40 and scores["valid_time"] == pytest.approx(8.0)
    assert scores["vrmse_at_lead"] < 0.15  # a phase error of at most half a step of the alignment grid


def test_a_run_at_a_higher_frequency_drifts_out_of_phase_when_the_theory_says():
    """Aligned at the start, a wave 10 % faster loses the phase by 2π · 0.1 · k/25 after k steps:
    the correlation cos(2π · 0.004 · k) drops below 0.9 after k = 17.9 steps."""
    truth = wave(np.arange(100, 160))
    candidate = wave(np.arange(300), frequency=1.1 / PERIOD, phase=2 * np.pi * (1.1 * 7 - 99) / PERIOD)  # step 7 is in phase with 99
    forecast, start = phase_aligned_forecast(wave([99])[0], candidate, horizon=60, period_steps=PERIOD)
    assert start == 7
    assert forecast_scores(truth, forecast, step_time=0.2, lead=10)["valid_steps"] == 17


def test_a_candidate_too_short_to_align_is_named():
    with pytest.raises(ValueError, match="holds no alignment"):
        phase_aligned_forecast(wave([0])[0], wave(np.arange(30)), horizon=10, period_steps=PERIOD)


def test_cells_solid_on_the_coarse_grid_only_are_left_out_of_both():
    """A coarser grid's cylinder covers other cells: scored on the reference's alone, its NaN cells make every score NaN."""
    truth, candidate = wave(np.arange(100, 140)), wave(np.arange(200), phase=1.3)
    candidate[:, 3:5, 10:12] = np.nan
    reference = common_cells(wave([99]), candidate)[0]
    assert np.isnan(reference).sum() == 4
    forecast, _ = phase_aligned_forecast(reference, candidate, horizon=40, period_steps=PERIOD)
    assert np.isnan(forecast_scores(truth, forecast, step_time=0.2, lead=10)["vrmse_at_lead"])
    scores = forecast_scores(common_cells(truth, forecast), forecast, step_time=0.2, lead=10)
    assert scores["valid_steps"] == 40 and scores["vrmse_at_lead"] < 0.15
