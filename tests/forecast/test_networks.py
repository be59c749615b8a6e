"""The learned forecasters on a travelling wave behind a NaN disc, three groups (Re) whose
frequencies differ a little, in a store whose samples are shuffled and chunked."""

import json
import logging

import numpy as np
import pytest
import xarray as xr

from karman import keras_fit
from karman.forecast.baselines import DMD, Persistence
from karman.forecast.forecasters import build_forecaster, load_forecaster, trainable
from karman.forecast.learned import read_training_frames, validation_split
from karman.forecast.metrics import correlation
from karman.forecast.neural import (
    PODMLP,
    ConvLSTMForecaster,
    UNetForecaster,
    summed_mse,
)
from karman.forecast.pod import PODRidge
from karman.forecast.recurrent import PODGRU
from karman.forecast.windows import ForecastTask, group_frames, plan, training_windows
from karman.keras_fit import configure_keras

SHAPE = (12, 16)
DT = 0.1  # D/U per stored snapshot
FREQUENCY = {300.0: 0.18, 600.0: 0.20, 900.0: 0.22}  # periods per D/U; 600 is held out (interpolated)
FRAMES = 200  # per group
TASK = ForecastTask(history=4, stride=1, horizon=50, future_fraction=0.25)
FIT = {"seed": 0, "threads": 2, "backend": "tensorflow", "gpu": False}
TINY_UNET = {"filters": [4, 8], "epochs": 3, "batch_size": 16}


def wave(frequency: float, steps: np.ndarray, shape=SHAPE) -> np.ndarray:
    """2 + 3ω, ω a travelling wave and its harmonic across x, NaN in a disc: (len(steps), *shape) float32."""
    y, x = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    time = DT * np.asarray(steps, dtype=np.float64)[:, np.newaxis, np.newaxis]
    k, centre = 2 * np.pi / shape[1], (shape[0] - 1) / 2
    vorticity = (np.cos(np.pi * (y - centre) / shape[0]) * np.sin(k * x - 2 * np.pi * frequency * time)
                 + 0.3 * np.sin(2 * np.pi * (y - centre) / shape[0]) * np.sin(2 * k * x - 4 * np.pi * frequency * time))
    vorticity[:, (y - centre) ** 2 + (x - 3.5) ** 2 <= 2.3] = np.nan
    return (2 + 3 * vorticity).astype(np.float32)


def make_store(shape=SHAPE, frames=FRAMES, seed=0) -> tuple[xr.DataArray, np.ndarray, np.ndarray, np.ndarray]:
    """The field (sample, y, x) chunked by 16, shuffled samples; its values, groups and times."""
    values = np.concatenate([wave(frequency, np.arange(frames), shape) for frequency in FREQUENCY.values()])
    groups, times = np.repeat(list(FREQUENCY), frames), np.tile(DT * np.arange(frames), len(FREQUENCY))
    order = np.random.default_rng(seed).permutation(len(values))
    values, groups, times = values[order], groups[order], times[order]
    field = xr.DataArray(values, dims=("sample", "y", "x"), coords={"reynolds": ("sample", groups), "time": ("sample", times)})
    return field.chunk(sample=16), values, groups, times


@pytest.fixture(scope="module")
def wake():
    field, values, groups, times = make_store()
    rollouts, train_frames = plan(group_frames(groups, times), [600.0], TASK)
    return {"field": field, "values": values, "groups": groups, "rollouts": {r.group: r for r in rollouts}, "train": train_frames}


@pytest.fixture(scope="module")
def unet(wake):
    forecaster = UNetForecaster(**TINY_UNET)
    metrics = forecaster.fit(wake["field"], wake["groups"], wake["train"], TASK, **FIT)
    return forecaster, metrics


def rollout_of(forecaster, wake, group, steps=TASK.horizon):
    rollout = wake["rollouts"][group]
    return forecaster.rollout(wake["values"][rollout.history], group, steps), wake["values"][rollout.targets[:steps]]


