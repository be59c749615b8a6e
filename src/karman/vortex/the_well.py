"""Export the vortex street to The Well's HDF5 layout, so that `the_well.data.WellDataset`
(and any tool that reads The Well) loads karman's data unchanged.

The layout follows The Well's published format (docs/data_format.md and
scripts/check_thewell_formatting.py in github.com/PolymathicAI/the_well):

    <dataset_name>/
      data/{train,valid,test}/re00300.hdf5   one file (one trajectory) per Reynolds number
      stats.yaml                             mean, std, rms and their *_delta, train files only
      README.md                              the dataset card, sha256 of every file

Each file holds one trajectory on the vorticity store's grid (the cropped, downsampled wake),
arrays ordered (trajectory, time, x, y[, component]) as `spatial_dims` = [x, y] says:
`t0_fields/vorticity` (U/D) and a constant `t0_fields/cylinder` mask, `t1_fields/velocity`
(u, v in U), an empty `t2_fields`, the scalar `Re` (also a root attribute listed in
`simulation_parameters`), and the window's edges in `boundary_conditions`.

The split is karman's forecasting split of whole Reynolds numbers: the held-out Re (the
`unseen-re` test, karman.forecast.windows.unseen_groups) go to `test`; of every other Re,
the last `future_fraction` of its series goes to `valid` and the frames before it to
`train`, so no frame is in two splits. Cells inside the cylinder, NaN in karman's stores,
are 0 here (the velocity of the no-slip solid; vorticity, undefined there, 0 too): The
Well's files hold no NaN, and the `cylinder` field marks those cells.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import xarray as xr
import yaml

from karman import __version__
from karman.atomic import partial_path
from karman.check import check_store
from karman.forecast.windows import future_start, group_frames
from karman.stores import open_store
from karman.vortex.fields import crop_and_downsample
from karman.vortex.physics import strouhal_check
from karman.vortex.store import FLOW, VORTICITY
from karman.vortex.sweep import store_name

log = logging.getLogger(__name__)

SPATIAL_DIMS = ("x", "y")
FIELD_UNITS = {"vorticity": "U/D", "velocity": "U", "cylinder": "1 inside the cylinder, 0 in the fluid"}


def split_of_frames(n_frames: int, held_out: bool, future_fraction: float) -> dict[str, slice]:
    """The frames of one Reynolds number's series (in time order) in each split: all in
    `test` for a held-out Re, else the last `future_fraction` in `valid`, the rest in `train`."""
    if held_out:
        return {"test": slice(0, n_frames)}
    start = future_start(n_frames, future_fraction)
    return {"train": slice(0, start), "valid": slice(start, n_frames)}


def on_vorticity_grid(field: xr.DataArray, vorticity: xr.Dataset) -> xr.DataArray:
    """A field of a flow store (dims y, x and others) on the vorticity store's grid: the same
    crop and downsampling; with the `forward` operator the vorticity lacks the flow grid's
    last row and column, so they are dropped first."""
    if str(vorticity.attrs["operator"]).startswith("forward"):
        field = field.isel(x=slice(None, -1), y=slice(None, -1))
    field = crop_and_downsample(field, vorticity.attrs["crop"], vorticity.attrs["downsample"])
    for axis in ("x", "y"):
        if field.sizes[axis] != vorticity.sizes[axis] or not np.allclose(field[axis].values, vorticity[axis].values):
            raise ValueError(f"the flow store's {axis} grid, cropped as the vorticity store says, does not match the vorticity store's: "
                             "rerun compute_vorticity (snakemake -R compute_vorticity)")
    return field.assign_coords(x=vorticity.x, y=vorticity.y)


def window_velocity(flow: xr.Dataset, vorticity: xr.Dataset) -> xr.DataArray:
    """u and v of a flow store on the vorticity store's grid, as (time, y, x, component)."""
    velocity = xr.concat([flow["u"], flow["v"]], dim="component")
    return on_vorticity_grid(velocity, vorticity).transpose("time", "y", "x", "component")


