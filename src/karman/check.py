"""Store contracts and a validator that reports every violation.

Each system declares the contracts of its stores (`karman.vortex.store`,
`karman.duffing.samples`); they are documented in docs/data-format.md. The workflow checks
every store it writes (before the store appears) and every flow store it reads;
`karman check` (karman.cli) checks any store by hand.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

import numpy as np
import zarr

from karman.stores import StoreError, open_store, quiet_zarr_warnings


@dataclass(frozen=True)
class Contract:
    kind: str
    variables: dict[str, tuple[tuple[str, ...], str]]  # name -> (dims, dtype)
    coords: dict[str, tuple[str, ...]]  # name -> dims
    increasing: tuple[str, ...]  # coordinates that must be strictly increasing
    attrs: tuple[str, ...]
    optional_variables: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)


def matches(dataset, contract: Contract) -> bool:
    """Whether the dataset has the variables of `contract` with their dims (how `karman check` guesses a store's kind)."""
    return all(name in dataset.data_vars and dataset[name].dims == dims for name, (dims, _) in contract.variables.items())


def chunk_problems(path: str | os.PathLike, names: list[str]) -> list[str]:
    """Variables whose own metadata is unreadable or missing.

    The per-array metadata is read directly, not from the consolidated copy, so a damaged
    array is found too (absent or cut chunks: `karman.stores.damaged_chunks`, on opening).
    """
    problems = []
    with quiet_zarr_warnings():
        group = zarr.open_group(path, mode="r", use_consolidated=False)
        for name in names:
            try:
                group[name]
            except KeyError:
                problems.append(f"{name}: listed in the consolidated metadata, but its array is missing from the store")
                continue
            except Exception as error:
                problems.append(f"{name}: cannot read its metadata ({type(error).__name__}: {error})")
    return problems


def unreadable_chunks(path: str | os.PathLike) -> list[str]:
    """Chunks of the store's data variables that cannot be read or decoded.

    Reads every chunk once, so it costs a full pass over the data: `karman check --deep`
    and the diagnosis of a failed computation use it, the routine check does not.
    """
    problems = []
    with quiet_zarr_warnings():
        group = zarr.open_group(path, mode="r", use_consolidated=False)
        for name, array in group.arrays():
            if array.ndim < 2:  # coordinates: small, and read on opening anyway
                continue
            for block in itertools.product(*(range(n) for n in array.cdata_shape)):
                try:
                    array.get_block_selection(block)
                except Exception as error:
                    problems.append(f"{name}: chunk {'.'.join(map(str, block))} cannot be decoded ({type(error).__name__}: {error})")
    return problems


def violations(path: str | os.PathLike, contract: Contract, deep: bool = False) -> list[str]:
    """Every way in which the store at `path` breaks `contract` (empty if none)."""
    try:
        dataset = open_store(path)
    except StoreError as error:
        return [str(error)]
    found = []
    expected = {**contract.variables, **{n: s for n, s in contract.optional_variables.items() if n in dataset}}
    for name, (dims, dtype) in expected.items():
        if name not in dataset.data_vars:
            found.append(f"missing variable {name!r} {dims}")
            continue
        variable = dataset[name]
        if variable.dims != dims:
            found.append(f"variable {name!r} has dims {variable.dims}, expected {dims}")
        if variable.dtype != np.dtype(dtype):
            found.append(f"variable {name!r} has dtype {variable.dtype}, expected {dtype}")
    for name, dims in contract.coords.items():
        if name not in dataset.coords:
            found.append(f"missing coordinate {name!r} {dims}")
        elif dataset[name].dims != dims:
            found.append(f"coordinate {name!r} has dims {dataset[name].dims}, expected {dims}")
    for name in contract.increasing:
        if name in dataset.coords and dataset[name].ndim == 1 and not np.all(np.diff(dataset[name].values) > 0):
            found.append(f"coordinate {name!r} is not strictly increasing")
    for name in contract.attrs:
        if name not in dataset.attrs:
            found.append(f"missing attribute {name!r}")
    found += chunk_problems(path, [name for name in expected if name in dataset.data_vars])
    if deep and not found:
        found += unreadable_chunks(path)
    return found


def check_store(path: str | os.PathLike, contract: Contract, name: str | None = None) -> None:
    """Raise StoreError listing every violation of `contract` by the store."""
    problems = violations(path, contract)
    if problems:
        label = name or os.fspath(path)
        raise StoreError(f"{label} breaks the {contract.kind} store contract:\n  - " + "\n  - ".join(problems))