def test_read_training_frames_reads_each_frame_once_across_chunks(wake):
    samples, frames = read_training_frames(wake["field"], wake["train"])
    assert list(samples) == sorted(np.concatenate(list(wake["train"].values())))
    np.testing.assert_array_equal(frames, wake["values"][samples])


def test_validation_takes_the_last_tenth_of_each_group_in_time_and_shares_no_frame(wake):
    train, validate = validation_split(wake["train"], TASK, unroll=2)
    everything = training_windows(wake["train"], TASK, unroll=2)
    for series in wake["train"].values():
        position = {sample: i for i, sample in enumerate(series)}
        in_group = [np.array([[position[s] for s in window] for window in windows if window[0] in position])
                    for windows in (train, validate, everything)]
        group_train, group_validate, group_all = in_group
        assert len(group_validate) == len(group_all) // 10 == 14  # 146 frames: 141 windows of 6
        assert group_validate[:, 0].min() > group_train[:, -1].max()  # later in time, no frame in both
        assert group_validate[-1, -1] == len(series) - 1
        assert len(group_train) == len(group_all) - 14 - 5  # the windows that reach into the first validation window are left out
        assert np.all(np.diff(group_all, axis=1) == 1)


@pytest.mark.parametrize("history", [1, 4])
def test_pod_ridge_continues_training_groups_and_an_unseen_one(wake, history):
    forecaster = PODRidge(rank=8, history=history)
    metrics = forecaster.fit(wake["field"], wake["groups"], wake["train"], TASK, **FIT)
    assert metrics["rank"] == 4 and metrics["energy"] > 0.999999 and metrics["device"] == "CPU (numpy)"
    assert metrics["loss"] < 1e-6 and json.loads(json.dumps(metrics)) == metrics
    task = ForecastTask(history=history, stride=1, horizon=50, future_fraction=0.25)
    rollouts, _ = plan(group_frames(wake["groups"], wake["field"]["time"].values), [600.0], task)
    for rollout in rollouts:
        forecast = forecaster.rollout(wake["values"][rollout.history], rollout.group, 50)
        truth = wake["values"][rollout.targets]
        assert forecast.shape == truth.shape and forecast.dtype == np.float32
        np.testing.assert_array_equal(np.isnan(forecast), np.isnan(truth))
        scores = correlation(truth, forecast)
        if rollout.test == "future":  # a training group, 50 steps
            assert scores.min() > 0.99, (rollout.group, scores.min())
        else:  # Re 600, never trained on, between the two that were
            assert scores[:10].min() > 0.9, scores[:10]


def test_pod_ridge_learns_from_training_frames_only(wake):
    """Frames outside the training frames (the tests' histories and targets) changed to
    nonsense: the fit and its rollouts stay the same."""
    training = np.concatenate(list(wake["train"].values()))
    spoiled = np.full_like(wake["values"], 1e6)
    spoiled[training] = wake["values"][training]
    fitted = []
    for values in (wake["values"], spoiled):
        field = xr.DataArray(values, dims=("sample", "y", "x")).chunk(sample=16)
        forecaster = PODRidge(rank=8)
        forecaster.fit(field, wake["groups"], wake["train"], TASK, **FIT)
        fitted.append(rollout_of(forecaster, wake, 300.0, 5)[0])
    np.testing.assert_array_equal(*fitted)


def test_unet_rollout_has_the_shape_and_nan_cells_of_the_truth(wake, unet):
    forecaster, metrics = unet
    for group in FREQUENCY:
        forecast, truth = rollout_of(forecaster, wake, group, 12)
        assert forecast.shape == (12, *SHAPE) and forecast.dtype == np.float32
        np.testing.assert_array_equal(np.isnan(forecast), np.isnan(truth))
        assert np.all(np.isfinite(forecast[:, ~np.isnan(truth[0])]))
    assert metrics["type"] == "cnn" and metrics["epochs"] == 3 and metrics["device"] == "CPU, Keras backend tensorflow"
    assert metrics["training_windows"] == 2 * (142 - 14 - 4) and metrics["validation_windows"] == 2 * 14
    assert metrics["history"]["loss"][-1] < metrics["history"]["loss"][0] and np.isfinite(metrics["val_loss"])
    assert json.loads(json.dumps(metrics)) == metrics
    with pytest.raises(ValueError, match=r"reads 4 frames of \(12, 16\), got a history of shape \(3, 12, 16\)"):
        forecaster.rollout(wake["values"][:3], 300.0, 2)
    with pytest.raises(RuntimeError, match="not fitted"):
        UNetForecaster().rollout(wake["values"][:4], 300.0, 2)


