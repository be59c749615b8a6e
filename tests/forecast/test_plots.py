"""The forecasting figures: which forecaster the animation shows, and the animation itself."""

import io

import numpy as np
import pandas as pd
from PIL import Image

from karman.forecast.plots import best_forecaster, rollout_animation


def error_rows(model: str, test: str, reynolds: float, correlations: list[float], vrmse: float) -> list[dict]:
    return [{"model": model, "test": test, "reynolds": reynolds, "lead": lead, "vrmse": vrmse, "nrmse": vrmse, "correlation": value}
            for lead, value in enumerate(correlations, start=1)]


def test_the_best_forecaster_stays_correlated_longest_on_the_unseen_test():
    errors = pd.DataFrame(
        error_rows("long", "unseen-re", 450.0, [1.0, 0.99, 0.95, 0.91, 0.5], 0.4)  # valid 4 steps
        + error_rows("long", "unseen-re", 900.0, [0.95, 0.5, 0.5, 0.5, 0.5], 0.4)  # 1: mean 2.5
        + error_rows("short", "unseen-re", 450.0, [0.99, 0.99, 0.5, 0.5, 0.5], 0.1)  # 2
        + error_rows("short", "unseen-re", 900.0, [0.99, 0.99, 0.5, 0.5, 0.5], 0.1)  # 2: mean 2, lower error but shorter
        + error_rows("future-only", "future", 600.0, [1.0] * 5, 0.0)  # the best of the other test does not count
    )
    assert best_forecaster(errors) == "long"
    assert best_forecaster(errors, test="future") == "future-only"


def test_a_tie_in_valid_time_goes_to_the_lower_error():
    errors = pd.DataFrame(error_rows("rough", "unseen-re", 450.0, [0.95, 0.95, 0.5], 0.6)
                          + error_rows("smooth", "unseen-re", 450.0, [0.92, 0.92, 0.2], 0.3))
    assert best_forecaster(errors) == "smooth"
    assert best_forecaster(errors[errors["test"] == "future"]) is None


def test_the_animation_is_a_gif_with_one_frame_per_lead():
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((6, 16, 20)).astype(np.float32)
    truth[:, 7:9, 3:5] = np.nan  # the cylinder
    gif = rollout_animation(truth, truth + 0.1, np.arange(6) * 0.2 + 40.0, "cnn", "reynolds 900")
    image = Image.open(io.BytesIO(gif))
    assert gif[:6] == b"GIF89a" and image.format == "GIF"
    assert image.n_frames == 6 and image.info.get("loop") == 0
    frames = []
    for index in range(image.n_frames):
        image.seek(index)
        frames.append(np.asarray(image.convert("RGB")))
    assert not np.array_equal(frames[0], frames[1])  # each lead is drawn, not one frame repeated
