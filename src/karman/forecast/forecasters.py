"""The forecaster types and how a config entry becomes one (`build_forecaster`), or a saved
learned forecaster is read back (`load_forecaster`).

The config's schema (schemas/config.schema.yaml, `$defs/forecaster`) lists the same types and
the same defaults as the classes here; tests/forecast/test_forecasters.py holds them equal.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path

from karman.forecast.baselines import DMD, Persistence
from karman.forecast.learned import Learned
from karman.forecast.neural import PODMLP, ConvLSTMForecaster, UNetForecaster
from karman.forecast.pod import PODRidge
from karman.forecast.recurrent import PODGRU
from karman.forecast.windows import ForecastTask

LEARNED = {"ridge": PODRidge, "mlp": PODMLP, "gru": PODGRU, "cnn": UNetForecaster, "convlstm": ConvLSTMForecaster}
FORECASTERS = {"persistence": Persistence, "dmd": DMD, **LEARNED}
TYPES = tuple(FORECASTERS)


def build_forecaster(spec: dict, task: ForecastTask, *, strouhal: float | None = None, step_time: float | None = None):
    """The forecaster a config entry describes (`type` and its settings), not yet fitted.

    `dmd`: `window` (default the task's history) or `periods`, a window of that many
    shedding periods, which needs `strouhal` and `step_time` (D/U per step) — see
    `DMD.over_periods`. Raises ValueError naming `type` or the setting and what is allowed.
    """
    kind = spec.get("type")
    settings = {key: value for key, value in spec.items() if key != "type"}
    if kind not in TYPES:
        raise ValueError(f"forecaster type {kind!r} is not supported; allowed types: {', '.join(TYPES)}")
    cls = FORECASTERS[kind]
    allowed = [item.name for item in fields(cls)] + (["periods"] if kind == "dmd" else [])
    if unknown := sorted(set(settings) - set(allowed)):
        raise ValueError(f"forecaster type {kind!r} has no setting {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    if kind == "dmd":
        if "periods" in settings:
            if "window" in settings:
                raise ValueError("forecaster type 'dmd': give window or periods, not both")
            if strouhal is None or step_time is None:
                raise ValueError("forecaster type 'dmd' with periods needs the Strouhal number and the D/U per step (strouhal, step_time)")
            return DMD.over_periods(settings.pop("periods"), strouhal=strouhal, step_time=step_time, **settings)
        settings.setdefault("window", task.history)
    return cls(**settings)


def trainable(forecaster) -> bool:
    """Whether `forecaster` needs `fit` before it rolls out (the learned ones; not persistence or DMD)."""
    return isinstance(forecaster, Learned)


def load_forecaster(directory: str | os.PathLike):
    """A learned forecaster written by its `save(directory)`, ready to roll out."""
    directory = Path(directory)
    state = json.loads((directory / "forecaster.json").read_text())
    if state.get("type") not in LEARNED:
        raise ValueError(f"{directory / 'forecaster.json'}: type {state.get('type')!r} is not one of {', '.join(LEARNED)}")
    forecaster = LEARNED[state["type"]](**state["settings"])
    forecaster.restore_state(state)
    forecaster.load_fitted(directory)
    return forecaster

