"""The `flow` stage for `source: download`: published velocity fields instead of a simulation.

One file per Reynolds number is downloaded (HTTP(S), or file:// for a local copy) into a
temporary directory outside `results/`, its SHA-256 is checked while it streams in, it
is read according to `flow.download.format` and converted to the flow store contract
(docs/data-format.md): u, v (time, y, x) float32 in units of the inflow speed U, NaN
inside the cylinder, x and y in cylinder diameters from the cylinder centre, time in D/U.

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
import hashlib
import logging
import math
import os
import pickle
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

import numpy as np
import xarray as xr

from karman import __version__
from karman.check import check_store
from karman.vortex.store import FLOW, flow_dataset, inside_cylinder, strouhal_number
from karman.stores import quiet_zarr_warnings, write_store

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
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
CHUNK_BYTES = 1 << 20


class DownloadError(RuntimeError):
    """A file that cannot be downloaded, verified or read; the message names its URL."""


def checksum_hint(url: str, setting: str = "flow.download.files.<Re>.sha256") -> str:
    name = Path(urllib.parse.urlparse(url).path).name or "FILE"
    return (
        f"To fill in the checksum, download the file once (e.g. `curl -LO {url}`), make sure it is the file you mean, "
        f"and run `sha256sum {name}` (or `python -c \"import hashlib, sys; "
        f"print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())\" {name}`); "
        f"paste the 64 hexadecimal digits into {setting}."
    )


def download(url: str, sha256: str, destination_dir: str | os.PathLike, *, timeout: float = 60.0,
             progress_every: float = 10.0, setting: str = "flow.download.files.<Re>.sha256") -> Path:
    """Download `url` into `destination_dir` and return the file's path once its SHA-256 is `sha256`.

    The file streams into a temporary name in `destination_dir` (put that directory outside
    `results/`, e.g. a `tempfile.TemporaryDirectory`) while its checksum is computed, and is
    renamed only after the checksum matched. Any failure raises DownloadError naming the URL
    and what was expected, and leaves nothing behind; `setting` names the config key of the
    checksum in the advice on filling it in.
    """
    expected = str(sha256).strip().lower()
    if not SHA256_PATTERN.match(expected):
        raise DownloadError(f"{url}: the expected sha256 {sha256!r} is not 64 hexadecimal digits. {checksum_hint(url, setting)}")
    destination_dir = Path(destination_dir)
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name or "download"
    handle, partial_name = tempfile.mkstemp(dir=destination_dir, prefix=f".{name}.", suffix=".partial")
    partial = Path(partial_name)
    try:
        with os.fdopen(handle, "wb") as out:
            actual, size = _stream(url, out, timeout=timeout, progress_every=progress_every)
        if actual != expected:
            raise DownloadError(
                f"{url}: checksum mismatch: expected sha256 {expected}, got {actual} ({size} bytes). "
                "The file is not the one the configuration names (or it changed on the server). " + checksum_hint(url, setting)
            )
        target = destination_dir / name
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    log.info("downloaded %s (%d bytes, sha256 %s)", url, size, expected)
    return target


def _stream(url: str, out, *, timeout: float, progress_every: float) -> tuple[str, int]:
    """Copy the body at `url` to the open file `out`; return its SHA-256 and size. Errors name the URL."""
    digest = hashlib.sha256()
    received = 0
    try:
        request = urllib.request.Request(url, headers={"User-Agent": f"karman/{__version__}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            log.info("downloading %s (%s)", url, f"{total / 1e6:.1f} MB" if total is not None else "size unknown")
            start = last_report = time.perf_counter()
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                now = time.perf_counter()
                if now - last_report > progress_every:
                    rate = received / (now - start)
                    left = f", {(total - received) / rate:.0f} s left" if total else ""
                    log.info("%s: %.1f of %s MB, %.1f MB/s%s", url, received / 1e6,
                             f"{total / 1e6:.1f}" if total else "?", rate / 1e6, left)
                    last_report = now
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url}: HTTP error {error.code} ({error.reason}); expected HTTP 200 with the file. Check the URL.") from None
    except urllib.error.URLError as error:
        raise DownloadError(f"{url}: cannot connect ({error.reason}); expected to reach the server and download the file.") from None
    except ValueError as error:  # not a URL urllib understands
        raise DownloadError(f"{url}: not a valid URL ({error}); expected http://, https:// or file://") from None
    except (HTTPException, OSError) as error:  # timeouts, resets, truncated bodies
        raise DownloadError(f"{url}: the download failed after {received} bytes ({type(error).__name__}: {error}); expected the whole file. Try again.") from None
    if total is not None and received != total:
        raise DownloadError(f"{url}: the connection closed after {received} of {total} bytes; expected the whole file. Try again.")
    return digest.hexdigest(), received


# --- the course's pickled arrays, unpickled without running code -------------------------------

def _multiarray():
    from numpy._core import multiarray

    return multiarray


def _numeric():
    from numpy._core import numeric

    return numeric


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """`_codecs.encode` as protocol-2 pickles use it for bytes: latin-1 only."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}: only 'latin1' is used by numpy pickles")
    return codecs.encode(text, "latin1")