def window_cylinder(flow: xr.Dataset, vorticity: xr.Dataset) -> np.ndarray:
    """The cylinder mask (y, x) on the vorticity store's grid: cells at least half inside the
    cylinder (with block-mean downsampling, blocks), or, for a store without a mask, the cells
    whose vorticity is NaN."""
    if "cylinder" not in flow:
        return np.isnan(vorticity["vorticity"].isel(sample=0).values)
    return on_vorticity_grid(flow["cylinder"].astype(np.float32), vorticity).values >= 0.5


def to_well_axes(array: np.ndarray) -> np.ndarray:
    """(time, y, x[, component]) → (1 trajectory, time, x, y[, component]), float32."""
    return np.ascontiguousarray(np.swapaxes(array, 1, 2)[np.newaxis], dtype=np.float32)


def write_trajectory(path: Path, *, dataset_name: str, reynolds: float, times: np.ndarray, x: np.ndarray, y: np.ndarray,
                     vorticity: np.ndarray, velocity: np.ndarray, cylinder: np.ndarray, edges: dict[str, dict]) -> None:
    """One trajectory file in The Well's layout, from arrays on karman's axes: vorticity
    (time, y, x), velocity (time, y, x, 2), cylinder (y, x) bool, all NaN-free."""

    def flags(node, *, sample: bool, time: bool, dims: bool | None = None):
        node.attrs["sample_varying"] = sample
        node.attrs["time_varying"] = time
        if dims is not None:
            node.attrs["dim_varying"] = np.array([dims, dims])

    with h5py.File(path, "w") as well:
        well.attrs.update({"dataset_name": dataset_name, "grid_type": "cartesian", "n_spatial_dims": 2, "n_trajectories": 1,
                           "simulation_parameters": ["Re"], "Re": float(reynolds)})
        dimensions = well.create_group("dimensions")
        dimensions.attrs["spatial_dims"] = list(SPATIAL_DIMS)
        flags(dimensions.create_dataset("time", data=times.astype(np.float32)), sample=False, time=True)
        dimensions["time"].attrs["units"] = "D/U"
        for axis, values in (("x", x), ("y", y)):
            flags(dimensions.create_dataset(axis, data=values.astype(np.float32)), sample=False, time=False)
            dimensions[axis].attrs["units"] = "D (cylinder diameters) from the cylinder's centre"

        boundaries = well.create_group("boundary_conditions")
        for name, edge in edges.items():
            boundary = boundaries.create_group(name)
            boundary.attrs.update({"bc_type": edge["type"], "associated_dims": [edge["axis"]], "associated_fields": [],
                                   "description": edge["description"]})
            flags(boundary, sample=False, time=False)
            size = len(x) if edge["axis"] == "x" else len(y)
            mask = np.zeros(size, dtype=bool)
            mask[edge["ends"]] = True
            boundary.create_dataset("mask", data=mask)

        scalars = well.create_group("scalars")
        scalars.attrs["field_names"] = ["Re"]
        flags(scalars.create_dataset("Re", data=np.float32(reynolds)), sample=False, time=False)

        t0, t1, t2 = (well.create_group(f"t{order}_fields") for order in range(3))
        t0.attrs["field_names"] = ["vorticity", "cylinder"]
        t1.attrs["field_names"] = ["velocity"]
        t2.attrs["field_names"] = []
        for group, name, data, time in ((t0, "vorticity", to_well_axes(vorticity), True),
                                        (t0, "cylinder", to_well_axes(cylinder[np.newaxis].astype(np.float32))[0, 0], False),
                                        (t1, "velocity", to_well_axes(velocity), True)):
            field = group.create_dataset(name, data=data)
            flags(field, sample=time, time=time, dims=True)
            field.attrs["units"] = FIELD_UNITS[name]


