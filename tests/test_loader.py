"""Streaming batches from the Zarr store and training-only standardisation."""

import numpy as np
import pytest
import xarray as xr

from karman.loader import SnapshotBatches, epochs, keras_dataset
from karman.stores import open_store, write_store
from karman.train import input_statistics

N_SAMPLES, CHUNK = 203, 16


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    path = tmp_path_factory.mktemp("loader") / "vorticity.zarr"
    values = np.arange(N_SAMPLES, dtype=np.float32)[:, None, None] * np.ones((1, 4, 5), np.float32)
    values[:, 0, 0] = np.nan
    dataset = xr.Dataset({"vorticity": (("sample", "y", "x"), values)}, coords={"sample": np.arange(N_SAMPLES)})
    write_store(dataset.chunk({"sample": CHUNK}), path, chunks={"sample": CHUNK})
    return open_store(path)["vorticity"]


def epoch_samples(batches):
    # each snapshot holds its own sample number in every cell but the masked one
    return np.concatenate([batches[i][0].reshape(len(batches[i][0]), -1)[:, 1] for i in range(len(batches))]).astype(int)


def test_every_training_sample_once_per_epoch_in_a_new_order(field):
    train = np.flatnonzero(np.random.default_rng(0).random(N_SAMPLES) < 0.7)
    batches = SnapshotBatches(field, train, train * 10.0, batch_size=32, shuffle=True, seed=5)
    first = epoch_samples(batches)
    assert sorted(first) == sorted(train)
    batches.next_epoch()
    second = epoch_samples(batches)
    assert sorted(second) == sorted(train) and not np.array_equal(first, second)
    again = SnapshotBatches(field, train, train * 10.0, batch_size=32, shuffle=True, seed=5)
    np.testing.assert_array_equal(epoch_samples(again), first)  # same seed, same order


def test_the_stream_runs_through_each_epoch_in_its_own_order(field):
    train = np.arange(0, N_SAMPLES, 2)
    stream = epochs(SnapshotBatches(field, train, train * 10.0, batch_size=32, shuffle=True, seed=5))
    reference = SnapshotBatches(field, train, train * 10.0, batch_size=32, shuffle=True, seed=5)
    for _ in range(3):  # each epoch whole, in the order its epoch number gives, then the next
        for i in range(len(reference)):
            snapshots, targets = next(stream)
            np.testing.assert_array_equal(snapshots, reference[i][0])
            np.testing.assert_array_equal(targets, reference[i][1])
        reference.next_epoch()


def test_targets_travel_with_their_snapshots(field):
    samples = np.arange(0, N_SAMPLES, 3)
    batches = SnapshotBatches(field, samples, samples * 10.0, batch_size=7, shuffle=True, seed=1, flatten=True)
    for i in range(len(batches)):
        snapshots, targets = batches[i]
        assert snapshots.shape[1:] == (20,)
        np.testing.assert_array_equal(snapshots[:, 1] * 10.0, targets)
        assert (snapshots[:, 0] == 0).all()  # masked cells enter as 0


def test_reads_each_chunk_once_per_epoch_and_holds_only_a_few(field):
    chunk_mb = CHUNK * 4 * 5 * 4 / 2**20
    batches = SnapshotBatches(field, np.arange(N_SAMPLES), np.zeros(N_SAMPLES), batch_size=10, shuffle=True, seed=0, shuffle_mb=3.5 * chunk_mb)
    assert batches.shuffle_chunks == 3
    n_chunks = -(-N_SAMPLES // CHUNK)
    reads = []
    for epoch in range(3):
        before = batches.chunks_read
        for i in range(len(batches)):
            batches[i]
            assert len(batches.cache) <= 4  # never the whole store
        reads.append(batches.chunks_read - before)
        batches.next_epoch()
    # every chunk once; a later epoch may start on a chunk still cached from the last one
    assert reads[0] == n_chunks and all(n_chunks - 4 <= r <= n_chunks for r in reads[1:]), reads


def test_unshuffled_batches_keep_the_sample_order(field):
    batches = SnapshotBatches(field, np.arange(N_SAMPLES), np.zeros(N_SAMPLES), batch_size=50)
    np.testing.assert_array_equal(epoch_samples(batches), np.arange(N_SAMPLES))
    assert batches[0][0].shape == (50, 4, 5, 1)


def test_standardisation_uses_the_training_samples_only(field):
    train = np.arange(0, 100)
    mean, variance = input_statistics(field, train)
    expected = np.nan_to_num(field.values[train])
    assert mean == pytest.approx(expected.mean()) and variance == pytest.approx(expected.var())
    # the other samples (100..202) are larger and would shift both if they leaked in
    everything = np.nan_to_num(field.values)
    assert mean < everything.mean()


def test_per_cell_standardisation_uses_the_training_samples_only(field):
    train = np.arange(0, 100, 2)
    mean, variance = input_statistics(field, train, "per-cell")
    expected = np.nan_to_num(field.values[train])
    assert mean.shape == variance.shape == (4, 5)
    np.testing.assert_allclose(mean, expected.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(variance, expected.var(axis=0), rtol=1e-5)
    assert mean[0, 0] == 0 and variance[0, 0] == 0  # the masked cell


def test_handing_the_batches_to_keras_reads_no_chunk(field):
    """Keras is told the batches' shapes from the store's metadata, not from a batch read for it."""
    from karman.keras_fit import configure_keras

    keras = configure_keras("tensorflow", seed=0, threads=1, gpu=False)
    batches = SnapshotBatches(field, np.arange(N_SAMPLES), np.zeros(N_SAMPLES), batch_size=10)
    inputs, targets = keras_dataset(keras, batches).element_spec
    assert batches.chunks_read == 0
    assert tuple(inputs.shape) == (None, *batches[0][0].shape[1:]) == (None, 4, 5, 1) and tuple(targets.shape) == (None,)
