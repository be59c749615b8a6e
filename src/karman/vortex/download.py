"""The `flow` stage for `source: download`: published velocity fields instead of a simulation.

One file per Reynolds number is downloaded (HTTP(S), or file:// for a local copy) under a
partial name beside its store (`results/flow/.re00300.zarr.download.partial-…`, see
`karman.atomic.partial_path`: the next job that downloads it removes it if this one is
killed) by `karman.fetch` (checksummed while it streams in, bounded in size and time, its
URL's secrets kept out of logs and outputs), it is read according to
`flow.download.format`, checked, and converted to the flow store contract
(docs/data-format.md): u, v (time, y, x) float32 in units of the inflow speed U, NaN
inside the cylinder, x and y in cylinder diameters from the cylinder centre, time in D/U.
The file is removed once read; the store is written whole or not at all.

What comes back is refused, with a message that names the URL, what was found and what
is allowed, when it is an HTML page (a login or error page sent with status 200, a web
page about the file), when its coordinates are not in the contract's units (a `units`
attribute other than D or D/U, an x/y spacing other than 1/diameter_cells D, times that do
not strictly increase, a cylinder centre outside the grid), when a velocity outside the
cylinder is NaN or infinite, when it shows a solid body (zero velocity in every frame)
away from where the settings put the cylinder, or when the inflow is not about 1 U.

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

Coordinates: x, y and time coordinates that a file carries are used as they are and must
already be in the contract's units (x, y in D with the origin at the cylinder centre,
time in D/U). Missing ones come from the `flow.download` settings: grid spacing
1/diameter_cells D, cylinder centre `cylinder_x` D from the first column and `cylinder_y`
D from the first row, frames `frame_interval` D/U apart starting at 0. Every file must
have the grid the settings describe: round(domain_height·diameter_cells) rows by
round(domain_length·diameter_cells) columns.

Velocities are divided by `inflow_velocity` (U in the file's units; 1 if they are in U
already).
"""

from __future__ import annotations

import codecs
import logging
import math
import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from karman.atomic import partial_path
from karman.check import check_store
from karman.fetch import DownloadError, fetch, public_url
from karman.signal import dominant_frequency
from karman.stores import quiet_zarr_warnings, write_store
from karman.vortex.store import FLOW, flow_dataset, inside_cylinder

log = logging.getLogger(__name__)

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
# --- the course's pickled arrays, unpickled without running code -------------------------------
#
# A numpy pickle names numpy.dtype, _reconstruct, _frombuffer and scalar, and numpy trusts the
# state a pickle gives them: forged dtype flags make an object dtype that claims to hold no
# objects, and _reconstruct allocates whatever shape the pickle asks for. So none of numpy's own
# functions is ever handed to the pickle: the names stand for the builders below, which admit a
# plain numeric dtype only (kind f, i or u, no fields, no sub-array, no metadata), rebuilt from
# its name, and make every array from bytes that are in the file, of exactly the size its shape
# and dtype need.

PLAIN_NUMBER = re.compile(r"[fiu][1248]")  # the dtype names numpy pickles give plain numbers
BYTE_ORDERS = {"<": "<", ">": ">", "=": "=", "|": "|"}


class PlainDtype:
    """`numpy.dtype(name, align, copy)` as a pickle calls it; its pickled state may only repeat
    what a plain number's dtype has."""

    def __init__(self, name, align=False, copy=True):
        if not isinstance(name, str) or not PLAIN_NUMBER.fullmatch(name):
            raise pickle.UnpicklingError(f"refusing the dtype {name!r}: only plain numbers (f, i, u) may be unpickled")
        self.name, self.byte_order = name, "="

    def __setstate__(self, state) -> None:
        # (version, byte order, sub-array, names, fields, element size, alignment, flags[, metadata])
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[1] in BYTE_ORDERS
                and state[2:5] == (None, None, None) and state[5:7] == (-1, -1) and (len(state) == 8 or state[8] is None)):
            raise pickle.UnpicklingError(f"refusing the dtype state {state!r}: it is not that of a plain number")
        self.byte_order = BYTE_ORDERS[state[1]]  # the flags are not read: they come from the name

    @property
    def dtype(self) -> np.dtype:
        plain = np.dtype(self.name)  # a name PLAIN_NUMBER admits: kind f, i or u, no fields, no metadata
        return plain if self.byte_order == "|" else plain.newbyteorder(self.byte_order)