class RunningMoments:
    """Sums for mean, std and rms over many blocks (float64), so the train frames are read once, block by block."""

    def __init__(self, components: bool):
        self.components, self.count, self.sum, self.squares = components, 0, 0.0, 0.0

    def add(self, block: np.ndarray) -> None:
        block = block.astype(np.float64)
        axes = tuple(range(block.ndim - 1)) if self.components else None
        self.count += block.size // (block.shape[-1] if self.components else 1)
        self.sum = self.sum + block.sum(axis=axes)
        self.squares = self.squares + (block**2).sum(axis=axes)

    def result(self) -> tuple:
        mean = np.asarray(self.sum) / self.count
        mean_square = np.asarray(self.squares) / self.count
        std = np.sqrt(np.maximum(mean_square - mean**2, 0.0))
        return tuple(np.asarray(value).tolist() for value in (mean, std, np.sqrt(mean_square)))


class TrainStatistics:
    """stats.yaml of The Well: mean, std and rms of every field over the train files, and of
    its change from one stored frame to the next (`*_delta`), per component for a vector."""

    def __init__(self):
        self.values = {name: RunningMoments(components=name == "velocity") for name in ("vorticity", "velocity")}
        self.deltas = {name: RunningMoments(components=name == "velocity") for name in ("vorticity", "velocity")}
        self.cylinder = None

    def add(self, vorticity: np.ndarray, velocity: np.ndarray, cylinder: np.ndarray) -> None:
        """One train file's series: vorticity (time, …), velocity (time, …, 2), the constant cylinder mask."""
        for name, series in (("vorticity", vorticity), ("velocity", velocity)):
            self.values[name].add(series)
            self.deltas[name].add(np.diff(series, axis=0))
        self.cylinder = cylinder  # the same in every file

    def as_dict(self) -> dict[str, dict]:
        if self.cylinder is None:
            raise ValueError("no Reynolds number is left for the train split: hold out fewer (split.holdout_reynolds or forecast.holdout_reynolds)")
        stats: dict[str, dict] = {key: {} for key in ("mean", "std", "rms", "mean_delta", "std_delta", "rms_delta")}
        for name in ("vorticity", "velocity"):
            for suffix, moments in (("", self.values[name]), ("_delta", self.deltas[name])):
                for key, value in zip(("mean", "std", "rms"), moments.result()):
                    stats[key + suffix][name] = value
        mask = RunningMoments(components=False)
        mask.add(self.cylinder.astype(np.float32))
        for key, value in zip(("mean", "std", "rms"), mask.result()):
            stats[key]["cylinder"] = value
            stats[f"{key}_delta"]["cylinder"] = 0.0  # a constant field does not change
        return stats