# (module, name) -> the object; both numpy 1.x (`numpy.core`) and 2.x (`numpy._core`) spellings.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): lambda: _multiarray()._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): lambda: _multiarray()._reconstruct,
    ("numpy.core.multiarray", "scalar"): lambda: _multiarray().scalar,
    ("numpy._core.multiarray", "scalar"): lambda: _multiarray().scalar,
    ("numpy.core.numeric", "_frombuffer"): lambda: _numeric()._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): lambda: _numeric()._frombuffer,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("_codecs", "encode"): lambda: _latin1_bytes,  # how protocol 2 stores bytes in Python 3
}


class ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: every other global is refused, by name."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]()
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load the global {module}.{name}: only a plain numpy array may be unpickled"
            ) from None


def load_pickled_array(path: str | os.PathLike) -> np.ndarray:
    """The numpy array pickled in `path` (e.g. by `ndarray.dump`), read with ArrayUnpickler.

    Raises pickle.UnpicklingError for anything that is not a numeric array.
    """
    with open(path, "rb") as handle:
        array = ArrayUnpickler(handle).load()
    if not isinstance(array, np.ndarray):
        raise pickle.UnpicklingError(f"the pickle holds a {type(array).__name__}, not a numpy array")
    if array.dtype.hasobject:
        raise pickle.UnpicklingError("the pickle holds an object array, not numbers")
    return array


# --- readers: file -> velocity fields in the file's units ---------------------------------------

