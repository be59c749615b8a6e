"""What the checks of every system's configuration share.

The schema (schemas/config.schema.yaml) checks types, ranges and allowed values; each
system's checks (`System.check` of `karman.systems`) relate its keys to each other. All
run when the workflow is parsed, before any job.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value that is not allowed; the message names the key."""


# Systems renamed since an earlier version: the old name gets an error naming the new one.
RENAMED_SYSTEMS = {"karman": "vortex"}


def check_system_names(config: dict) -> None:
    """Run before the schema, so that a renamed system is named, not just rejected."""
    for old, new in RENAMED_SYSTEMS.items():
        if old in config.get("systems", []):
            from karman.systems import registered  # the systems' own modules import this one

            raise ConfigError(f"systems: `{old}` is now called `{new}`; write systems: [{new}, ...] (allowed: {', '.join(registered())})")


def cnn_image_side(side: int, spec: dict) -> int:
    """Side of the image after a CNN's convolution blocks (0: the image vanished on the way)."""
    for _ in spec["filters"]:
        side = -(-side // spec["strides"]) if spec["padding"] == "same" else (side - spec["kernel_size"]) // spec["strides"] + 1
        side = side // 2 if spec["pooling"] else side
        if side < 1:
            return 0
    return side


def check_cnn(key: str, spec: dict, shape: tuple[int, int], remedy: str) -> None:
    """Each CNN's convolutions, strides and pooling must leave at least one cell of its images."""
    if min(cnn_image_side(side, spec) for side in shape) < 1:
        blocks = len(spec["filters"])
        fitting = max((n for n in range(blocks) if min(cnn_image_side(side, spec | {"filters": spec["filters"][:n]}) for side in shape) >= 1), default=0)
        raise ConfigError(
            f"{key}.filters has {blocks} convolution blocks (stride {spec['strides']}, padding {spec['padding']}, "
            f"{'with' if spec['pooling'] else 'without'} 2x2 pooling), but the images are only {shape[0]} x {shape[1]} cells: "
            f"use at most {fitting} blocks, {remedy}"
        )