def test_unet_same_seed_same_weights_and_logs_progress(wake, unet, caplog):
    with caplog.at_level(logging.INFO):
        again = UNetForecaster(**TINY_UNET)
        again.fit(wake["field"], wake["groups"], wake["train"], TASK, **FIT)
    for trained, retrained in zip(unet[0].model.get_weights(), again.model.get_weights()):
        np.testing.assert_array_equal(trained, retrained)
    np.testing.assert_array_equal(rollout_of(unet[0], wake, 600.0, 5)[0], rollout_of(again, wake, 600.0, 5)[0])
    log = caplog.text
    assert "device: CPU" in log and "epoch 1/3: loss=" in log and "epoch 3/3: loss=" in log and "s/epoch" in log
    assert "MB in memory" in log
    other = UNetForecaster(**TINY_UNET, seed=1)  # its own seed wins over fit's
    other.fit(wake["field"], wake["groups"], wake["train"], TASK, **FIT)
    assert not np.array_equal(rollout_of(unet[0], wake, 600.0, 5)[0], rollout_of(other, wake, 600.0, 5)[0])


def test_unet_unrolled_with_noise_trains(wake):
    import keras

    forecaster = UNetForecaster(filters=[4, 8], unroll=2, noise=0.1, epochs=1, batch_size=32)
    metrics = forecaster.fit(wake["field"], wake["groups"], wake["train"], TASK, **FIT)
    assert metrics["epochs"] == 1 and np.isfinite(metrics["loss"]) and metrics["training_windows"] == 2 * (141 - 14 - 5)
    training = forecaster.unrolled(keras, seed=0)
    assert training.output_shape == (None, *SHAPE, 2)
    inputs = {"frames": np.ones((2, *SHAPE, 4), np.float32), "group": np.zeros((2, 1), np.float32)}
    clean = [keras.ops.convert_to_numpy(training(inputs, training=False)) for _ in range(2)]
    noisy = keras.ops.convert_to_numpy(training(inputs, training=True))
    np.testing.assert_array_equal(*clean)  # no noise outside training
    assert not np.allclose(clean[0], noisy)
    forecast, truth = rollout_of(forecaster, wake, 300.0, 8)
    assert np.all(np.isfinite(forecast[:, ~np.isnan(truth[0])]))


def test_summed_mse_adds_the_steps():
    import keras

    true = np.zeros((1, 2, 2, 3), np.float32)
    predicted = np.stack([np.full((2, 2), value, np.float32) for value in (1, 2, 3)], axis=-1)[np.newaxis]
    assert float(keras.ops.convert_to_numpy(summed_mse(keras)(true, predicted))[0]) == pytest.approx(1 + 4 + 9)
    # the gru's (batch, unroll, modes): the modes averaged, the steps summed
    steps = np.moveaxis(predicted.reshape(1, 4, 3), 1, 2)
    assert float(keras.ops.convert_to_numpy(summed_mse(keras, cell_axes=-1)(np.zeros_like(steps), steps))[0]) == pytest.approx(1 + 4 + 9)


