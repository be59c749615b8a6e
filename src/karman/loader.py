"""Batches of snapshots read from the Zarr store, chunk by chunk, never the whole store.

`SnapshotBatches` knows nothing about Keras: it turns a lazy DataArray whose first
dimension is `sample` — vorticity snapshots (sample, y, x), Duffing response curves
(sample, frequency) or images (sample, force, frequency, channel) — and a list of samples
into batches, holding at most `shuffle_mb` of Zarr chunks (plus one
chunk) in memory. Shuffling is chunk-aware: each epoch the chunks are taken in a random
order, in windows of as many chunks as fit in `shuffle_mb`, and the samples inside a
window are shuffled, so every chunk is read once per epoch while batches mix snapshots
from many chunks. A training split that fits in `shuffle_mb` is shuffled completely.
"""

from __future__ import annotations

import threading
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
        bounds = np.cumsum((0, *field.chunks[0])) if field.chunks else np.array([0, field.sizes["sample"]])
        chunk_mb = np.diff(bounds).max() * np.prod(field.shape[1:]) * 4 / 2**20
        self.shuffle_chunks = max(1, int(shuffle_mb // chunk_mb))
        self.cache_chunks = self.shuffle_chunks + 1
        self.chunk_bounds = bounds
        self.chunk_of_sample = np.searchsorted(bounds, self.samples, side="right") - 1
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.lock = threading.Lock()
        self.chunks_read = 0
        self.epoch = 0
        self.order = self.epoch_order()

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
        with self.lock:
            return self._chunk(index)

    def _chunk(self, index: int) -> np.ndarray:
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
        if self.flatten:
            snapshots = snapshots.reshape(len(snapshots), -1)
        elif snapshots.ndim == 3:  # (sample, y, x) snapshots become one-channel images
            snapshots = snapshots[..., np.newaxis]
        return snapshots, self.targets[positions]

    def next_epoch(self) -> None:
        self.epoch += 1
        self.order = self.epoch_order()


def keras_dataset(keras, batches: SnapshotBatches):
    """Wrap `batches` as a `keras.utils.PyDataset` (Keras must already be imported)."""

    class ZarrSnapshots(keras.utils.PyDataset):
        def __init__(self):
            # Two reader threads keep a queue of batches ready while the model trains
            # (batches keep their order; the chunk cache is shared under a lock).
            super().__init__(workers=2, use_multiprocessing=False, max_queue_size=16)

        def __len__(self):
            return len(batches)

        def __getitem__(self, index):
            return batches[index]

        def on_epoch_end(self):
            batches.next_epoch()

    return ZarrSnapshots()
