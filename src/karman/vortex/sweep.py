"""The Reynolds numbers of a sweep: a list, or a range expanded to a list, and the stable,
sortable names of their flow stores."""

from __future__ import annotations

import numpy as np

# Below about Re 47 the wake of a cylinder is steady (Provansal, Mathis & Boyer 1987; Williamson
# 1996): there is no vortex street to learn from. karman asks for a margin above the onset.
SHEDDING_ONSET = 50
DECIMALS = 2  # Reynolds numbers are rounded to 0.01: the store name holds the exact value


class SweepError(ValueError):
    """A `reynolds` setting that names no valid sweep; the message says what is allowed."""


def reynolds_values(setting: list | dict) -> list[float]:
    """The sorted Reynolds numbers of `reynolds`: a list of values, or a range
    {from, to, count, spacing: linear | log}, rounded to 0.01."""
    if isinstance(setting, dict):
        low, high, count = setting["from"], setting["to"], setting["count"]
        if not low < high or count < 2:
            raise SweepError(f"reynolds: a range needs from < to and a count of at least 2; got from {low:g}, to {high:g}, count {count}")
        spacing = setting.get("spacing", "linear")
        values = np.geomspace(low, high, count) if spacing == "log" else np.linspace(low, high, count)
    else:
        values = np.asarray(setting, dtype=float)
    rounded = [round(float(value), DECIMALS) for value in values]
    twice = sorted({value for value in rounded if rounded.count(value) > 1})
    if twice:
        raise SweepError(f"reynolds: Re {', '.join(f'{value:g}' for value in twice)} {'is' if len(twice) == 1 else 'are'} given twice "
                         f"(Reynolds numbers are rounded to 0.{'0' * (DECIMALS - 1)}1); list each once")
    values = sorted(set(rounded))
    if len(values) < 2:
        raise SweepError(f"reynolds: a sweep needs at least two different Reynolds numbers; got {values}")
    below = [value for value in values if value < SHEDDING_ONSET]
    if below:
        raise SweepError(f"reynolds: Re {', '.join(f'{value:g}' for value in below)} {'is' if len(below) == 1 else 'are'} below the onset of vortex shedding; "
                         f"every Reynolds number must be at least {SHEDDING_ONSET} (below about 47 the wake is steady)")
    return values


def store_name(reynolds: float) -> str:
    """`re` and the Reynolds number with five integer digits, and decimals only where it has them
    (re00300, re00173.33, re01200): the same Re always has the same name, and names sort by Re."""
    return "re" + f"{round(reynolds, DECIMALS):0{6 + DECIMALS}.{DECIMALS}f}".rstrip("0").rstrip(".")


def flow_batches(values, width: float) -> dict[int, list[float]]:
    """The Reynolds numbers of each bin [k width, (k + 1) width), by k; none for width 0 (one
    Re per job). Bins depend on the values alone, so adding a Re changes only its own bin."""
    if not width:
        return {}
    batches: dict[int, list[float]] = {}
    for value in sorted(values):
        batches.setdefault(int(value // width), []).append(value)
    return batches
