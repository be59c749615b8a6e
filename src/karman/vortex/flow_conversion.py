"""Velocity fields from a downloaded file converted to the flow store contract
(docs/data-format.md), and checked on the way (`to_flow_dataset`).

What comes back is refused, with a message that names the URL, what was found and what
is allowed, when it is an HTML page (a login or error page sent with status 200, a web
page about the file), when its coordinates are not in the contract's units (a `units`
attribute other than D or D/U, an x/y spacing other than 1/diameter_cells D, times that do
not strictly increase, a cylinder centre outside the grid), when a velocity outside the
cylinder is NaN or infinite, when it shows a solid body (zero velocity in every frame)
away from where the settings put the cylinder, or when the inflow is not about 1 U.

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

import math

import numpy as np
import xarray as xr

from karman.fetch import DownloadError
from karman.signal import dominant_frequency
from karman.vortex.flow_files import (
    DEFAULTS,
    FORMATS,
    VelocityFields,
    check_numeric,
    expected_grid,
    grid_coordinates,
)
from karman.vortex.store import flow_dataset, inside_cylinder

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
        check_numeric(array.dtype, url, f"variable {name!r}")
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