def _array_from_bytes(raw, dtype, shape, fortran: bool = False) -> np.ndarray:
    """A new array of `shape` read from the bytes `raw`, which must hold exactly its elements."""
    if not isinstance(dtype, PlainDtype):
        raise pickle.UnpicklingError(f"refusing an array of {type(dtype).__name__}: only plain numbers may be unpickled")
    if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
        raise pickle.UnpicklingError(f"refusing the array shape {shape!r}")
    if not isinstance(raw, bytes | bytearray | pickle.PickleBuffer):
        raise pickle.UnpicklingError(f"refusing array data of type {type(raw).__name__}: only bytes")
    real = dtype.dtype
    data = memoryview(raw).cast("B")
    if data.nbytes != math.prod(shape) * real.itemsize:
        raise pickle.UnpicklingError(f"refusing an array of shape {shape} and dtype {real}: its data are {data.nbytes} bytes, "
                                     f"not the {math.prod(shape) * real.itemsize} it needs")
    return np.frombuffer(data, dtype=real).reshape(shape, order="F" if fortran else "C").copy()


class ArrayState:
    """What `_reconstruct(ndarray, shape, typecode)` stands for: nothing is allocated until the
    pickle's state gives the array's shape, dtype and bytes."""

    def __init__(self, cls, shape, typecode):
        if cls is not NDARRAY:
            raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r}: only a plain numpy array may be unpickled")
        self.array = None

    def __setstate__(self, state) -> None:
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise pickle.UnpicklingError("refusing an array state that is not (1, shape, dtype, fortran, data)")
        _, shape, dtype, fortran, raw = state
        self.array = _array_from_bytes(raw, dtype, shape, fortran is True)


NDARRAY = object()  # what the pickle's numpy.ndarray stands for: a marker, never the class


def _from_buffer(buffer, dtype, shape, order) -> np.ndarray:
    """`numpy._core.numeric._frombuffer`, the protocol-5 form of an array."""
    if order not in ("C", "F"):
        raise pickle.UnpicklingError(f"refusing the array order {order!r}")
    return _array_from_bytes(buffer, dtype, shape, order == "F")


def _scalar(dtype, raw):
    """`numpy._core.multiarray.scalar`: one number of a plain dtype from its bytes."""
    return _array_from_bytes(raw, dtype, ())[()]


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """`_codecs.encode` as protocol-2 pickles use it for bytes: latin-1 only."""
    if encoding != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}: only 'latin1' is used by numpy pickles")
    return codecs.encode(text, "latin1")


# (module, name) -> what it stands for; both numpy 1.x (`numpy.core`) and 2.x (`numpy._core`) spellings.
_ALLOWED_GLOBALS = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): ArrayState for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _scalar for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _from_buffer for core in ("core", "_core")},
    ("numpy", "ndarray"): NDARRAY,
    ("numpy", "dtype"): PlainDtype,
    ("_codecs", "encode"): _latin1_bytes,  # how protocol 2 stores bytes in Python 3
}


class ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain numeric numpy arrays (and scalars) and nothing else: every other global is
    refused by name, and numpy's own constructors are never called with the pickle's arguments."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load the global {module}.{name}: only a plain numpy array may be unpickled"
            ) from None

    def load(self):
        found = super().load()
        if isinstance(found, ArrayState):
            if found.array is None:
                raise pickle.UnpicklingError("the pickle reconstructs an array but never gives its data")
            return found.array
        return found


def load_pickled_array(path: str | os.PathLike) -> np.ndarray:
    """The numpy array pickled in `path` (e.g. by `ndarray.dump`), read with ArrayUnpickler.

    Raises pickle.UnpicklingError for anything that is not a plain numeric array, or for an
    array larger than the file that holds it.
    """
    with open(path, "rb") as handle:
        array = ArrayUnpickler(handle).load()
    if not isinstance(array, np.ndarray):
        raise pickle.UnpicklingError(f"the pickle holds a {type(array).__name__}, not a numpy array")
    if array.nbytes > os.path.getsize(path):
        raise pickle.UnpicklingError(f"the pickle's array ({array.nbytes} bytes) is larger than its file")
    return array


