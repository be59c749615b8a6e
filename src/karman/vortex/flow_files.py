"""Downloaded flow files read into velocity fields in the file's own units (`read_fields`).

Formats (`flow.download.format`):

- `course`: the course notebooks' files. They are named `.npz` but were written with
  `ndarray.dump()`: a pickle of one float array (time, x, y, 2) whose component 0 is the
  streamwise velocity *negated* and component 1 the transverse velocity. They are read
  with `ArrayUnpickler`, which admits the few numpy globals an ndarray needs and refuses
  everything else, so a malicious file cannot run code. Plain `pickle.load` and
  `np.load(allow_pickle=True)` are never used.
- `npy`: a real .npy array of the same (time, x, y, 2) layout, u not negated.
- `npz`: a real .npz with arrays `u` and `v` (time, y, x) — and optionally 1-D `x`,
  `y`, `time` — or with a single array laid out as for `npy`.
- `netcdf`: a NetCDF file opened with xarray, variables `u`, `v` with dims (time, y, x)
  in any order. NetCDF3 is read by scipy; NetCDF4/HDF5 needs h5netcdf or netCDF4.
- `zarr`: a Zarr store zipped into one file (zarr's ZipStore layout), variables as for
  `netcdf`.

Every file must have the grid the `flow.download` settings describe (`expected_grid`).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from karman.fetch import DownloadError
from karman.stores import quiet_zarr_warnings
from karman.vortex.course_pickle import load_pickled_array

FORMATS = {
    "course": "the course notebooks' ndarray.dump() pickle (time, x, y, 2), u negated",
    "npy": ".npy array (time, x, y, 2)",
    "npz": ".npz with u, v (time, y, x) or one (time, x, y, 2) array",
    "netcdf": "NetCDF with u, v (time, y, x)",
    "zarr": "zipped Zarr store with u, v (time, y, x)",
}
# The schema's defaults (schemas/config.schema.yaml), for use of the library without the workflow:
# the course notebooks' small public files.
DEFAULTS = {
    "format": "course",
    "diameter_cells": 6.4,
    "domain_length": 20.0,
    "domain_height": 10.0,
    "cylinder_x": 3.0,
    "cylinder_y": 5.15625,
    "inflow_velocity": 0.05,
    "frame_interval": 0.0625,
}


@dataclass
class VelocityFields:
    """u, v (time, y, x) in the file's velocity units (u times `u_sign`: the course stores -u);
    coordinates the file carried, else None; the `units` attributes the file gave them."""

    u: np.ndarray
    v: np.ndarray
    u_sign: float = 1.0
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    time: np.ndarray | None = None
    units: dict[str, str] = field(default_factory=dict)


def expected_grid(settings: dict) -> tuple[int, int]:
    """(ny, nx) cells that every file must have, from the `flow.download` settings."""
    cells = settings["diameter_cells"]
    return int(round(settings["domain_height"] * cells)), int(round(settings["domain_length"] * cells))


def grid_coordinates(settings: dict) -> tuple[np.ndarray, np.ndarray]:
    """Cell positions (x, y) in diameters, origin at the cylinder centre, for data without coordinates."""
    ny, nx = expected_grid(settings)
    spacing = 1.0 / settings["diameter_cells"]
    return np.arange(nx) * spacing - settings["cylinder_x"], np.arange(ny) * spacing - settings["cylinder_y"]


def _component_array(array: np.ndarray, url: str, settings: dict, negate_u: bool) -> VelocityFields:
    """Split a (time, x, y, 2) array into u, v (time, y, x)."""
    ny, nx = expected_grid(settings)
    if array.ndim != 4 or array.shape[3] != 2 or array.shape[1:3] != (nx, ny) or array.shape[0] < 1:
        swapped = " (x and y look swapped: this layout has x before y)" if nx != ny and array.shape[1:3] == (ny, nx) else ""
        raise DownloadError(
            f"{url}: expected an array (time, x, y, components) of shape (frames, {nx}, {ny}, 2) for "
            f"flow.download.format {settings['format']!r} (grid from flow.download.diameter_cells, domain_length, domain_height), "
            f"got shape {tuple(array.shape)}{swapped}"
        )
    check_numeric(array.dtype, url, "the array")
    return VelocityFields(u=np.transpose(array[..., 0], (0, 2, 1)), v=np.transpose(array[..., 1], (0, 2, 1)),
                          u_sign=-1.0 if negate_u else 1.0)


def check_numeric(dtype: np.dtype, url: str, what: str) -> None:
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise DownloadError(f"{url}: {what} has dtype {dtype}; expected real numbers (float)")


def read_course(path: Path, url: str, settings: dict) -> VelocityFields:
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic.startswith(b"\x93NUMPY") or magic.startswith(b"PK"):
        kind = "npy" if magic.startswith(b"\x93NUMPY") else "npz"
        raise DownloadError(f"{url}: this is a real .{kind} file, not the course's pickled array: set flow.download.format: {kind}")
    array = load_pickled_array(path)
    return _component_array(array, url, settings, negate_u=True)


def read_npy(path: Path, url: str, settings: dict) -> VelocityFields:
    return _component_array(np.load(path, allow_pickle=False), url, settings, negate_u=False)


def read_npz(path: Path, url: str, settings: dict) -> VelocityFields:
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        if "u" in names and "v" in names:
            coords = {name: np.asarray(archive[name], dtype=np.float64) for name in ("x", "y", "time") if name in names}
            fields = VelocityFields(u=archive["u"], v=archive["v"], **coords)
        elif len(names) == 1:
            return _component_array(archive[names[0]], url, settings, negate_u=False)
        else:
            raise DownloadError(f"{url}: expected arrays 'u' and 'v' (time, y, x), or a single (time, x, y, 2) array, in the .npz; it holds {names}")
    return fields


def _from_xarray(dataset: xr.Dataset, url: str) -> VelocityFields:
    missing = [name for name in ("u", "v") if name not in dataset.data_vars]
    if missing:
        raise DownloadError(f"{url}: expected variables 'u' and 'v' with dims (time, y, x); missing {missing} (it has {sorted(map(str, dataset.data_vars))})")
    arrays = {}
    for name in ("u", "v"):
        variable = dataset[name]
        if set(variable.dims) != {"time", "y", "x"} or variable.ndim != 3:
            raise DownloadError(
                f"{url}: variable {name!r} has dims {variable.dims}; expected the three dims 'time', 'y', 'x' (in any order, "
                "named exactly so: time in D/U, y across and x along the flow, in cylinder diameters D). Rename them in the file "
                "(e.g. xarray's `dataset.rename({'t': 'time', 'lat': 'y', 'lon': 'x'})`) and put the file's new sha256 in the config."
            )
        arrays[name] = variable.transpose("time", "y", "x").values
    coords = {name: np.asarray(dataset[name].values, dtype=np.float64) for name in ("x", "y", "time") if name in dataset.coords}
    units = {name: str(dataset[name].attrs["units"]) for name in (*coords, "u", "v") if "units" in dataset[name].attrs}
    return VelocityFields(u=arrays["u"], v=arrays["v"], units=units, **coords)


def read_netcdf(path: Path, url: str, settings: dict) -> VelocityFields:
    with open(path, "rb") as handle:
        magic = handle.read(8)
    engine = "scipy" if magic.startswith(b"CDF") else None  # NetCDF3; HDF5-based NetCDF4 needs h5netcdf/netCDF4
    try:
        with xr.open_dataset(path, engine=engine, decode_times=False, cache=False) as dataset:
            return _from_xarray(dataset.load(), url)
    except (ValueError, ImportError) as error:
        if magic.startswith(b"\x89HDF") and "engine" in str(error):
            raise DownloadError(f"{url}: this is a NetCDF4/HDF5 file; reading it needs h5netcdf (`uv add h5netcdf`) or netCDF4 ({error})") from None
        raise


def read_zarr(path: Path, url: str, settings: dict) -> VelocityFields:
    import zarr

    if not zipfile.is_zipfile(path):
        raise DownloadError(f"{url}: expected a Zarr store zipped into one file (zarr.storage.ZipStore layout), but it is not a zip archive")
    store = zarr.storage.ZipStore(path, mode="r")
    try:
        with quiet_zarr_warnings(), xr.open_dataset(store, engine="zarr", decode_times=False, consolidated=None) as dataset:
            return _from_xarray(dataset.load(), url)
    finally:
        store.close()


READERS = {"course": read_course, "npy": read_npy, "npz": read_npz, "netcdf": read_netcdf, "zarr": read_zarr}


def read_fields(path: str | os.PathLike, url: str, settings: dict) -> VelocityFields:
    """Read a downloaded file with the reader of `settings["format"]`; any failure names the URL."""
    settings = {**DEFAULTS, **settings}
    fmt = settings["format"]
    if fmt not in READERS:
        raise DownloadError(f"{url}: flow.download.format {fmt!r} is not known; allowed: {', '.join(READERS)}")
    try:
        return READERS[fmt](Path(path), url, settings)
    except DownloadError:
        raise
    except Exception as error:  # numpy, pickle, zipfile, xarray and its engines raise many kinds
        raise DownloadError(
            f"{url}: cannot read the file as flow.download.format {fmt!r} ({FORMATS[fmt]}): {type(error).__name__}: {error}"
        ) from error
