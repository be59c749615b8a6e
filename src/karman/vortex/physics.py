"""Physics checks of the flow stage: measured numbers against the literature.

Strouhal number St = f·D/U of the vortex street in 2D simulations of the unconfined
cylinder wake, from the fit of Henderson (1997), "Nonlinear dynamics and pattern formation
in turbulent wake transition", J. Fluid Mech. 352, 65–112 (2D branch):

    St(Re) = 0.2850 − 1.3897 / √Re + 1.8061 / Re

which gives 0.164 at Re = 100, 0.196 at 200, 0.211 at 300, 0.231 at 600, 0.241 at 900 and
0.246 at 1200 (3D experiments level off near 0.20–0.21 above Re ≈ 300). A channel of
finite height raises St (blockage), and a coarse grid or eddy viscosity shifts it, so the
band is generous: ±15 %.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence

from karman.stores import open_store


STROUHAL_BAND = 0.15
STROUHAL_FIT_RANGE = (47.0, 1500.0)  # onset of shedding .. a little beyond the fitted data


def strouhal_reference(reynolds: float) -> float | None:
    """Henderson's 2D fit, or None outside the Reynolds numbers it describes."""
    if not STROUHAL_FIT_RANGE[0] <= reynolds <= STROUHAL_FIT_RANGE[1]:
        return None
    return 0.2850 - 1.3897 / math.sqrt(reynolds) + 1.8061 / reynolds


def finite(value) -> float | None:
    """A measured value as float, or None when it is missing or NaN."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def strouhal_check(reynolds: float, measured: float | None) -> dict:
    """Measured St against the reference with its band; `within` is None when either is missing."""
    reference = strouhal_reference(reynolds)
    measured = finite(measured)
    low = high = within = None
    if reference is not None:
        low, high = reference * (1 - STROUHAL_BAND), reference * (1 + STROUHAL_BAND)
        if measured is not None:
            within = low <= measured <= high
    return {"measured": measured, "reference": reference, "low": low, "high": high, "within": within}


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
            "drag_coefficient": finite(attrs.get("drag_coefficient")),
            "sha256": attrs.get("sha256"),
            "url": attrs.get("url"),
        })
    summary = {"flows": sorted(rows, key=lambda row: row["reynolds"])}
    with open(output_json, "w") as handle:
        json.dump(summary, handle, indent=2, sort_keys=True)
    return summary