def dataset_card(*, dataset_name: str, license_name: str, flows: list[xr.Dataset], vorticity: xr.Dataset, assignment: dict,
                 dt: float, checksums: dict[str, str], shape: tuple[int, int]) -> str:
    """The README of the export: physics, units, time step, splits, license, citation, checksums."""
    first = flows[0].attrs
    reynolds = sorted(float(flow.attrs["reynolds"]) for flow in flows)
    rows = []
    for flow in sorted(flows, key=lambda flow: float(flow.attrs["reynolds"])):
        check = strouhal_check(float(flow.attrs["reynolds"]), flow.attrs.get("strouhal"))
        drag = flow.attrs.get("drag_coefficient")
        reference = f"{check['reference']:.3f}" if check.get("reference") else "–"
        measured = f"{check['measured']:.3f}" if check.get("measured") else "–"
        status = {True: "within ±5 %", False: "outside ±5 %"}.get(check.get("within"), "no reference")
        rows.append(f"| {float(flow.attrs['reynolds']):g} | {', '.join(assignment[float(flow.attrs['reynolds'])])} | {measured} | "
                    f"{reference} | {status} | {f'{drag:.3f}' if isinstance(drag, int | float) else '–'} |")
    solver = html.escape(first.get("solver", "unknown"))  # text from a store or a config: no markup in the card
    parameters = first.get("solver_parameters") or {}
    settings = "; " + ", ".join(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}" for key, value in sorted(parameters.items()) if key != "reynolds") if parameters else ""
    files = "\n".join(f"| `{name}` | `{digest}` |" for name, digest in sorted(checksums.items()))
    ny, nx = shape
    return f"""# {dataset_name}

2D incompressible flow past a circular cylinder in a channel, the von Kármán vortex street,
at {len(reynolds)} Reynolds numbers from {reynolds[0]:g} to {reynolds[-1]:g}, made by karman {__version__}
in The Well's HDF5 layout: load it with `the_well.data.WellDataset(path="{dataset_name}", well_split_name="train")`.

## Physics
- Equations: the incompressible Navier–Stokes equations in 2D, ∂u/∂t + (u·∇)u = −∇p + (1/Re) ∇²u,
  ∇·u = 0, in units of the cylinder diameter D and the mean inflow speed U; Re = U·D/ν.
- Solver: {solver} (source: {first.get("source", "unknown")}){settings}.
- Domain: the channel's cells span x ∈ [{float(flows[0].x.min()):.3g}, {float(flows[0].x.max()):.3g}] D and
  y ∈ [{float(flows[0].y.min()):.3g}, {float(flows[0].y.max()):.3g}] D, the cylinder's centre at the origin; this export
  holds the wake window x ∈ [{float(vorticity.x.min()):.3g}, {float(vorticity.x.max()):.3g}] D,
  y ∈ [{float(vorticity.y.min()):.3g}, {float(vorticity.y.max()):.3g}] D on {nx} × {ny} cells (x × y).
- Checks, per Reynolds number: the Strouhal number St = f·D/U measured by the solver against the 2D fit of
  Henderson (1997), J. Fluid Mech. 352, 65–112 (band ±5 %), and the mean drag coefficient c_D:

| Re | split | St | St (2D fit) | St check | mean c_D |
|---|---|---|---|---|---|
{chr(10).join(rows)}

## Fields and units
| field | group | shape per file | units |
|---|---|---|---|
| `vorticity` | t0_fields | (1, time, x, y) | {FIELD_UNITS["vorticity"]}, ω = ∂v/∂x − ∂u/∂y ({vorticity.attrs["operator"]}) |
| `cylinder` | t0_fields, constant | (x, y) | {FIELD_UNITS["cylinder"]} |
| `velocity` | t1_fields | (1, time, x, y, 2) | {FIELD_UNITS["velocity"]}, components (u, v) along (x, y) |
| `Re` | scalars, constant | () | Reynolds number U·D/ν |

Time in D/U, one stored step = {dt:g} D/U. Cells inside the cylinder are NaN in karman's own stores; here they
are 0 (no-slip velocity; vorticity is undefined inside the solid) and `cylinder` marks them.
The boundary conditions describe the edges of the exported window, not of the simulated channel.

## Splits
Whole Reynolds numbers held out for `test` (karman's forecasting `unseen-re` test); of every other Re, the
last part of its series is in `valid` and the frames before it in `train` (karman's `future` test), so no
frame is in two splits. `stats.yaml` comes from the `train` files only.

## License and citation
{html.escape(license_name)}. Cite karman (version {__version__}) and the solver's references above; The Well's format:
Ohana et al. (2024), "The Well: a Large-Scale Collection of Diverse Physics Simulations for Machine Learning",
NeurIPS Datasets and Benchmarks.

## Files (sha256)
| file | sha256 |
|---|---|
{files}
"""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def window_edges(flow: xr.Dataset, vorticity: xr.Dataset) -> dict[str, dict]:
    """The edges of the exported window as The Well's axis-aligned boundaries: the inflow
    and outflow side along x, the walls' side along y; each edge is `open` (the flow goes on
    beyond it) unless the window reaches that boundary of the channel."""
    def reaches(value: float, limit: float) -> bool:
        return abs(value - limit) < 1e-6

    x, y = vorticity.x.values, vorticity.y.values
    walls = "wall" if reaches(y[0], float(flow.y[0])) and reaches(y[-1], float(flow.y[-1])) else "open"
    return {
        "inflow": {"axis": "x", "ends": [0], "type": "open",
                   "description": f"upstream edge of the window, x = {x[0]:.3g} D; the channel's inlet is at x = {float(flow.x[0]):.3g} D"},
        "outflow": {"axis": "x", "ends": [-1], "type": "open",
                    "description": f"downstream edge of the window, x = {x[-1]:.3g} D; the channel's outlet is at x = {float(flow.x[-1]):.3g} D"},
        "walls": {"axis": "y", "ends": [0, -1], "type": walls,
                  "description": f"edges of the window across the stream, y = {y[0]:.3g} and {y[-1]:.3g} D; "
                                 f"the channel's walls are at y = {float(flow.y[0]):.3g} and {float(flow.y[-1]):.3g} D"},
    }


