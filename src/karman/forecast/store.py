"""The contract of a forecaster's rollout store (docs/data-format.md), checked on every write and by `karman check`."""

from karman.check import Contract

ROLLOUT = Contract(
    kind="rollout",
    variables={"vorticity": (("reynolds", "lead", "y", "x"), "float32")},
    coords={"reynolds": ("reynolds",), "lead": ("lead",), "time": ("reynolds", "lead"), "test": ("reynolds",), "y": ("y",), "x": ("x",)},
    increasing=("lead", "x", "y"),
    attrs=("history", "stride", "dt", "forecaster", "settings"),
)
