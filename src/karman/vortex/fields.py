"""The `fields` stage: vorticity of the flow stores, cropped to the wake, downsampled.

Everything is lazy (xarray + Dask) and chunked along time/sample, so memory is bounded
by the chunk size, not by the size of the dataset. The Dask scheduler is the threaded
one with as many threads as the rule was given, or a `dask.distributed` cluster when
Dask's `scheduler-address` is configured (e.g. `DASK_SCHEDULER_ADDRESS=tcp://host:8786`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence

import dask
import numpy as np
import xarray as xr

from karman import __version__
from karman.check import check_store, unreadable_chunks
from karman.stores import StoreError, open_store, write_store
from karman.vortex.parameters import flow_parameters
from karman.vortex.store import FLOW, VORTICITY

log = logging.getLogger(__name__)

OPERATORS = {
    "central": "second-order central differences (second-order one-sided at the edges) in physical units, U/D",
    "forward": "the course notebooks' forward differences in grid-index units (no spacing), last row and column dropped",
}


def vorticity(u: xr.DataArray, v: xr.DataArray, operator: str = "central") -> xr.DataArray:
    """ω = ∂v/∂x − ∂u/∂y of velocity fields with `x`, `y` dimensions; lazy on Dask arrays.

    `central` differentiates in the physical units of the coordinates. `forward`
    reproduces the course notebooks (differences between neighbouring cells, no
    spacing), for parity with their numbers. NaN (masked) cells spread to the cells
    whose stencil touches them.
    """
    if operator == "central":
        omega = v.differentiate("x", edge_order=2) - u.differentiate("y", edge_order=2)
    elif operator == "forward":
        dv_dx = v.diff("x", label="lower").isel(y=slice(None, -1))
        du_dy = u.diff("y", label="lower").isel(x=slice(None, -1))
        omega = dv_dx - du_dy
    else:
        raise ValueError(f"fields.operator {operator!r} is not known; allowed: {', '.join(OPERATORS)}")
    units = "U/D" if operator == "central" else "U per cell"
    return omega.astype(np.float32).rename("vorticity").assign_attrs(long_name="vorticity", units=units)


def crop_and_downsample(field: xr.DataArray, crop: dict, downsample: dict) -> xr.DataArray:
    """Cut the wake window (in cylinder diameters) and reduce the resolution.

    `crop` has `x` and `y` as [low, high] in D; `downsample` has an integer `factor` and
    a `method`, `stride` (keep every factor-th cell) or `mean` (block average).
    """
    window = field.sel(x=slice(*crop["x"]), y=slice(*crop["y"]))
    if 0 in (window.sizes["x"], window.sizes["y"]):
        raise ValueError(f"fields.crop {crop} selects no grid cells; the flow grid spans x {float(field.x.min()):.2f}..{float(field.x.max()):.2f}, y {float(field.y.min()):.2f}..{float(field.y.max()):.2f} D")
    factor = int(downsample["factor"])
    if factor == 1:
        return window
    if downsample["method"] == "stride":
        return window.isel(x=slice(None, None, factor), y=slice(None, None, factor))
    return window.coarsen(x=factor, y=factor, boundary="trim").mean().astype(np.float32)


def window_shape(flow: dict, fields: dict) -> tuple[int, int]:
    """(ny, nx) of the vorticity snapshots that the `flow` and `fields` config sections give,
    without simulating anything."""
    return grid_window_shape(*flow_parameters(1.0, flow).coordinates(), fields)


def grid_window_shape(x: np.ndarray, y: np.ndarray, fields: dict) -> tuple[int, int]:
    """(ny, nx) of the vorticity snapshots of a flow on the grid `x`, `y` (cell positions in D)."""
    trim = 1 if fields["operator"] == "forward" else 0
    shape = []
    for coordinate, (low, high) in ((y[: len(y) - trim], fields["crop"]["y"]), (x[: len(x) - trim], fields["crop"]["x"])):
        cells = int(np.count_nonzero((coordinate >= low) & (coordinate <= high)))
        factor = fields["downsample"]["factor"]
        shape.append(-(-cells // factor) if fields["downsample"]["method"] == "stride" else cells // factor)
    return shape[0], shape[1]


def vorticity_samples(flow: xr.Dataset, crop: dict, downsample: dict, operator: str = "central") -> xr.DataArray:
    """Vorticity snapshots of one flow store as (sample, y, x) with reynolds/time coords.

    Cells inside the cylinder are NaN.
    """
    omega = vorticity(flow["u"], flow["v"], operator)
    if "cylinder" in flow:
        omega = omega.where(~flow["cylinder"].sel(x=omega.x, y=omega.y))
    omega = crop_and_downsample(omega, crop, downsample)
    times = flow["time"].values
    omega = omega.drop_vars("time").rename({"time": "sample"})
    return omega.assign_coords(
        time=("sample", times, {"units": "D/U"}),
        reynolds=("sample", np.full(len(times), float(flow.attrs["reynolds"]))),
    )


def build_vorticity_dataset(flow_paths: Sequence[str | os.PathLike], crop: dict, downsample: dict, sample_chunk: int,
                            operator: str = "central") -> xr.Dataset:
    """Lazily assemble the vorticity dataset from the flow stores, one sample axis for all Re.

    Each flow store is checked against the flow contract first.
    """
    for path in flow_paths:
        check_store(path, FLOW)
    flows = [open_store(path) for path in flow_paths]
    samples = xr.concat([vorticity_samples(flow, crop, downsample, operator) for flow in flows], dim="sample")
    samples = samples.assign_coords(sample=np.arange(samples.sizes["sample"]))
    samples = samples.chunk({"sample": sample_chunk, "y": -1, "x": -1})
    return samples.to_dataset().assign_attrs(
        operator=f"{operator}: {OPERATORS[operator]}",
        crop=dict(crop),
        downsample=dict(downsample),
        sources=[os.fspath(path) for path in flow_paths],
        karman_version=__version__,
        # What the shared stages read (karman.stores.declaration): models predict Re, and the
        # snapshots of one Re are correlated (one simulation), so splits keep them together.
        targets=["reynolds"],
        grouping="reynolds",
    )


@contextlib.contextmanager
def dask_scheduler(threads: int):
    """The distributed cluster at Dask's `scheduler-address` if one is configured,
    otherwise the threaded scheduler with `threads` workers."""
    address = dask.config.get("scheduler-address", None)
    if address:
        from distributed import Client

        log.info("computing on the dask.distributed cluster at %s", address)
        with Client(address) as client:
            yield client
    else:
        log.info("computing with the threaded Dask scheduler, %d threads", threads)
        with dask.config.set(scheduler="threads", num_workers=threads):
            yield None


def write_vorticity(flow_paths: Sequence[str | os.PathLike], output: str | os.PathLike, *, crop: dict, downsample: dict,
                    sample_chunk: int, operator: str = "central", threads: int = 1) -> None:
    """The `fields` stage: compute vorticity from the flow stores and write the Zarr store."""
    dataset = build_vorticity_dataset(flow_paths, crop, downsample, sample_chunk, operator)
    log.info("vorticity (%s): %d samples of %d x %d cells from %d flow stores, chunks of %d samples",
             operator, dataset.sizes["sample"], dataset.sizes["y"], dataset.sizes["x"], len(flow_paths), sample_chunk)
    try:
        with dask_scheduler(threads):
            write_store(dataset, output, chunks={"sample": sample_chunk}, check=lambda path, name: check_store(path, VORTICITY, name))
    except Exception as error:
        # Name the damaged input chunk, if that is what failed, instead of a bare decoder error.
        damaged = [f"{path}: {problem}" for path in flow_paths for problem in unreadable_chunks(path)]
        if damaged:
            raise StoreError("cannot compute vorticity, the flow stores are damaged:\n  - " + "\n  - ".join(damaged)) from error
        raise
    log.info("wrote %s", output)
