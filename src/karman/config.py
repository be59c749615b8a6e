"""Checks of the configuration that a JSON Schema cannot express.

The schema (schemas/config.schema.yaml) checks types, ranges and allowed values; these
checks relate keys to each other. Both run when the workflow is parsed, before any job.
"""

from __future__ import annotations

import numpy as np

from karman.fields import window_shape
from karman.split import check_fractions


class ConfigError(ValueError):
    """A configuration value that is not allowed; the message names the key."""


def check_config(config: dict) -> None:
    try:
        check_fractions(config["split"]["fractions"])
    except ValueError as error:
        raise ConfigError(str(error)) from None
    split = config["split"]
    if "holdout-re" in (split["strategy"], *split["compare"]):
        held_out = set(split["holdout_reynolds"])
        if not held_out or not held_out < set(config["reynolds"]):
            raise ConfigError(
                f"split.holdout_reynolds {sorted(held_out)} must name some, not all, of reynolds {sorted(config['reynolds'])} "
                "when split.strategy or split.compare is holdout-re"
            )
    flow = config["flow"]
    limits = {"x": (-flow["cylinder_x"], flow["domain_length"] - flow["cylinder_x"]), "y": (-flow["domain_height"] / 2, flow["domain_height"] / 2)}
    for axis, (low, high) in config["fields"]["crop"].items():
        if not low < high:
            raise ConfigError(f"fields.crop.{axis} must be [low, high] with low < high, got {[low, high]}")
        if high <= limits[axis][0] or low >= limits[axis][1]:
            raise ConfigError(
                f"fields.crop.{axis} {[low, high]} lies outside the simulated domain "
                f"({limits[axis][0]:g} to {limits[axis][1]:g} diameters from the cylinder centre)"
            )
    check_models(config)
    if flow["domain_height"] < 3 or flow["domain_length"] < flow["cylinder_x"] + 3:
        raise ConfigError(
            f"flow: the channel ({flow['domain_length']} x {flow['domain_height']} D) needs a height of at least 3 D "
            f"and at least 3 D behind the cylinder (cylinder_x = {flow['cylinder_x']} D)"
        )


def check_models(config: dict) -> None:
    """Each CNN's pooling must leave at least one cell of the snapshot."""
    ny, nx = window_shape(config["flow"], config["fields"])
    if min(ny, nx) < 1:
        raise ConfigError(f"fields.crop and fields.downsample leave no cells ({ny} x {nx}) of the {config['flow']['diameter_cells']}-cells-per-D grid")
    for name, spec in config["models"].items():
        if spec["type"] != "cnn":
            continue
        poolings = len(spec["filters"])
        if min(ny, nx) // 2**poolings < 1:
            raise ConfigError(
                f"models.{name}.filters has {poolings} convolution blocks, each halving the image, "
                f"but the snapshots are only {ny} x {nx} cells: use at most {int(np.log2(min(ny, nx)))} blocks, "
                "a larger fields.crop or a smaller fields.downsample.factor"
            )