def test_a_cosine_schedule_decays_the_learning_rate_over_the_epochs(wake):
    """With `schedule: cosine`, the optimiser's rate starts at `learning_rate` and is 1/20 of it
    after the last epoch's updates; the fit's losses differ from a constant rate's."""
    import keras

    schedule = keras_fit.learning_schedule(keras, 0.002, "cosine", steps=100)
    rates = [float(keras.ops.convert_to_numpy(schedule(step))) for step in (0, 50, 100, 200)]
    np.testing.assert_allclose(rates, [0.002, 0.002 * (0.05 + 0.95 * 0.5), 0.002 * 0.05, 0.002 * 0.05], rtol=1e-5)
    assert keras_fit.learning_schedule(keras, 0.002, "constant", steps=100) == 0.002
    with pytest.raises(ValueError, match="schedule 'linear' is not one of constant, cosine"):
        keras_fit.learning_schedule(keras, 0.002, "linear", steps=100)
    losses = {schedule: UNetForecaster(**TINY_UNET, learning_rate=0.01, schedule=schedule, patience=10)
              .fit(wake["field"], wake["groups"], wake["train"], TASK, **FIT)["history"]["loss"] for schedule in ("constant", "cosine")}
    assert losses["constant"][0] == pytest.approx(losses["cosine"][0], rel=0.2) and losses["constant"][-1] != losses["cosine"][-1]


def test_unet_on_an_odd_grid_pads_and_crops_back():
    shape = (11, 15)
    field, values, groups, times = make_store(shape, frames=60)
    task = ForecastTask(history=2, stride=1, horizon=5, future_fraction=0.25)
    rollouts, train_frames = plan(group_frames(groups, times), [600.0], task)
    forecaster = UNetForecaster(filters=[4, 4, 4], epochs=1, batch_size=32)
    forecaster.fit(field, groups, train_frames, task, **FIT)
    assert forecaster.padding() == ((0, 1), (0, 1))  # to 12 × 16, a multiple of 4
    for rollout in rollouts:
        forecast = forecaster.rollout(values[rollout.history], rollout.group, 5)
        assert forecast.shape == (5, *shape)
        np.testing.assert_array_equal(np.isnan(forecast), np.isnan(values[rollout.targets]))


def test_pod_mlp_continues_a_training_group(wake, tmp_path):
    forecaster = PODMLP(rank=8, hidden_units=[32], epochs=30, batch_size=16, patience=30)
    metrics = forecaster.fit(wake["field"], wake["groups"], wake["train"], TASK, **FIT)
    assert metrics["rank"] == 4 and metrics["epochs"] == 30 and metrics["validation_windows"] == 2 * 14
    forecast, truth = rollout_of(forecaster, wake, 900.0, 10)
    np.testing.assert_array_equal(np.isnan(forecast), np.isnan(truth))
    assert correlation(truth, forecast).min() > 0.95
    forecaster.save(tmp_path / "mlp")
    np.testing.assert_array_equal(rollout_of(load_forecaster(tmp_path / "mlp"), wake, 900.0, 10)[0], forecast)


def assert_reads_a_sequence_and_reloads(forecaster, wake, forecast, directory):
    """A sequence model: the same history frames in another order give another forecast; saved and
    loaded, it gives `forecast` (its rollout of the unseen group 600) again."""
    history = wake["values"][wake["rollouts"][600.0].history]
    assert not np.allclose(forecaster.rollout(history, 600.0, 1), forecaster.rollout(history[::-1], 600.0, 1), equal_nan=True)
    forecaster.save(directory / forecaster.kind)
    loaded = load_forecaster(directory / forecaster.kind)
    assert type(loaded) is type(forecaster)
    np.testing.assert_array_equal(rollout_of(loaded, wake, 600.0, len(forecast))[0], forecast)


def test_pod_gru_trained_on_its_own_rollouts_continues_an_unseen_group_and_reads_a_sequence(wake, tmp_path):
    forecaster = PODGRU(rank=8, units=16, unroll=4, epochs=40, batch_size=16, patience=40)
    metrics = forecaster.fit(wake["field"], wake["groups"], wake["train"], TASK, **FIT)
    assert (metrics["type"], metrics["rank"], metrics["epochs"]) == ("gru", 4, 40)
    assert metrics["history"]["loss"][-1] < 0.1 * metrics["history"]["loss"][0]
    assert [layer.__class__.__name__ for layer in forecaster.model.layers].count("GRU") == 1
    forecast, truth = rollout_of(forecaster, wake, 600.0, 20)  # the unseen group, 20 steps: a whole period
    np.testing.assert_array_equal(np.isnan(forecast), np.isnan(truth))
    assert correlation(truth, forecast).min() > 0.95
    assert_reads_a_sequence_and_reloads(forecaster, wake, forecast, tmp_path)