def export_the_well(flow_paths: Sequence[str | os.PathLike], vorticity_path: str | os.PathLike, output: str | os.PathLike, *,
                    dataset_name: str, license_name: str, held_out: Sequence[float], future_fraction: float) -> dict:
    """Write the export to `output` (the dataset's folder), whole or not at all; returns the split of each Re."""
    vorticity = open_store(vorticity_path)
    check_store(vorticity_path, VORTICITY)
    for path in flow_paths:
        check_store(path, FLOW)
    flows = {float(flow.attrs["reynolds"]): flow for flow in (open_store(path) for path in flow_paths)}
    frames = group_frames(vorticity["reynolds"].values, vorticity["time"].values)
    if set(frames) != set(flows):
        raise ValueError(f"the vorticity store holds Re {sorted(frames)}, the flow stores {sorted(flows)}: rerun compute_vorticity")
    held = {float(value) for value in held_out}
    output = Path(output)
    partial = partial_path(output)
    statistics, assignment, steps = TrainStatistics(), {}, set()
    try:
        for reynolds, samples in frames.items():
            flow = flows[reynolds]
            omega = vorticity["vorticity"].isel(sample=samples)
            times = vorticity["time"].values[samples]
            velocity = window_velocity(flow, vorticity)
            if not np.allclose(velocity["time"].values, times):
                raise ValueError(f"Re {reynolds:g}: the vorticity store's times differ from its flow store's: rerun compute_vorticity")
            cylinder, edges = window_cylinder(flow, vorticity), window_edges(flow, vorticity)
            steps.update(np.round(np.diff(times), 9).tolist())
            assignment[reynolds] = []
            for split, frames_of_split in split_of_frames(len(samples), reynolds in held, future_fraction).items():
                block_omega = np.nan_to_num(omega.isel(sample=frames_of_split).values, nan=0.0)
                block_velocity = np.nan_to_num(velocity.isel(time=frames_of_split).values, nan=0.0)
                folder = partial / "data" / split
                folder.mkdir(parents=True, exist_ok=True)
                write_trajectory(folder / f"{store_name(reynolds)}.hdf5", dataset_name=dataset_name, reynolds=reynolds,
                                 times=times[frames_of_split], x=vorticity.x.values, y=vorticity.y.values, vorticity=block_omega,
                                 velocity=block_velocity, cylinder=cylinder, edges=edges)
                assignment[reynolds].append(split)
                if split == "train":
                    statistics.add(block_omega, block_velocity, cylinder)
                log.info("Re %g: %d frames → data/%s/%s.hdf5", reynolds, len(block_omega), split, store_name(reynolds))
        with open(partial / "stats.yaml", "w") as handle:
            yaml.safe_dump(statistics.as_dict(), handle, sort_keys=True)
        checksums = {os.fspath(path.relative_to(partial)): sha256_of(path) for path in sorted(partial.rglob("*")) if path.is_file()}
        dt = min(steps) if steps else float("nan")
        card = dataset_card(dataset_name=dataset_name, license_name=license_name, flows=list(flows.values()), vorticity=vorticity,
                            assignment=assignment, dt=dt, checksums=checksums, shape=(vorticity.sizes["y"], vorticity.sizes["x"]))
        (partial / "README.md").write_text(card)
        if output.exists():
            shutil.rmtree(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, output)
    finally:
        if partial.exists():
            shutil.rmtree(partial)
    log.info("wrote %s: %s", output, {f"{reynolds:g}": splits for reynolds, splits in assignment.items()})
    return assignment