# --- readers: file -> velocity fields in the file's units ---------------------------------------

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
    _check_numeric(array.dtype, url, "the array")
    return VelocityFields(u=np.transpose(array[..., 0], (0, 2, 1)), v=np.transpose(array[..., 1], (0, 2, 1)),
                          u_sign=-1.0 if negate_u else 1.0)


def _check_numeric(dtype: np.dtype, url: str, what: str) -> None:
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


# --- conversion to the flow store contract -------------------------------------------------------

# `units` attributes that mean the contract's units, compared without case and spaces; a
# dimensionless spelling is taken to mean them too. Coordinates without `units` are taken as they are.
DIMENSIONLESS = ("", "1", "-", "none", "dimensionless", "nondimensional", "non-dimensional")
COORDINATE_UNITS = {
    "x": ("D", ("d", "diameter", "diameters", "cylinderdiameter", "cylinderdiameters", "cylinderdiameterd", *DIMENSIONLESS)),
    "y": ("D", ("d", "diameter", "diameters", "cylinderdiameter", "cylinderdiameters", "cylinderdiameterd", *DIMENSIONLESS)),
    "time": ("D/U", ("d/u", "du-1", "du^-1", "d.u-1", "d*u^-1", "convective", "convectivetime", "convectiveunits", *DIMENSIONLESS)),
}
COORDINATE_MEANING = {
    "x": "x along the flow in cylinder diameters D from the cylinder centre",
    "y": "y across the flow in cylinder diameters D from the cylinder centre",
    "time": "time in convective units D/U",
}
COORDINATE_FIX = {
    "x": "convert it (divide by the diameter, subtract the cylinder centre's position), or leave the coordinate out and karman "
         "computes it from flow.download.diameter_cells and cylinder_x",
    "y": "convert it (divide by the diameter, subtract the cylinder centre's position), or leave the coordinate out and karman "
         "computes it from flow.download.diameter_cells and cylinder_y",
    "time": "convert it (t·U/D), or leave the coordinate out and karman numbers the frames flow.download.frame_interval D/U apart",
}
INFLOW_RANGE = (0.5, 2.0)  # the inflow in units of U, where the data are checked for it
STILL = 1e-6  # |velocity| in U at or below which a cell does not move


def _coordinate(values: np.ndarray | None, default: np.ndarray, name: str, size: int, url: str, settings: dict,
                units: str | None = None) -> np.ndarray:
    """The file's coordinate `name` once it is checked against the contract, or `default` if the file has none."""
    if values is None:
        return default
    symbol, allowed = COORDINATE_UNITS[name]
    if units is not None and "".join(units.split()).lower() not in allowed:
        raise DownloadError(
            f"{url}: coordinate {name!r} has units {units!r}; expected {COORDINATE_MEANING[name]} (units {symbol!r}, "
            f"or no units attribute). Karman does not convert units: {COORDINATE_FIX[name]}."
        )
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (size,):
        raise DownloadError(f"{url}: coordinate {name!r} has shape {values.shape}; expected ({size},) to match the velocities")
    if not np.all(np.isfinite(values)):
        index = int(np.argmin(np.isfinite(values)))
        raise DownloadError(f"{url}: coordinate {name!r} holds {values[index]} at index {index}; expected finite values ({COORDINATE_MEANING[name]})")
    steps = np.diff(values)
    if size > 1 and not np.all(steps > 0):
        index = int(np.argmin(steps > 0))
        what = "frame" if name == "time" else "cell centre"
        raise DownloadError(
            f"{url}: coordinate {name!r} is not strictly increasing: {name}[{index + 1}] = {values[index + 1]:.6g} "
            f"{'repeats' if steps[index] == 0 else 'is earlier than' if name == 'time' else 'is less than'} "
            f"{name}[{index}] = {values[index]:.6g} ({_steps_not_increasing(steps)} of {size - 1} steps do not increase). "
            f"Expected each {what} after the one before "
            f"({COORDINATE_MEANING[name]}, strictly increasing"
            + (": frames in time order, none twice — files or restarts joined together often repeat or go back in time)."
               if name == "time" else ").")
        )
    if name in ("x", "y") and size > 1:
        spacing = 1.0 / float(settings["diameter_cells"])
        if not np.allclose(steps, spacing, rtol=1e-3, atol=0):
            found = (f"{steps[0]:.4g} apart" if np.allclose(steps, steps[0], rtol=1e-3, atol=0)
                     else f"{steps.min():.4g} to {steps.max():.4g} apart")
            raise DownloadError(
                f"{url}: coordinate {name!r} has cell centres {found} (from {values[0]:.4g} to {values[-1]:.4g}); expected "
                f"{spacing:.4g} D between cell centres (1/flow.download.diameter_cells = 1/{settings['diameter_cells']:g}), "
                f"{COORDINATE_MEANING[name]}. Coordinates in metres, millimetres or cells are not converted: {COORDINATE_FIX[name]}."
            )
    return values