def test_an_untrained_pod_gru_is_persistence_and_its_unrolled_model_gives_each_step_in_the_loss_units(wake):
    forecaster = PODGRU(rank=8, unroll=3, epochs=1)
    _, frames = forecaster.prepare(wake["field"], wake["groups"], wake["train"], TASK)
    forecaster.fit_pod(frames, 8, 1)
    forecaster.fit_increments(np.zeros((2, len(forecaster.modes))))  # a mean increment of 0, an RMS of 1
    keras = configure_keras(**FIT)
    forecaster.model = forecaster.build(keras, len(forecaster.modes))  # its last layer starts at zero: no increment
    history = wake["values"][wake["rollouts"][600.0].history]
    persistence = forecaster.frames_of(forecaster.coefficients(forecaster.standardise(history[-1:])))
    np.testing.assert_allclose(forecaster.rollout(history, 600.0, 3), forecaster.in_units(np.repeat(persistence[np.newaxis], 3, axis=1),
                               np.isnan(history).any(axis=0)[np.newaxis])[0], rtol=1e-5, atol=1e-5, equal_nan=True)
    coefficients = forecaster.batch_coefficients(forecaster.standardise(history)[np.newaxis]).astype(np.float32)
    unrolled = forecaster.unrolled(keras, 0)({"coefficients": coefficients, "group": np.zeros((1, 1), np.float32)})
    assert unrolled.shape == (1, 3, len(forecaster.modes))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(unrolled)[0], np.repeat(coefficients[:, -1] * forecaster.loss_weight, 3, axis=0),
                               rtol=1e-5, atol=1e-5)


def test_save_and_load_give_the_same_rollout(wake, unet, tmp_path):
    ridge = PODRidge(rank=8)
    ridge.fit(wake["field"], wake["groups"], wake["train"], TASK, **FIT)
    for name, forecaster in (("ridge", ridge), ("cnn", unet[0])):
        forecaster.save(tmp_path / name)
        loaded = load_forecaster(tmp_path / name)
        assert type(loaded) is type(forecaster)
        np.testing.assert_array_equal(rollout_of(loaded, wake, 600.0, 6)[0], rollout_of(forecaster, wake, 600.0, 6)[0])


def test_convlstm_reads_the_history_as_a_sequence_learns_and_rolls_out(wake, tmp_path):
    forecaster = ConvLSTMForecaster(filters=[4, 4], epochs=3, batch_size=16)
    metrics = forecaster.fit(wake["field"], wake["groups"], wake["train"], TASK, **FIT)
    assert metrics["type"] == "convlstm" and metrics["epochs"] == 3
    assert metrics["history"]["loss"][-1] < metrics["history"]["loss"][0]
    layers = [layer.__class__.__name__ for layer in forecaster.model.layers]
    assert layers.count("ConvLSTM2D") == 2
    forecast, truth = rollout_of(forecaster, wake, 600.0, 8)  # the unseen group
    assert forecast.shape == (8, *SHAPE) and forecast.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(forecast), np.isnan(truth))
    assert_reads_a_sequence_and_reloads(forecaster, wake, forecast, tmp_path)


def test_an_untrained_convlstm_is_persistence(wake):
    forecaster = ConvLSTMForecaster(filters=[4], epochs=1)
    forecaster.prepare(wake["field"], wake["groups"], wake["train"], TASK)
    forecaster.model = forecaster.build(configure_keras(**FIT))  # its last layer starts at zero: no increment
    history = wake["values"][wake["rollouts"][600.0].history]
    np.testing.assert_allclose(forecaster.rollout(history, 600.0, 3), np.repeat(history[-1:], 3, axis=0), rtol=1e-5, atol=1e-5)


