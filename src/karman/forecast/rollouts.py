"""A Keras forecaster's rollout: one step function, applied `steps` times to a whole batch.

A step is `step(call, state) -> (state, output)`, written in `keras.ops` so that every
backend runs it; `call(inputs)` is the network. `roll` runs it

- compiled (the default), the whole rollout one XLA program: with JAX, the model's
  `stateless_call` inside `jax.lax.scan` under `jax.jit`; with TensorFlow, a
  `tf.function(jit_compile=True)` loop. The same code runs on a GPU where Keras has one;
- step by step (`compiled=False`, and on any other backend): a Python loop over the
  steps, the network called through Keras' compiled predict function once per step.

Both give the same rollout to float32 round-off (tests/forecast/test_networks.py).
A compiled rollout is traced once per number of steps and batch shape, and kept in `cache`.
"""

from __future__ import annotations

import numpy as np

COMPILED_BACKENDS = ("jax", "tensorflow")


def roll(keras, model, step, state, steps: int, *, compiled: bool = True, cache: dict | None = None) -> np.ndarray:
    """The outputs (steps, …) of `steps` applications of `step` from `state` (a tuple of float32 arrays)."""
    backend = keras.backend.backend()
    if not compiled or backend not in COMPILED_BACKENDS:
        outputs = []
        for _ in range(steps):
            state, output = step(model.predict_on_batch, state)
            outputs.append(keras.ops.convert_to_numpy(output))
        return np.stack(outputs)
    cache = {} if cache is None else cache
    if (backend, steps) not in cache:
        cache[backend, steps] = (scanned_jax if backend == "jax" else scanned_tensorflow)(model, step, steps)
    return np.asarray(cache[backend, steps](state))


def scanned_jax(model, step, steps: int):
    """The whole rollout as one jitted `jax.lax.scan` over the model's `stateless_call`."""
    import jax

    @jax.jit
    def run(trainable, non_trainable, state):
        def call(inputs):
            return model.stateless_call(trainable, non_trainable, inputs, training=False)[0]

        return jax.lax.scan(lambda carried, _: step(call, carried), state, None, length=steps)[1]

    return lambda state: run([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables], state)


def scanned_tensorflow(model, step, steps: int):
    """The whole rollout as one `tf.function(jit_compile=True)`: a loop of `steps` steps."""
    import tensorflow as tf

    def call(inputs):
        return model(inputs, training=False)

    @tf.function(jit_compile=True, reduce_retracing=True)
    def run(state):
        outputs = tf.TensorArray(tf.float32, size=steps)
        for index in tf.range(steps):
            state, output = step(call, state)
            outputs = outputs.write(index, output)
        return outputs.stack()

    return lambda state: run(tuple(tf.convert_to_tensor(part) for part in state))