def _steps_not_increasing(steps: np.ndarray) -> int:
    return int(np.sum(~(steps > 0)))


def _describe_axis(name: str, values: np.ndarray, from_file: bool) -> str:
    setting = "cylinder_x" if name == "x" else "cylinder_y"
    source = "the file's coordinate" if from_file else f"from flow.download.{setting} = {-values[0]:g}"
    return f"{name} runs from {values[0]:.4g} to {values[-1]:.4g} D ({source})"


def _check_cylinder_inside(x: np.ndarray, y: np.ndarray, url: str, from_file: dict[str, bool]) -> None:
    """The cylinder (diameter 1, centred on the origin) must lie inside the grid."""
    for name, values in (("x", x), ("y", y)):
        half_cell = (values[1] - values[0]) / 2 if len(values) > 1 else 0.5
        if values[0] - half_cell > -0.5 + 1e-9 or values[-1] + half_cell < 0.5 - 1e-9:
            advice = ("Is the file's origin at a corner of the domain? Subtract the cylinder centre's position from x and y, or leave "
                      "them out and karman computes them from flow.download.cylinder_x and cylinder_y."
                      if from_file[name] else
                      "Check flow.download.cylinder_x and cylinder_y: the cylinder centre's distance from the first column and row, in D.")
            raise DownloadError(
                f"{url}: the cylinder (centre at x = 0, y = 0, diameter 1 D) is not inside the grid: "
                f"{_describe_axis(name, values, from_file[name])}; expected x and y measured from the cylinder centre, with the "
                f"whole cylinder inside the domain. {advice}"
            )


def _body(cells: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, float, int] | None:
    """Centre (x, y) and size of `cells` (y, x) where they form one compact body away from the domain's
    edges (walls and inflow/outflow columns are left out), if it lies more than a radius from the origin."""
    inner = cells.copy()
    inner[:2], inner[-2:], inner[:, :2], inner[:, -2:] = False, False, False, False
    rows, columns = np.nonzero(inner)
    if len(rows) < 2 or np.ptp(x[columns]) > 3 or np.ptp(y[rows]) > 3:
        return None
    centre_x, centre_y = float(x[columns].mean()), float(y[rows].mean())
    return (centre_x, centre_y, len(rows)) if math.hypot(centre_x, centre_y) > 0.5 else None


def _misplaced(body: tuple[float, float, int], x: np.ndarray, y: np.ndarray, from_file: dict[str, bool]) -> str:
    centre_x, centre_y, _ = body
    where = (f"centred at x = {centre_x:.3g} D, y = {centre_y:.3g} D ({centre_x - x[0]:.4g} D from the first column, "
             f"{centre_y - y[0]:.4g} D from the first row), not at the cylinder centre x = 0, y = 0")
    if from_file["x"] or from_file["y"]:
        fix = "the file's x and y must have their origin at the cylinder centre"
    else:
        fix = f"set flow.download.cylinder_x: {centre_x - x[0]:.4g} and cylinder_y: {centre_y - y[0]:.4g} (now {-x[0]:g} and {-y[0]:g})"
    return f"{where}: if that is the cylinder, {fix}"


