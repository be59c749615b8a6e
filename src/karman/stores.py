"""Reading and writing the workflow's Zarr stores: compressed, whole or not at all."""

from __future__ import annotations

import os
import shutil
import uuid
import warnings
from pathlib import Path

import xarray as xr
import zarr

COMPRESSORS = (zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"),)


def compressed_encoding(dataset: xr.Dataset, chunks: dict[str, int] | None = None) -> dict:
    """Blosc/Zstd compression for every data variable, with optional Zarr chunk sizes."""
    encoding = {}
    for name, variable in dataset.data_vars.items():
        entry: dict = {"compressors": COMPRESSORS}
        if chunks:
            entry["chunks"] = tuple(min(chunks.get(dim, size), size) for dim, size in zip(variable.dims, variable.shape))
        encoding[name] = entry
    return encoding


def write_store(dataset: xr.Dataset, path: str | os.PathLike, chunks: dict[str, int] | None = None) -> None:
    """Write `dataset` to a Zarr store at `path` so that it appears whole or not at all.

    The store is written next to its destination under a temporary name and renamed
    into place only once every chunk is on disk.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        dataset.to_zarr(partial, mode="w", zarr_format=3, consolidated=False, encoding=compressed_encoding(dataset, chunks))
        if path.exists():
            shutil.rmtree(path)
        os.replace(partial, path)
    finally:
        if partial.exists():
            shutil.rmtree(partial)


def open_store(path: str | os.PathLike) -> xr.Dataset:
    """Open a store lazily (Dask-backed data variables, coordinates in memory)."""
    with warnings.catch_warnings():
        # Snakemake drops a `.snakemake_timestamp` file into directory() outputs.
        warnings.filterwarnings("ignore", message=".*snakemake_timestamp.*")
        dataset = xr.open_zarr(path, consolidated=False, zarr_format=3)
    # Coordinates such as reynolds(sample) are small: load them so they can index.
    return dataset.assign_coords({name: coord.load() for name, coord in dataset.coords.items()})
