"""Reading and writing the workflow's Zarr stores: compressed, checked, whole or not at all."""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import xarray as xr
import zarr

from karman.atomic import partial_path

COMPRESSORS = (zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"),)


class StoreError(ValueError):
    """A store that cannot be read or breaks its contract; the message names the store."""


def compressed_encoding(dataset: xr.Dataset, chunks: dict[str, int] | None = None) -> dict:
    """Blosc/Zstd compression for every data variable, with optional Zarr chunk sizes."""
    encoding = {}
    for name, variable in dataset.data_vars.items():
        entry: dict = {"compressors": COMPRESSORS}
        if chunks:
            entry["chunks"] = tuple(min(chunks.get(dim, size), size) for dim, size in zip(variable.dims, variable.shape))
        encoding[name] = entry
    return encoding


@contextlib.contextmanager
def quiet_zarr_warnings():
    """Silence two known, harmless Zarr warnings.

    - Snakemake drops a `.snakemake_timestamp` file into directory() outputs;
    - consolidated metadata is not (yet) part of the Zarr v3 specification, but zarr-python
      and xarray read it, and it saves one request per variable on opening.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*snakemake_timestamp.*")
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        yield


def write_store(dataset: xr.Dataset, path: str | os.PathLike, chunks: dict[str, int] | None = None,
                check: Callable[[Path, str], None] | None = None) -> None:
    """Write `dataset` to a Zarr store at `path` so that it appears whole or not at all.

    The store is written next to its destination under a temporary name, checked with
    `check(partial_path, name_for_messages)` if given, and renamed into place only then.
    """
    path = Path(path)
    partial = partial_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with quiet_zarr_warnings():
            # every chunk written, even one of fill values only: a missing chunk file then means damage (damaged_chunks)
            dataset.to_zarr(partial, mode="w", zarr_format=3, consolidated=True, encoding=compressed_encoding(dataset, chunks),
                            write_empty_chunks=True)
        if check is not None:
            check(partial, os.fspath(path))
        if path.exists():
            shutil.rmtree(path)
        os.replace(partial, path)
    except OSError as error:  # a full disk, a read-only folder: the reason and the store, not a traceback from deep in Zarr
        raise StoreError(f"{os.fspath(path)}: cannot write the store: {error.strerror or error}"
                         f"{f' ({error.filename})' if error.filename else ''}; nothing of it was kept. "
                         "Free space or make the folder writable, then rerun") from error
    finally:
        if partial.exists():
            shutil.rmtree(partial)


def open_store(path: str | os.PathLike) -> xr.Dataset:
    """Open a store lazily (Dask-backed data variables, coordinates in memory).

    A store that does not exist or whose metadata cannot be read raises StoreError
    naming the store, not an error from deep inside Zarr.
    """
    if not Path(path).is_dir():
        raise StoreError(f"{os.fspath(path)}: no Zarr store there")
    try:
        with quiet_zarr_warnings():
            damaged = damaged_chunks(path)
            if damaged:
                raise StoreError(f"{os.fspath(path)} is damaged: {', '.join(damaged[:3])}{' and more' if len(damaged) > 3 else ''}. "
                                 f"Remove it (rm -r {os.fspath(path)}) and rerun: the workflow writes it again")
            dataset = xr.open_zarr(path, zarr_format=3)
        # Coordinates such as reynolds(sample) are small: load them so they can index.
        return dataset.assign_coords({name: coord.load() for name, coord in dataset.coords.items()})
    except StoreError:
        raise
    except Exception as error:  # zarr/xarray raise many kinds: JSON, KeyError, ValueError…
        raise StoreError(f"{os.fspath(path)}: cannot read the store ({type(error).__name__}: {error})") from error


def damaged_chunks(path: str | os.PathLike) -> list[str]:
    """The chunk files of a store that are missing or cut short, as "chunk u/c/3/0/0 is missing".

    Zarr reads a missing chunk as fill values without a word, so a deleted file would go
    unnoticed; `write_store` writes every chunk, so each one must be there. A Blosc chunk
    states its own length in its header (bytes 12–16), so a truncated one is found without
    decompressing it (a chunk garbled within its length is found only on decoding).
    """
    problems = []
    for name, array in zarr.open_group(path, mode="r", zarr_format=3).arrays():
        grid = [range(math.ceil(size / chunk)) for size, chunk in zip(array.shape, array.chunks)]
        blosc = isinstance(array.metadata.codecs[-1], zarr.codecs.BloscCodec)
        for index in itertools.product(*grid):
            key = f"{name}/{array.metadata.chunk_key_encoding.encode_chunk_key(index)}"
            file = Path(path) / key
            if not file.is_file():
                problems.append(f"chunk {key} is missing")
            elif blosc:
                with open(file, "rb") as chunk:
                    header = chunk.read(16)
                if len(header) < 16 or int.from_bytes(header[12:16], "little") != file.stat().st_size:
                    problems.append(f"chunk {key} is cut short or garbled ({file.stat().st_size} bytes)")
    return problems


@dataclass(frozen=True)
class Declaration:
    """What a store of samples declares to the shared stages (split, train, report).

    `variable`: the data variable whose entries along `sample` are the model inputs;
    `targets`: the coordinates along `sample` that models predict; `grouping`: a
    coordinate along `sample` whose equal values mark correlated samples (the Reynolds
    number of one simulation), or None where every sample is drawn independently.
    """

    variable: str
    targets: tuple[str, ...]
    grouping: str | None


def declaration(store: xr.Dataset) -> Declaration:
    """The declaration in a store's attrs (`targets`, optional `grouping`); the samples are its one data variable along `sample`."""
    variables = [name for name, variable in store.data_vars.items() if variable.dims[:1] == ("sample",)]
    if len(variables) != 1 or "targets" not in store.attrs:
        raise StoreError(f"{store.encoding.get('source', 'the store')} declares no samples: it needs one data variable along `sample` "
                         f"(found {variables}) and the attribute `targets`")
    return Declaration(variables[0], tuple(store.attrs["targets"]), store.attrs.get("grouping"))
