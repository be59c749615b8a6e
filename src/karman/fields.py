"""The `fields` stage: vorticity of the flow stores, cropped to the wake, downsampled.

Everything is lazy (xarray + Dask) and chunked along time/sample, so memory is bounded
by the chunk size, not by the size of the dataset.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import dask
import numpy as np
import xarray as xr

from karman import __version__
from karman.stores import open_store, write_store

log = logging.getLogger(__name__)


def vorticity(u: xr.DataArray, v: xr.DataArray) -> xr.DataArray:
    """ω = ∂v/∂x − ∂u/∂y by second-order central differences in physical units.

    Edges use second-order one-sided differences; NaN (masked) cells propagate to
    their neighbours. Lazy when `u` and `v` are Dask-backed.
    """
    omega = v.differentiate("x", edge_order=2) - u.differentiate("y", edge_order=2)
    return omega.astype(np.float32).rename("vorticity").assign_attrs(long_name="vorticity", units="U/D")


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


def vorticity_samples(flow: xr.Dataset, crop: dict, downsample: dict) -> xr.DataArray:
    """Vorticity snapshots of one flow store as (sample, y, x) with reynolds/time coords."""
    omega = crop_and_downsample(vorticity(flow["u"], flow["v"]), crop, downsample)
    times = flow["time"].values
    omega = omega.drop_vars("time").rename({"time": "sample"})
    return omega.assign_coords(
        time=("sample", times, {"units": "D/U"}),
        reynolds=("sample", np.full(len(times), float(flow.attrs["reynolds"]))),
    )


def build_vorticity_dataset(flow_paths: Sequence[str | os.PathLike], crop: dict, downsample: dict, sample_chunk: int) -> xr.Dataset:
    """Lazily assemble the vorticity dataset from the flow stores, one sample axis for all Re."""
    flows = [open_store(path) for path in flow_paths]
    samples = xr.concat([vorticity_samples(flow, crop, downsample) for flow in flows], dim="sample")
    samples = samples.assign_coords(sample=np.arange(samples.sizes["sample"]))
    samples = samples.chunk({"sample": sample_chunk, "y": -1, "x": -1})
    return samples.to_dataset().assign_attrs(
        operator="central differences (second order), physical units",
        crop=str(crop),
        downsample=str(downsample),
        sources=[os.fspath(path) for path in flow_paths],
        karman_version=__version__,
    )


def write_vorticity(flow_paths: Sequence[str | os.PathLike], output: str | os.PathLike, *, crop: dict, downsample: dict, sample_chunk: int, threads: int = 1) -> None:
    """The `fields` stage: compute vorticity from the flow stores and write the Zarr store."""
    dataset = build_vorticity_dataset(flow_paths, crop, downsample, sample_chunk)
    log.info("vorticity: %d samples of %d x %d cells from %d flow stores, chunks of %d samples, %d threads",
             dataset.sizes["sample"], dataset.sizes["y"], dataset.sizes["x"], len(flow_paths), sample_chunk, threads)
    with dask.config.set(scheduler="threads", num_workers=threads):
        write_store(dataset, output, chunks={"sample": sample_chunk})
    log.info("wrote %s", output)