def check_velocities(u: np.ndarray, v: np.ndarray, mask: np.ndarray, x: np.ndarray, y: np.ndarray, times: np.ndarray,
                     url: str, settings: dict, from_file: dict[str, bool]) -> None:
    """Refuse velocities (time, y, x) in units of U, before the cylinder is masked, that break the contract:
    NaN or infinite outside the cylinder, a solid body (no motion in any frame) away from the cylinder,
    or an inflow (the first column, where it lies upstream) not about 1 U."""
    with np.errstate(invalid="ignore"):
        extremes = [u.max(axis=0), u.min(axis=0), v.max(axis=0), v.min(axis=0)]
    finite = np.logical_and.reduce([np.isfinite(extreme) for extreme in extremes])
    broken = ~finite & ~mask
    if broken.any():
        row, column = (int(index) for index in np.argwhere(broken)[0])
        series = ~(np.isfinite(u[:, row, column]) & np.isfinite(v[:, row, column]))
        first = int(np.argmax(series))
        message = (
            f"{url}: {int(broken.sum())} of {int((~mask).sum())} cells outside the cylinder hold NaN or infinite velocities "
            f"(the first, at x = {x[column]:.4g} D, y = {y[row]:.4g} D: in {int(series.sum())} of {len(series)} frames, from "
            f"time {times[first]:.4g} D/U, where u = {u[first, row, column]:g} U, v = {v[first, row, column]:g} U); expected finite "
            f"u and v in every cell outside the cylinder: only the {int(mask.sum())} cells within 0.5 D of its centre may be NaN "
            "(karman masks them itself)."
        )
        always_nan = np.isnan(u).all(axis=0) | np.isnan(v).all(axis=0)
        if (body := _body(always_nan, x, y)) is not None:
            message += f" The {body[2]} cells that are NaN in every frame look like a solid body {_misplaced(body, x, y, from_file)}."
        raise DownloadError(message)
    still = (extremes[0] <= STILL) & (extremes[1] >= -STILL) & (extremes[2] <= STILL) & (extremes[3] >= -STILL)
    if len(times) > 1 and (body := _body(still, x, y)) is not None:
        raise DownloadError(
            f"{url}: {body[2]} cells do not move in any frame (u = v = 0, a solid body), {_misplaced(body, x, y, from_file)}. "
            "Expected the cylinder, and only it, at the origin of x and y."
        )
    if x[0] <= -1.5:  # the first column lies upstream of the cylinder: the inflow
        inflow = float(np.median(u[:, :, 0]))
        low, high = INFLOW_RANGE
        if not low <= inflow <= high:
            negated = ""
            if -high <= inflow <= -low:
                negated = (" u looks negated: format 'course' negates the file's first component (the course's files store -u), "
                           "the other formats do not; check flow.download.format.")
            raise DownloadError(
                f"{url}: the streamwise velocity u at the inflow (the first column, x = {x[0]:.4g} D) has a median of {inflow:.4g} U "
                f"over all frames; expected about 1 U ({low:g} to {high:g}): velocities are divided by flow.download.inflow_velocity "
                f"= {settings['inflow_velocity']:g}, which must be the inflow speed U in the file's units.{negated}"
            )