def test_build_forecaster_dispatches_on_type():
    assert isinstance(build_forecaster({"type": "persistence"}, TASK), Persistence)
    assert build_forecaster({"type": "dmd"}, TASK) == DMD(window=4)
    assert build_forecaster({"type": "dmd", "window": 9, "rank": 3}, TASK) == DMD(window=9, rank=3)
    assert build_forecaster({"type": "dmd", "periods": 1.5}, TASK, strouhal=0.2, step_time=0.1).window == 76
    ridge = build_forecaster({"type": "ridge", "rank": 5, "alpha": 0.1}, TASK)
    assert isinstance(ridge, PODRidge) and (ridge.rank, ridge.alpha, ridge.history) == (5, 0.1, None)
    mlp = build_forecaster({"type": "mlp", "hidden_units": [8], "epochs": 2, "seed": 3}, TASK)
    assert isinstance(mlp, PODMLP) and (mlp.hidden_units, mlp.epochs, mlp.seed, mlp.rank) == ([8], 2, 3, 32)
    cnn = build_forecaster({"type": "cnn", "filters": [8, 16, 32], "unroll": 3, "noise": 0.01, "optimizer": "adamw"}, TASK)
    assert isinstance(cnn, UNetForecaster) and (cnn.filters, cnn.unroll, cnn.noise, cnn.optimizer) == ([8, 16, 32], 3, 0.01, "adamw")
    convlstm = build_forecaster({"type": "convlstm", "filters": [8], "unroll": 2}, TASK)
    assert isinstance(convlstm, ConvLSTMForecaster) and (convlstm.filters, convlstm.unroll, convlstm.activation) == ([8], 2, "tanh")
    gru = build_forecaster({"type": "gru", "units": 8, "unroll": 2}, TASK)
    assert isinstance(gru, PODGRU) and (gru.units, gru.unroll, gru.rank, gru.noise) == (8, 2, 32, 0.0)
    assert [trainable(f) for f in (Persistence(), DMD(4), ridge, mlp, gru, cnn, convlstm)] == [False, False, True, True, True, True, True]


