"""The config as the workflow reads it: checked whole before any job, or stopped on one screen.

The Snakefile calls `checked_config` on the config Snakemake assembled (config.yaml, every
`--configfile` and `--config` on top). It fills in the schema's defaults, reads text from
`--config` as the YAML values the schema expects, and runs each registered system's checks
of how its keys relate (`karman.systems`). A bad value stops the workflow with `karman: …`
lines that name the key, the value and what is allowed: no traceback, no schema dump,
nothing run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from karman.config import ConfigError, check_system_names
from karman.schema import validate_config
from karman.systems import registered


def check_config(config: dict, schema_path: str | Path) -> dict:
    """The config with its defaults filled in, or ConfigError naming every bad key."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"the config is {type(config).__name__}, not a mapping of keys to values (such as `reynolds: [300, 600]`)")
    check_system_names(config)
    validate_config(config, schema_path)
    for system in registered().values():
        system.check(config)
    return config


def checked_config(config: dict, schema_path: str | Path) -> dict:
    """`check_config`, or stop the workflow (SystemExit) with the errors on one screen."""
    try:
        return check_config(config, schema_path)
    except ConfigError as error:
        raise SystemExit(f"karman: {error}") from None