@dataclass
class VelocityFields:
    """u, v (time, y, x) in the file's velocity units (u times `u_sign`: the course stores -u);
    coordinates the file carried, else None."""

    u: np.ndarray
    v: np.ndarray
    u_sign: float = 1.0
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    time: np.ndarray | None = None


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
        raise DownloadError(
            f"{url}: expected an array (time, x, y, components) of shape (frames, {nx}, {ny}, 2) for "
            f"flow.download.format {settings['format']!r} (grid from flow.download.diameter_cells, domain_length, domain_height), "
            f"got shape {tuple(array.shape)}"
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
        if set(variable.dims) != {"time", "y", "x"}:
            raise DownloadError(f"{url}: variable {name!r} has dims {variable.dims}; expected (time, y, x)")
        arrays[name] = variable.transpose("time", "y", "x").values
    coords = {name: np.asarray(dataset[name].values, dtype=np.float64) for name in ("x", "y", "time") if name in dataset.coords}
    return VelocityFields(u=arrays["u"], v=arrays["v"], **coords)


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

def _coordinate(values: np.ndarray | None, default: np.ndarray, name: str, size: int, url: str) -> np.ndarray:
    if values is None:
        return default
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (size,):
        raise DownloadError(f"{url}: coordinate {name!r} has shape {values.shape}; expected ({size},) to match the velocities")
    if size > 1 and not np.all(np.diff(values) > 0):
        raise DownloadError(f"{url}: coordinate {name!r} is not strictly increasing")
    return values


def to_flow_dataset(fields: VelocityFields, *, reynolds: float, url: str, sha256: str, settings: dict) -> xr.Dataset:
    """The flow-stage dataset (docs/data-format.md) of velocity fields read from a downloaded file."""
    settings = {**DEFAULTS, **settings}
    ny, nx = expected_grid(settings)
    for name in ("u", "v"):
        array = getattr(fields, name)
        if array.ndim != 3 or array.shape[1:] != (ny, nx) or array.shape[0] < 1:
            raise DownloadError(
                f"{url}: expected {name!r} of shape (frames, {ny}, {nx}) = (time, y, x) (grid from flow.download.diameter_cells, "
                f"domain_length, domain_height), got {tuple(array.shape)}"
            )
        _check_numeric(array.dtype, url, f"variable {name!r}")
    if fields.u.shape != fields.v.shape:
        raise DownloadError(f"{url}: 'u' has shape {fields.u.shape} but 'v' has {fields.v.shape}; expected the same")
    frames = fields.u.shape[0]
    grid_x, grid_y = grid_coordinates(settings)
    x = _coordinate(fields.x, grid_x, "x", nx, url)
    y = _coordinate(fields.y, grid_y, "y", ny, url)
    times = _coordinate(fields.time, np.arange(frames) * float(settings["frame_interval"]), "time", frames, url)

    mask = inside_cylinder(x, y)
    scale = 1.0 / float(settings["inflow_velocity"])
    # In float32 straight away: the course's large files hold 3000 frames of 256 x 128 cells.
    u = np.multiply(fields.u, fields.u_sign * scale, dtype=np.float32)
    v = np.multiply(fields.v, scale, dtype=np.float32)
    u[:, mask] = np.nan
    v[:, mask] = np.nan
    # Transverse velocity two diameters behind the cylinder, on the axis: its oscillation
    # frequency is the shedding frequency (simulated flows use their lift, which files lack).
    probe = v[:, int(np.argmin(np.abs(y))), int(np.argmin(np.abs(x - 2.0)))]
    strouhal = strouhal_number(probe.astype(np.float64), times) if frames > 1 else float("nan")
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


def write_downloaded_flow(output: str | os.PathLike, *, reynolds: float, url: str, sha256: str, settings: dict | None = None) -> None:
    """The `flow` stage for `source: download`: download, verify, read, convert, write the store.

    `settings` are the `flow.download` settings other than `files` (format, geometry,
    scales; missing keys take the course defaults). The file goes to a temporary directory
    outside `results/` and is gone afterwards; the store is written whole or not at all, so
    on any failure nothing appears at `output`.
    """
    settings = {key: value for key, value in {**DEFAULTS, **(settings or {})}.items() if key != "files"}
    with tempfile.TemporaryDirectory(prefix="karman-download-") as directory:
        path = download(url, sha256, directory, setting=f"flow.download.files.{reynolds:g}.sha256")
        log.info("reading %s as %s (%s)", path.name, settings["format"], FORMATS.get(settings["format"], "unknown format"))
        fields = read_fields(path, url, settings)
    dataset = to_flow_dataset(fields, reynolds=reynolds, url=url, sha256=str(sha256).strip().lower(), settings=settings)
    interval = float(dataset.time[1] - dataset.time[0]) if dataset.sizes["time"] > 1 else math.nan
    log.info("Re=%g: %d frames %.4g D/U apart on a %d x %d grid; St = %.3f",
             reynolds, dataset.sizes["time"], interval, dataset.sizes["y"], dataset.sizes["x"], dataset.attrs["strouhal"])
    write_store(dataset, output, chunks={"time": 32}, check=lambda path, name: check_store(path, FLOW, name))
    log.info("wrote %s", output)