def to_flow_dataset(fields: VelocityFields, *, reynolds: float, url: str, sha256: str, settings: dict) -> xr.Dataset:
    """The flow-stage dataset (docs/data-format.md) of velocity fields read from a downloaded file.

    Raises DownloadError, naming the URL, what was found and what is allowed, for fields
    that break the contract (`_coordinate`, `check_velocities`).
    """
    settings = {**DEFAULTS, **settings}
    ny, nx = expected_grid(settings)
    for name in ("u", "v"):
        array = getattr(fields, name)
        if array.ndim != 3 or array.shape[1:] != (ny, nx) or array.shape[0] < 1:
            swapped = (" (y and x look swapped: the file has the x length along 'y' and the y length along 'x')"
                       if array.ndim == 3 and nx != ny and array.shape[1:] == (nx, ny) else "")
            raise DownloadError(
                f"{url}: expected {name!r} of shape (frames, {ny}, {nx}) = (time, y, x) (grid from flow.download.diameter_cells, "
                f"domain_length, domain_height), got {tuple(array.shape)}{swapped}"
            )
        _check_numeric(array.dtype, url, f"variable {name!r}")
    if fields.u.shape != fields.v.shape:
        raise DownloadError(f"{url}: 'u' has shape {fields.u.shape} but 'v' has {fields.v.shape}; expected the same")
    frames = fields.u.shape[0]
    grid_x, grid_y = grid_coordinates(settings)
    x = _coordinate(fields.x, grid_x, "x", nx, url, settings, fields.units.get("x"))
    y = _coordinate(fields.y, grid_y, "y", ny, url, settings, fields.units.get("y"))
    times = _coordinate(fields.time, np.arange(frames) * float(settings["frame_interval"]), "time", frames, url, settings,
                        fields.units.get("time"))
    from_file = {"x": fields.x is not None, "y": fields.y is not None}
    _check_cylinder_inside(x, y, url, from_file)

    mask = inside_cylinder(x, y)
    scale = 1.0 / float(settings["inflow_velocity"])
    # In float32 straight away: the course's large files hold 3000 frames of 256 x 128 cells.
    u = np.multiply(fields.u, fields.u_sign * scale, dtype=np.float32)
    v = np.multiply(fields.v, scale, dtype=np.float32)
    check_velocities(u, v, mask, x, y, times, url, settings, from_file)
    u[:, mask] = np.nan
    v[:, mask] = np.nan
    # Transverse velocity two diameters behind the cylinder, on the axis: its oscillation
    # frequency is the shedding frequency (simulated flows use their lift, which files lack).
    probe = v[:, int(np.argmin(np.abs(y))), int(np.argmin(np.abs(x - 2.0)))]
    strouhal = dominant_frequency(probe.astype(np.float64), times) if frames > 1 else float("nan")
    fmt = settings["format"]
    attrs = {
        "reynolds": float(reynolds),
        "source": "download",
        "solver": f"published data downloaded from {url} (format {fmt}: {FORMATS[fmt]}); not simulated by karman",
        "url": url,
        "sha256": sha256,
        "download_settings": {key: settings[key] for key in sorted(DEFAULTS)},
        "strouhal": strouhal,
    }
    return flow_dataset(u, v, mask, times, x, y, attrs)


def write_downloaded_flow(output: str | os.PathLike, *, reynolds: float, url: str, sha256: str, size: int | None = None,
                          settings: dict | None = None, deadline: float = 3600.0, max_bytes: int | None = None,
                          bounds_hint: str = "") -> None:
    """The `flow` stage for `source: download`: download, verify, read, convert, write the store.

    `settings` are the `flow.download` settings other than `files` (format, geometry,
    scales; missing keys take the course defaults); `size` is the file's size in bytes where
    its entry gives one, else `max_bytes` caps it; `deadline` (seconds) bounds the download
    and `bounds_hint` says how to raise the bounds (`karman.fetch.fetch`). The file streams
    to a partial name beside `output` (`karman.atomic.partial_path`, so that the next
    download of it removes it after a killed job) and is removed once read; the store is
    written whole or not at all, so on any failure nothing appears at `output` and nothing is
    left beside it. The log and the store name the URL without its user info and query string
    (`karman.fetch.public_url`).
    """
    settings = {key: value for key, value in {**DEFAULTS, **(settings or {})}.items() if key != "files"}
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(output.with_name(f"{output.name}.download"))
    shown = public_url(url)
    try:
        fetch(url, sha256, partial, size=size, max_bytes=max_bytes, deadline=deadline, bounds_hint=bounds_hint,
              setting=f"flow.download.files.{reynolds:g}.sha256")
        log.info("reading %s as %s (%s)", shown, settings["format"], FORMATS.get(settings["format"], "unknown format"))
        fields = read_fields(partial, shown, settings)
    finally:
        partial.unlink(missing_ok=True)
    dataset = to_flow_dataset(fields, reynolds=reynolds, url=shown, sha256=str(sha256).strip().lower(), settings=settings)
    interval = float(dataset.time[1] - dataset.time[0]) if dataset.sizes["time"] > 1 else math.nan
    log.info("Re=%g: %d frames %.4g D/U apart on a %d x %d grid; St = %.3f",
             reynolds, dataset.sizes["time"], interval, dataset.sizes["y"], dataset.sizes["x"], dataset.attrs["strouhal"])
    write_store(dataset, output, chunks={"time": 32}, check=lambda path, name: check_store(path, FLOW, name))
    log.info("wrote %s", output)
