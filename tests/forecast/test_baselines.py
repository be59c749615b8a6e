"""The forecasters that need no training, on a travelling wave whose future is known."""

import numpy as np
import pytest

from karman.forecast.baselines import DMD, Persistence
from karman.forecast.metrics import correlation

FREQUENCY = 0.2  # wave periods per D/U
DT = 0.1  # D/U per step
SHAPE = (12, 24)


def travelling_wave(steps: np.ndarray, growth: float = 1.0) -> np.ndarray:
    """ω = g^t · cos(πy/12) · sin(k x − 2π f t), two wavelengths across x: (len(steps), 12, 24) float32."""
    y, x = np.meshgrid(np.arange(SHAPE[0]), np.arange(SHAPE[1]), indexing="ij")
    k = 2 * np.pi * 2 / SHAPE[1]
    time = DT * np.asarray(steps, dtype=np.float64)[:, np.newaxis, np.newaxis]
    return (growth ** np.asarray(steps)[:, np.newaxis, np.newaxis] * np.cos(np.pi * (y - 5.5) / 12)
            * np.sin(k * x - 2 * np.pi * FREQUENCY * time)).astype(np.float32)


def with_cylinder(frames: np.ndarray) -> np.ndarray:
    frames = frames.copy()
    frames[:, 5:7, 3:5] = np.nan
    return frames


def test_persistence_repeats_the_last_frame_and_keeps_nan_cells():
    history = with_cylinder(travelling_wave(np.arange(4)))
    forecast = Persistence().rollout(history, 300.0, steps=5)
    assert forecast.shape == (5, *SHAPE) and forecast.dtype == np.float32
    for frame in forecast:
        np.testing.assert_array_equal(frame, history[-1])
    assert Persistence().history is None


def test_persistence_correlation_decays_as_the_phase_the_wave_travelled():
    forecast = Persistence().rollout(travelling_wave(np.arange(3)), 300.0, steps=20)
    truth = travelling_wave(np.arange(3, 23))
    leads = np.arange(1, 21)
    np.testing.assert_allclose(correlation(truth, forecast), np.cos(2 * np.pi * FREQUENCY * leads * DT), atol=1e-5)


@pytest.mark.parametrize("window", [3, 4, 10])
def test_dmd_continues_a_travelling_wave(window):
    forecast = DMD(window).rollout(travelling_wave(np.arange(window)), 300.0, steps=100)
    assert forecast.shape == (100, *SHAPE) and forecast.dtype == np.float32
    np.testing.assert_allclose(forecast, travelling_wave(np.arange(window, window + 100)), atol=1e-5)


def test_dmd_fits_around_nan_cells_and_keeps_them():
    forecast = DMD(5).rollout(with_cylinder(travelling_wave(np.arange(5))), 300.0, steps=50)
    truth = with_cylinder(travelling_wave(np.arange(5, 55)))
    np.testing.assert_array_equal(np.isnan(forecast), np.isnan(truth))
    np.testing.assert_allclose(forecast, truth, atol=1e-5)


def test_dmd_puts_growing_modes_on_the_unit_circle():
    history = travelling_wave(np.arange(8), growth=1.05)
    stable = DMD(8).rollout(history, 300.0, steps=200)
    growing = DMD(8, stabilise=False).rollout(history, 300.0, steps=200)
    amplitude = 1.05**7  # the last frame's
    assert np.abs(stable).max() <= amplitude * (1 + 1e-4)
    assert np.abs(growing[-1]).max() > 1000 * amplitude  # 1.05^200 ≈ 17 000
    eigenvalues, _, _ = DMD(8).fit(history.reshape(8, -1).T.astype(np.float64))
    assert np.all(np.abs(eigenvalues) <= 1 + 1e-12) and len(eigenvalues) <= 7


def test_dmd_rank_and_window():
    history = travelling_wave(np.arange(10))
    assert len(DMD(10, rank=1).fit(history.reshape(10, -1).T.astype(np.float64))[0]) == 1
    assert DMD(10).history == 10
    with pytest.raises(ValueError, match="window of 10 frames got a history of 4"):
        DMD(10).rollout(history[:4], 300.0, steps=3)
    assert DMD.over_periods(1.5, strouhal=0.2, step_time=0.1).window == 76  # 1.5 periods = 75 steps, 76 frames
