"""Physics checks of the flow stage: measured numbers against the literature.

Strouhal number St = f·D/U of the vortex street in 2D simulations of the unconfined
cylinder wake, from the fit of Henderson (1997), "Nonlinear dynamics and pattern formation
in turbulent wake transition", J. Fluid Mech. 352, 65–112 (2D branch):

    St(Re) = 0.2850 − 1.3897 / √Re + 1.8061 / Re

which gives 0.164 at Re = 100, 0.196 at 200, 0.211 at 300, 0.231 at 600, 0.241 at 900,
0.243 at 1000 and 0.246 at 1200 (3D experiments level off near 0.20–0.21 above Re ≈ 300;
2D simulations at Re 1000 give 0.237–0.238, Henderson 1997 and Jiang & Cheng 2017, within
2.5 % of the fit). A store is within the band when its St lies within ±5 % of the fit.

Mean drag coefficient c_D of the same 2D wake: 1.33–1.35 at Re 100 (Park, Kwon & Choi 1998;
Qu et al. 2013) and 1.51 at Re 1000 (Henderson 1997; Jiang & Cheng 2017). Between and
a little beyond, the reference is the straight line through 1.34 and 1.51 in log Re, an
interpolation, not a fit; a store is within the band when its c_D lies within ±10 % of it.

A channel of finite height raises both (blockage), and a coarse grid or an inlet close to
the cylinder shifts them: the course's grid, 12.8 cells across the cylinder 3 D behind the
inlet, falls outside the St band from Re 600 up (docs/flow-solver.md).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence

from karman.atomic import write_text_whole
from karman.stores import open_store


# How the report names each measured quantity.
QUANTITY_LABELS = {"strouhal": "St", "drag_coefficient": "mean c_D", "max_drag_coefficient": "max c_D",
                   "max_lift_coefficient": "max c_L"}


def deviation(row: dict) -> float:
    """Relative distance of a measured value from the middle of its reference interval."""
    middle = 0.5 * (row["low"] + row["high"])
    return (row["value"] - middle) / middle if math.isfinite(row["value"]) else float("nan")


STROUHAL_BAND = 0.05
DRAG_BAND = 0.10
REFERENCE_RANGE = (47.0, 1500.0)  # onset of shedding .. a little beyond the published data
DRAG_POINTS = ((100.0, 1.34), (1000.0, 1.51))  # (Re, published 2D mean c_D)


def strouhal_reference(reynolds: float) -> float | None:
    """Henderson's 2D fit, or None outside the Reynolds numbers it describes."""
    if not REFERENCE_RANGE[0] <= reynolds <= REFERENCE_RANGE[1]:
        return None
    return 0.2850 - 1.3897 / math.sqrt(reynolds) + 1.8061 / reynolds


def drag_reference(reynolds: float) -> float | None:
    """The mean c_D of the 2D wake: the line through the published values in log Re, or None outside REFERENCE_RANGE."""
    if not REFERENCE_RANGE[0] <= reynolds <= REFERENCE_RANGE[1]:
        return None
    (re0, cd0), (re1, cd1) = DRAG_POINTS
    return cd0 + (cd1 - cd0) * math.log(reynolds / re0) / math.log(re1 / re0)


def finite(value) -> float | None:
    """A measured value as float, or None when it is missing or NaN."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def band_check(measured: float | None, reference: float | None, band: float) -> dict:
    """A measured value against its reference ± band; `within` is None when either is missing."""
    measured = finite(measured)
    low = high = within = None
    if reference is not None:
        low, high = reference * (1 - band), reference * (1 + band)
        if measured is not None:
            within = low <= measured <= high
    return {"measured": measured, "reference": reference, "low": low, "high": high, "within": within}


def strouhal_check(reynolds: float, measured: float | None) -> dict:
    """Measured St against Henderson's 2D fit ± STROUHAL_BAND."""
    return band_check(measured, strouhal_reference(reynolds), STROUHAL_BAND)


def drag_check(reynolds: float, measured: float | None) -> dict:
    """Measured mean c_D against the 2D reference ± DRAG_BAND."""
    return band_check(measured, drag_reference(reynolds), DRAG_BAND)


def summarise_flow(flow_paths: Sequence[str | os.PathLike], output_json: str | os.PathLike) -> dict:
    """Per Reynolds number: what made the store and the physics measured on it (attrs only)."""
    rows = []
    for path in flow_paths:
        flow = open_store(path)
        attrs = flow.attrs
        reynolds = float(attrs["reynolds"])
        rows.append({
            "reynolds": reynolds,
            "store": os.fspath(path),
            "source": attrs["source"],
            "solver": attrs["solver"],
            "snapshots": int(flow.sizes["time"]),
            "grid": [int(flow.sizes["y"]), int(flow.sizes["x"])],
            "time_window": [float(flow.time[0]), float(flow.time[-1])],
            "strouhal": strouhal_check(reynolds, attrs.get("strouhal")),
            "drag_coefficient": drag_check(reynolds, attrs.get("drag_coefficient")),
            "sha256": attrs.get("sha256"),
            "url": attrs.get("url"),
        })
    summary = {"flows": sorted(rows, key=lambda row: row["reynolds"])}
    write_text_whole(output_json, json.dumps(summary, indent=2, sort_keys=True))
    return summary
