"""The one Keras fit loop of karman: the `train` stage's networks and the learned forecasters.

`fit_with_early_stopping` compiles a model, fits it on batches that shuffle themselves
(`karman.loader`'s interface: len, indexing, `next_epoch`), stops early on the validation
loss with the best epoch's weights restored, logs progress at most every `log_every`
seconds (the first and last epoch always), and says on which device it trained. Nothing
it returns is measured in seconds, so that two identical runs return the same thing.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import numpy as np

from karman.loader import keras_fit_data

log = logging.getLogger(__name__)

OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}
SCHEDULES = ("constant", "cosine")  # the learning rate over the epochs: fixed, or cosine decay to 1/20 of it by the last epoch


# What a Keras backend needs to find an NVIDIA GPU, as karman installs it.
GPU_HINTS = {
    "tensorflow": "karman installs TensorFlow's CPU build; for a GPU set training.backend: jax and install karman's gpu extra "
                  "(uv sync --extra gpu).",
    "jax": "JAX finds CUDA through karman's gpu extra (uv sync --extra gpu) on a machine with an NVIDIA GPU.",
}


def configure_keras(backend: str, seed: int, threads: int, gpu: bool):
    """Select the Keras backend (before Keras is imported), make runs repeatable, log the device."""
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != backend:
        raise RuntimeError(f"Keras was already imported with backend {os.environ.get('KERAS_BACKEND')!r}; cannot switch to {backend!r}")
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    if backend == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already initialised in this process
            log.debug("TensorFlow already initialised; thread settings unchanged")
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    gpus = gpu_devices(backend)
    log.info("Keras %s, backend %s, device: %s", keras.__version__, keras.backend.backend(), f"GPU {gpus}" if gpus else "CPU")
    if gpu and not gpus:
        log.warning("training.gpu is true, but Keras (%s) finds no GPU: training on the CPU. %s", backend, GPU_HINTS.get(backend, ""))
    return keras


def gpu_devices(backend: str) -> list[str]:
    if backend == "tensorflow":
        import tensorflow as tf

        return [device.name for device in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax

        return [str(device) for device in jax.devices() if device.platform == "gpu"]
    import torch

    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def optimizer(keras, name: str, learning_rate: float, schedule: str = "constant", steps: int = 1):
    """The Keras optimiser of a config's `optimizer` name (one of OPTIMIZERS), its rate `learning_schedule`'s."""
    return getattr(keras.optimizers, OPTIMIZERS[name])(learning_rate=learning_schedule(keras, learning_rate, schedule, steps))


def learning_schedule(keras, learning_rate: float, schedule: str, steps: int):
    """`learning_rate` fixed (`schedule` "constant") or decaying along a cosine to 1/20 of it over `steps` updates ("cosine")."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule {schedule!r} is not one of {', '.join(SCHEDULES)}")
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, steps), alpha=0.05)
    return learning_rate


def progress_logger(keras, label: str, epochs: int, log_every: float):
    """A callback that logs each epoch's losses and the time left, at most every `log_every` s."""

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.began = self.reported = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            if epoch == 0 or epoch + 1 == epochs or now - self.reported >= log_every:
                per_epoch = (now - self.began) / (epoch + 1)
                losses = ", ".join(f"{key}={value:.4g}" for key, value in (logs or {}).items())
                log.info("%s: epoch %d/%d: %s (%.2f s/epoch, at most %.0f s left)", label, epoch + 1, epochs, losses, per_epoch,
                            per_epoch * (epochs - epoch - 1))
                self.reported = now

    return Progress()


def device_name(backend: str) -> str:
    """Where Keras trains: "GPU (…), Keras backend jax" or "CPU, Keras backend tensorflow"."""
    gpus = gpu_devices(backend)
    return f"GPU ({', '.join(gpus)}), Keras backend {backend}" if gpus else f"CPU, Keras backend {backend}"


def fit_with_early_stopping(keras, model, loss, training, validating=None, *, label: str, epochs: int, patience: int,
                            optimizer_name: str, learning_rate: float, backend: str, schedule: str = "constant",
                            log_every: float = 10.0, callbacks: tuple = ()) -> dict:
    """Compile and fit `model` on `training`; with `validating` and `patience` < `epochs`, stop
    once the validation loss has not improved for `patience` epochs and keep the best epoch's
    weights (else every epoch runs and the last one's weights are kept). `schedule` (SCHEDULES)
    shapes the learning rate over the `epochs`, whether or not training stops before them.

    Returns the epochs run, the best (kept) epoch, its losses, the device and the loss history.
    """
    model.compile(optimizer=optimizer(keras, optimizer_name, learning_rate, schedule, steps=epochs * len(training)), loss=loss)
    every = [progress_logger(keras, label, epochs, log_every), *callbacks]
    stopping = validating is not None and patience < epochs
    if stopping:
        every.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True))
    fitted = model.fit(**keras_fit_data(keras, training, validating), epochs=epochs, verbose=0, callbacks=every)
    history = {key: [float(value) for value in values] for key, values in fitted.history.items()}
    run = len(history["loss"])
    best = int(np.argmin(history["val_loss"])) if stopping else run - 1
    device = device_name(backend)
    kept = f"the weights of epoch {best + 1} (least val_loss)" if stopping else "the last epoch's weights"
    log.info("%s trained on %s: %d epochs%s, %s kept", label, device, run, " (stopped early)" if run < epochs else "", kept)
    return {"epochs": run, "best_epoch": best + 1, "loss": history["loss"][best],
            "val_loss": history["val_loss"][best] if "val_loss" in history else None, "device": device, "history": history}
