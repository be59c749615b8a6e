"""Batches of snapshots read from the Zarr store, chunk by chunk, never the whole store.

`SnapshotBatches` knows nothing about Keras: it turns a lazy DataArray whose first
dimension is `sample` — vorticity snapshots (sample, y, x), Duffing response curves
(sample, frequency) or images (sample, force, frequency, channel) — and a list of samples
into batches, holding at most `shuffle_mb` of Zarr chunks (plus one
chunk) in memory. Shuffling is chunk-aware: each epoch the chunks are taken in a random
order, in windows of as many chunks as fit in `shuffle_mb`, and the samples inside a
window are shuffled, so every chunk is read once per epoch while batches mix snapshots
from many chunks. A training split that fits in `shuffle_mb` is shuffled completely.

`epochs` strings the epochs into one endless stream of batches, and `keras_fit_data` hands
that stream to Keras `fit`.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import xarray as xr


class SnapshotBatches:
    def __init__(self, field: xr.DataArray, samples: np.ndarray, targets: np.ndarray, batch_size: int, *,
                 shuffle: bool = False, seed: int = 0, flatten: bool = False, shuffle_mb: float = 256):
        if len(samples) == 0:
            raise ValueError("no samples to batch")
        self.field = field
        self.samples = np.asarray(samples)
        self.targets = np.asarray(targets, dtype=np.float32)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.flatten = flatten
        cells = field.shape[1:]
        # the shape of one sample as a model sees it: (y, x) snapshots get one channel
        self.sample_shape = (int(np.prod(cells)),) if flatten else (*cells, 1) if len(cells) == 2 else tuple(cells)
        bounds = np.cumsum((0, *field.chunks[0])) if field.chunks else np.array([0, field.sizes["sample"]])
        chunk_mb = np.diff(bounds).max() * np.prod(cells) * 4 / 2**20
        self.shuffle_chunks = max(1, int(shuffle_mb // chunk_mb))
        self.cache_chunks = self.shuffle_chunks + 1
        self.chunk_bounds = bounds
        self.chunk_of_sample = np.searchsorted(bounds, self.samples, side="right") - 1
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.chunks_read = 0
        self.epoch = 0
        self.order = self.epoch_order()

    @property
    def shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The shape of one sample's inputs and of its targets, known without reading the store."""
        return self.sample_shape, self.targets.shape[1:]

    def epoch_order(self) -> np.ndarray:
        """Positions into `samples` in the order this epoch visits them."""
        if not self.shuffle:
            return np.arange(len(self.samples))
        rng = np.random.default_rng([self.seed, self.epoch])
        chunks = rng.permutation(np.unique(self.chunk_of_sample))
        order = []
        for start in range(0, len(chunks), self.shuffle_chunks):
            window = np.flatnonzero(np.isin(self.chunk_of_sample, chunks[start : start + self.shuffle_chunks]))
            order.append(rng.permutation(window))
        return np.concatenate(order)

    def __len__(self) -> int:
        return -(-len(self.samples) // self.batch_size)

    def chunk(self, index: int) -> np.ndarray:
        """One Zarr chunk of snapshots, masked cells as 0, from the cache or the store."""
        if index in self.cache:
            self.cache.move_to_end(index)
            return self.cache[index]
        start, stop = self.chunk_bounds[index], self.chunk_bounds[index + 1]
        values = np.nan_to_num(self.field.isel(sample=slice(start, stop)).values.astype(np.float32), nan=0.0)
        self.chunks_read += 1
        self.cache[index] = values
        while len(self.cache) > self.cache_chunks:
            self.cache.popitem(last=False)
        return values

    def __getitem__(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= batch < len(self):
            raise IndexError(batch)
        positions = self.order[batch * self.batch_size : (batch + 1) * self.batch_size]
        samples = self.samples[positions]
        chunks = self.chunk_of_sample[positions]
        snapshots = np.stack([self.chunk(c)[s - self.chunk_bounds[c]] for s, c in zip(samples, chunks)])
        return snapshots.reshape(len(snapshots), *self.sample_shape), self.targets[positions]

    def next_epoch(self) -> None:
        self.epoch += 1
        self.order = self.epoch_order()


def epochs(batches):
    """Every batch of every epoch, one epoch after another, without end."""
    while True:
        for index in range(len(batches)):
            yield batches[index]
        batches.next_epoch()


def keras_fit_data(keras, training, validating=None) -> dict:
    """The data arguments of Keras `fit` for `training` and, if given, `validating` batches: any
    batches with len, indexing (inputs: an array or a dict of arrays, targets) and `next_epoch`."""
    # shuffle=False: the batches shuffle themselves chunk-aware; Keras's batch-order
    # shuffling would make every batch read different Zarr chunks.
    data = {"x": keras_dataset(keras, training), "steps_per_epoch": len(training), "shuffle": False}
    if validating is not None:
        data |= {"validation_data": keras_dataset(keras, validating), "validation_steps": len(validating)}
    return data


def keras_dataset(keras, batches):
    """The endless `epochs(batches)` as Keras input (Keras must already be imported).

    `fit` needs `steps_per_epoch=len(batches)`, as `keras_fit_data` gives. Each iterator
    Keras makes runs a new `epochs(batches)` from the first batch of the current epoch
    (Keras reads one batch to build the model, then starts again). Batches are read one at
    a time as Keras asks for them, so an epoch's order is set where its batches are read,
    not by an epoch-end hook (Keras calls a PyDataset's `on_epoch_end` once more when `fit`
    starts, which put every epoch one order ahead). The shapes come from `batches.shapes`
    where the batches know them (`SnapshotBatches`: no chunk read for them), else from the
    first batch.
    """
    if hasattr(batches, "shapes"):
        shapes, target_shape = batches.shapes
    else:
        inputs, targets = batches[0]
        shapes = {name: np.shape(value)[1:] for name, value in inputs.items()} if isinstance(inputs, dict) else np.shape(inputs)[1:]
        target_shape = np.shape(targets)[1:]
    return endless_keras_input(keras, lambda: epochs(batches), shapes, target_shape)


def endless_keras_input(keras, stream, input_shape, target_shape):
    """An endless stream of (inputs, targets) batches, made anew by `stream()` for each
    iterator Keras asks for, as Keras input: a tf.data dataset on TensorFlow, a PyDataset on
    the other backends. `input_shape` is one sample's shape, or a dict of them for named
    inputs; the batches are float32.

    No reader threads: a PyDataset with workers costs more at every epoch's end than its
    threads save on samples this small, and tf.data's autotuned prefetching slows the CNN
    on a few cores.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        def spec(shape):
            return tf.TensorSpec((None, *shape), tf.float32)

        inputs = {name: spec(shape) for name, shape in input_shape.items()} if isinstance(input_shape, dict) else spec(input_shape)
        options = tf.data.Options()
        options.autotune.enabled = False
        options.threading.private_threadpool_size = 1
        return tf.data.Dataset.from_generator(stream, output_signature=(inputs, spec(target_shape))).with_options(options)

    class EpochStream(keras.utils.PyDataset):
        """Keras reads an endless PyDataset as batch 0, 1, 2, … of a new iterator."""

        num_batches = None

        def __getitem__(self, index):
            if index == 0:
                self.stream = stream()
            return next(self.stream)

    return EpochStream()
