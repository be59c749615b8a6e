"""Checks of the Duffing oscillator's configuration that a JSON Schema cannot express."""

from __future__ import annotations

from karman.config import ConfigError, check_cnn

RANGES = ("parameters.omega0", "parameters.gamma", "parameters.epsilon", "sweep.frequency", "images.force")


def check_duffing(duffing: dict) -> None:
    """Ranges that are not empty or inverted, positive damping, a training subset that exists,
    and models that fit the kind of samples they read."""
    for key in RANGES:
        section, name = key.split(".")
        low, high = duffing[section][name]
        if not low < high:
            raise ConfigError(f"duffing.{key} must be a range [low, high] with low < high, got {[low, high]} (an empty or inverted range)")
    if duffing["parameters"]["gamma"][0] <= 0:
        raise ConfigError(f"duffing.parameters.gamma {duffing['parameters']['gamma']} must be positive: the damping γ keeps the response bounded")
    train_samples, fraction = duffing["split"]["train_samples"], duffing["split"]["fractions"]["train"]
    for kind in ("curves", "images"):
        available = int(round(fraction * duffing[kind]["samples"]))
        if train_samples is not None and train_samples > available:
            raise ConfigError(
                f"duffing.split.train_samples = {train_samples} is more than the {available} training {kind} "
                f"(duffing.{kind}.samples = {duffing[kind]['samples']} x train fraction {fraction:g})"
            )
    images = duffing["images"]
    for name, spec in duffing["models"].items():
        if spec.get("standardise") == "per-channel" and spec["type"] != "cnn":
            raise ConfigError(f"duffing.models.{name}.standardise: per-channel needs the images' channels; {spec['type']} models read the curves: use global or per-cell")
        if spec["type"] == "cnn":
            check_cnn(f"duffing.models.{name}", spec, (images["force_bins"], images["frequency_bins"]),
                      "or more duffing.images.force_bins and frequency_bins")
