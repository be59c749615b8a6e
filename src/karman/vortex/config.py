"""Checks of the vortex street's configuration that a JSON Schema cannot express."""

from __future__ import annotations

from karman.config import ConfigError, check_cnn
from karman.forecast.windows import ForecastTask, check_task, unseen_groups
from karman.split import check_fractions, check_holdout
from karman.vortex.flow_files import DEFAULTS as DOWNLOAD_DEFAULTS
from karman.vortex.flow_files import expected_grid, grid_coordinates
from karman.vortex.fields import grid_window_shape, window_shape
from karman.vortex.lattice import stability_problem
from karman.vortex.parameters import flow_parameters
from karman.vortex.sweep import reynolds_values


def check_vortex(config: dict) -> list[float]:
    """The vortex street's keys (reynolds, flow, fields, split, models) against each other;
    returns the Reynolds numbers of the sweep."""
    if config["export"]["formats"] and "vortex" not in config["systems"]:
        raise ConfigError(f"export.formats {config['export']['formats']} exports the vortex street, which `systems` "
                          f"{config['systems']} leaves out: add vortex to systems, or set export.formats: []")
    try:
        reynolds = reynolds_values(config["reynolds"])
        check_fractions(config["split"]["fractions"])
        split = config["split"]
        if "holdout-re" in (split["strategy"], *split["compare"]):
            check_holdout(reynolds, split)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    flow = config["flow"]
    downloading = flow["source"] == "download"
    if downloading:
        check_downloads(config)
        download = {**DOWNLOAD_DEFAULTS, **flow["download"]}
        limits = {"x": (-download["cylinder_x"], download["domain_length"] - download["cylinder_x"]),
                  "y": (-download["cylinder_y"], download["domain_height"] - download["cylinder_y"])}
    else:
        if "download" in flow:
            raise ConfigError("flow.download is read only with flow.source: download; remove it (or comment it out) to simulate")
        params = flow_parameters(1.0, flow)
        centre_y = params.centre[1] / params.diameter_cells  # above the bottom wall, in D
        limits = {"x": (-flow["cylinder_x"], flow["domain_length"] - flow["cylinder_x"]), "y": (-centre_y, flow["domain_height"] - centre_y)}
    for axis, (low, high) in config["fields"]["crop"].items():
        if not low < high:
            raise ConfigError(f"fields.crop.{axis} must be [low, high] with low < high, got {[low, high]}")
        if high <= limits[axis][0] or low >= limits[axis][1]:
            raise ConfigError(
                f"fields.crop.{axis} {[low, high]} lies outside the {'downloaded' if downloading else 'simulated'} domain "
                f"({limits[axis][0]:g} to {limits[axis][1]:g} diameters from the cylinder centre)"
            )
    check_models(config)
    check_forecast(config, reynolds, None if downloading else flow_parameters(reynolds[0], flow).n_samples)
    if not downloading and (problem := stability_problem(flow_parameters(reynolds[-1], flow))):
        raise ConfigError(problem)
    if not downloading and (flow["domain_height"] < 3 or flow["domain_length"] < flow["cylinder_x"] + 3):
        raise ConfigError(
            f"flow: the channel ({flow['domain_length']} x {flow['domain_height']} D) needs a height of at least 3 D "
            f"and at least 3 D behind the cylinder (cylinder_x = {flow['cylinder_x']} D)"
        )
    return reynolds


def check_downloads(config: dict) -> None:
    """With `flow.source: download`, every Reynolds number needs a file to download."""
    files = {float(reynolds) for reynolds in config["flow"].get("download", {}).get("files", {})}
    missing = [f"{reynolds:g}" for reynolds in reynolds_values(config["reynolds"]) if reynolds not in files]
    if missing:
        raise ConfigError(
            f"flow.download.files has no entry for Re {', '.join(map(str, missing))}: with flow.source: download every "
            "Reynolds number in `reynolds` needs {url: ..., sha256: ...} there (see config/course-data.yaml)"
        )
    ny, nx = expected_grid({**DOWNLOAD_DEFAULTS, **config["flow"]["download"]})
    if min(ny, nx) < 3:
        raise ConfigError(f"flow.download: diameter_cells, domain_length and domain_height give a grid of {ny} x {nx} cells; expected at least 3 x 3")


def snapshot_shape(config: dict) -> tuple[int, int]:
    """(ny, nx) of the vorticity snapshots, from the config alone."""
    flow = config["flow"]
    if flow["source"] == "download":
        return grid_window_shape(*grid_coordinates({**DOWNLOAD_DEFAULTS, **flow["download"]}), config["fields"])
    return window_shape(flow, config["fields"])


def check_models(config: dict) -> None:
    """Every CNN must leave at least one cell of the snapshot; per-channel standardisation needs channels."""
    ny, nx = snapshot_shape(config)
    if min(ny, nx) < 1:
        flow = config["flow"]
        cells = flow["download"].get("diameter_cells", DOWNLOAD_DEFAULTS["diameter_cells"]) if flow["source"] == "download" else flow["diameter_cells"]
        raise ConfigError(f"fields.crop and fields.downsample leave no cells ({ny} x {nx}) of the {cells}-cells-per-D grid")
    for name, spec in config["models"].items():
        if spec.get("standardise") == "per-channel":
            raise ConfigError(f"models.{name}.standardise: per-channel needs samples with channels; vorticity snapshots have one: use global or per-cell")
        if spec["type"] == "cnn":
            check_cnn(f"models.{name}", spec, (ny, nx), "a larger fields.crop or a smaller fields.downsample.factor")


def check_forecast(config: dict, reynolds: list[float], frames_per_reynolds: int | None) -> None:
    """The forecasters' tests: unseen Reynolds numbers among `reynolds` and not all of them, rollouts
    and training windows that fit in each Re's frames (when they are known from the config), a
    probe inside the wake window."""
    forecast = config["forecast"]
    if not forecast["models"]:
        return
    unseen = unseen_groups(reynolds, config["split"], forecast)
    where = "the split's held-out Reynolds numbers" if config["split"]["strategy"] == "holdout-re" else "forecast.holdout_reynolds"
    if missing := [value for value in unseen if value not in reynolds]:
        raise ConfigError(f"forecast.holdout_reynolds {[float(v) for v in missing]} are not among reynolds {reynolds}: "
                          "the unseen-re test forecasts Reynolds numbers of the data")
    if not unseen or len(unseen) == len(reynolds):
        raise ConfigError(f"forecast: {where} are {unseen}, of reynolds {reynolds}: the unseen-re test needs at least one "
                          "Reynolds number held out of training and at least one left to train on")
    for axis in ("x", "y"):
        low, high = config["fields"]["crop"][axis]
        if not low <= forecast["probe"][axis] <= high:
            raise ConfigError(f"forecast.probe.{axis} = {forecast['probe'][axis]:g} lies outside fields.crop.{axis} {[low, high]}: "
                              "the probe must be a cell of the vorticity snapshots")
    if frames_per_reynolds is None:
        return
    task = ForecastTask(**{key: forecast[key] for key in ("history", "stride", "horizon", "future_fraction")})
    for spec in forecast["models"].values():
        try:
            check_task(task, frames_per_reynolds, spec.get("window", spec.get("history")), spec.get("unroll", 1))
        except ValueError as error:
            raise ConfigError(f"forecast: {error}") from None