@pytest.mark.parametrize("spec, kwargs, message", [
    ({"type": "lstm"}, {}, r"forecaster type 'lstm' is not supported; allowed types: persistence, dmd, ridge, mlp, gru, cnn, convlstm"),
    ({}, {}, r"forecaster type None is not supported"),
    ({"type": "ridge", "filters": [4]}, {}, r"type 'ridge' has no setting filters; allowed: alpha, history, rank"),
    ({"type": "dmd", "periods": 2}, {}, r"needs the Strouhal number"),
    ({"type": "dmd", "periods": 2, "window": 5}, {"strouhal": 0.2, "step_time": 0.1}, r"window or periods, not both"),
    ({"type": "cnn", "optimizer": "lbfgs"}, {}, r"cnn: optimizer 'lbfgs' is not one of adam, adamw, sgd, rmsprop"),
    ({"type": "cnn", "unroll": 0}, {}, r"cnn: unroll must be a whole number of at least 1"),
    ({"type": "cnn", "schedule": "step"}, {}, r"cnn: schedule 'step' is not one of constant, cosine"),
    ({"type": "convlstm", "filters": []}, {}, r"convlstm: filters must be counts of at least 1"),
    ({"type": "gru", "units": 0}, {}, r"gru: units must be a whole number of at least 1"),
    ({"type": "gru", "noise": -1}, {}, r"gru: noise must be at least 0"),
])
def test_build_forecaster_refuses_what_it_cannot_build(spec, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_forecaster(spec, TASK, **kwargs)


# Forecasters of each type after two epochs (small ones: what the rollout tests need is weights that move), built once.
BRIEF = {"ridge": {}, "persistence": {}, "dmd": {}, "mlp": {"epochs": 2}, "gru": {"epochs": 2, "units": 8, "rank": 8, "unroll": 2},
         "convlstm": {"epochs": 2, "filters": [4]}}


@pytest.fixture(scope="module")
def briefly_trained(wake, unet):
    forecasters = {"cnn": unet[0]}

    def forecaster_of(kind):
        if kind not in forecasters:
            forecasters[kind] = build_forecaster({"type": kind, **BRIEF[kind]}, TASK)
            if trainable(forecasters[kind]):
                forecasters[kind].fit(wake["field"], wake["groups"], wake["train"], TASK, **FIT)
        return forecasters[kind]

    return forecaster_of


@pytest.mark.parametrize("kind", ["ridge", "mlp", "gru", "cnn", "persistence", "dmd"])
def test_a_batch_of_rollouts_equals_the_rollouts_one_by_one(wake, briefly_trained, kind):
    """The forecast stage rolls every test out in one batch (one call per step); each rollout is the one it gives alone."""
    forecaster = briefly_trained(kind)
    history = forecaster.history or TASK.history
    starts = [0, 17, 40]
    histories = np.stack([wake["values"][start:start + history] for start in starts])
    groups = [300.0, 600.0, 900.0]
    batch = forecaster.rollout_batch(histories, groups, 6)
    assert batch.shape == (3, 6, *SHAPE) and batch.dtype == np.float32
    for one, group, rollout in zip(histories, groups, batch):
        np.testing.assert_allclose(rollout, forecaster.rollout(one, group, 6), rtol=1e-5, atol=1e-5, equal_nan=True)


@pytest.mark.parametrize("kind", ["mlp", "gru", "cnn", "convlstm"])
def test_the_compiled_rollout_equals_the_step_by_step_one(wake, briefly_trained, kind):
    """The whole rollout as one XLA program (tf.function, jit_compile) gives what a Python loop of Keras calls gives."""
    forecaster = briefly_trained(kind)
    histories = np.stack([wake["values"][start:start + TASK.history] for start in (0, 17, 40)])
    compiled = forecaster.rollout_batch(histories, [300.0, 600.0, 900.0], 12)
    step_by_step = forecaster.rollout_batch(histories, [300.0, 600.0, 900.0], 12, compiled=False)
    assert np.isnan(compiled).any() and np.array_equal(np.isnan(compiled), np.isnan(step_by_step))  # the disc stays NaN
    np.testing.assert_allclose(compiled, step_by_step, rtol=1e-4, atol=1e-4, equal_nan=True)
    assert np.nanmax(np.abs(compiled - np.repeat(histories[:, -1:], 12, axis=1))) > 1e-3  # a rollout that moves, not persistence


JAX_ROLLOUT = """
import numpy as np
from karman.forecast.neural import UNetForecaster
from karman.keras_fit import configure_keras

keras = configure_keras("jax", seed=0, threads=1, gpu=False)
forecaster = UNetForecaster(filters=[4, 8])
forecaster.inputs, forecaster.shape, forecaster.mean, forecaster.std, forecaster.group_mean, forecaster.group_std = 4, (12, 16), 0.0, 1.0, 600.0, 300.0
forecaster.model = forecaster.build(keras)
layer = forecaster.model.get_layer("increment")
layer.set_weights([np.full_like(w, 0.05) for w in layer.get_weights()])  # not the zero start: a rollout that moves
histories = np.random.default_rng(0).standard_normal((3, 4, 12, 16)).astype(np.float32)
histories[:, :, 5:7, 3:5] = np.nan
compiled = forecaster.rollout_batch(histories, [300.0, 600.0, 900.0], 10)
step_by_step = forecaster.rollout_batch(histories, [300.0, 600.0, 900.0], 10, compiled=False)
np.testing.assert_allclose(compiled, step_by_step, rtol=1e-4, atol=1e-4, equal_nan=True)
assert np.isnan(compiled[:, :, 5:7, 3:5]).all() and np.nanmax(np.abs(compiled[:, -1] - histories[:, -1])) > 1e-2
print("jax rollout: compiled equals step by step")
"""


def test_the_compiled_rollout_equals_the_step_by_step_one_with_jax():
    """The JAX path (jax.lax.scan over stateless_call, jitted: the GPU's), in a process of its own (one Keras backend per process)."""
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", JAX_ROLLOUT], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "compiled equals step by step" in done.stdout
