"""The flow solver against published values: is the vortex street physics or artefact?

Three cases, each a karman.vortex.simulation run whose measured quantities must land in a reference
interval from the literature:

- ``unconfined-re100`` and ``unconfined-re200``: a cylinder in a wide channel whose walls
  move with the free stream (blockage D/H = 5 %), 16 D behind the inlet and 42 D before
  the outlet, against the unconfined 2D wake:
  St(Re=100) ≈ 0.165 and St(Re=200) ≈ 0.197 within 5 %, and the mean drag coefficient at
  Re = 100 (1.33 to 1.35 in wide domains) within 10 %. Sources: Park, Kwon & Choi, KSME
  Int. J. 12 (1998) 1200 (St 0.165, c_D 1.33 at Re 100; St 0.196 at Re 200); Qu, Norberg,
  Davidson, Peng & Wang, J. Fluids Struct. 39 (2013) 347 (St 0.1648, c_D 1.3504 at Re 100;
  St 0.1969 at Re 200).
- ``schafer-turek-2d2``: the benchmark "flow around a cylinder" of Schäfer & Turek (1996),
  case 2D-2: Re = 100 on the mean inflow speed in a 2.2 x 0.41 channel with no-slip walls
  and a parabolic inflow, cylinder (D = 0.1) at (0.2, 0.2). Reference intervals: St in
  [0.295, 0.305], max c_D in [3.22, 3.24], max c_L in [0.99, 1.01]. Source: M. Schäfer and
  S. Turek, Notes Numer. Fluid Mech. 52 (1996) 547.

Measured on 2 cores (``python benchmarks/run.py flow-validation``), with the interpolated
cylinder wall: the Strouhal numbers land within 2 % of the references, the mean drag at
Re 100 is 3.1 % high (1.382, the 5 % blockage included), Schäfer & Turek's St and
max c_D fall inside their intervals and max c_L 2.7 % below its (inside at D = 60 cells).
How far the inlet and outlet sit matters: with the cylinder 8 D behind the inlet and 22 D
before the outlet, the drag at Re 100 was 1.49 and the lift amplitude 0.53 instead of 0.36
(published 0.33; staircase cylinder).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, replace

from karman.atomic import write_text_whole
from karman.signal import dominant_frequency

from karman.vortex.parameters import FlowParameters
from karman.vortex.simulation import run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reference:
    quantity: str  # a key of karman.vortex.physics.QUANTITY_LABELS
    low: float
    high: float
    source: str

    def contains(self, value: float) -> bool:
        return bool(self.low <= value <= self.high)


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    parameters: FlowParameters
    references: tuple[Reference, ...]


PARK = "Park, Kwon & Choi 1998; Qu et al. 2013"
SCHAFER_TUREK = "Schäfer & Turek 1996, case 2D-2"
# The inlet 16 D upstream and the outlet 42 D downstream: nearer, the inlet raises the drag
# and the outlet feeds the wake back (lift amplitude +60 % with it 22 D behind).
UNCONFINED = dict(diameter_cells=16, domain_length=58, domain_height=20, cylinder_x=16, sample_interval=0.2)
# config/sweep.yaml's set-up (its convergence study: docs/flow-solver.md).
SWEEP = dict(diameter_cells=20, domain_length=46, domain_height=20, cylinder_x=16, sample_interval=0.2)
HENDERSON = "Henderson 1997; Jiang & Cheng 2017"

CASES = {
    case.name: case
    for case in (
        Case("unconfined-re100", "Re 100, walls moving with the free stream, blockage 5 %",
             FlowParameters(reynolds=100, **UNCONFINED, spinup_time=60, sample_time=40),
             (Reference("strouhal", 0.165 * 0.95, 0.165 * 1.05, f"0.165 ± 5 % ({PARK})"),
              Reference("drag_coefficient", 1.34 * 0.9, 1.34 * 1.1, f"1.33–1.35 ± 10 % ({PARK})"))),
        Case("unconfined-re200", "Re 200, walls moving with the free stream, blockage 5 %",
             FlowParameters(reynolds=200, **UNCONFINED, spinup_time=60, sample_time=30),
             (Reference("strouhal", 0.197 * 0.95, 0.197 * 1.05, f"0.197 ± 5 % ({PARK})"),)),
        Case("unconfined-re1000", "Re 1000, walls moving with the free stream, blockage 5 % (config/sweep.yaml's set-up)",
             FlowParameters(reynolds=1000, **SWEEP, spinup_time=40, sample_time=40),
             (Reference("strouhal", 0.2375 * 0.95, 0.2375 * 1.05, f"0.237–0.238 ± 5 % ({HENDERSON})"),
              Reference("drag_coefficient", 1.51 * 0.9, 1.51 * 1.1, f"1.51 ± 10 % ({HENDERSON})"))),
        Case("schafer-turek-2d2", "Re 100 in the 2.2 x 0.41 channel, parabolic inflow, no-slip walls (blockage 24 %)",
             FlowParameters(reynolds=100, diameter_cells=40, domain_length=22, domain_height=4.1, cylinder_x=2, cylinder_y=2,
                            inflow="parabolic", walls="no-slip", mach=0.05, spinup_time=40, sample_time=20, sample_interval=0.02),
             (Reference("strouhal", 0.295, 0.305, SCHAFER_TUREK),
              Reference("max_drag_coefficient", 3.22, 3.24, SCHAFER_TUREK),
              Reference("max_lift_coefficient", 0.99, 1.01, SCHAFER_TUREK))),
    )
}


def measure(params: FlowParameters, backend: str = "cpu") -> dict:
    """Run `params` (forces only, no fields) and return what the references compare against."""
    start = time.perf_counter()
    sim, samples = run(params, backend, fields=False)
    return {
        "strouhal": dominant_frequency(samples.lift, samples.times(params)),
        "drag_coefficient": float(samples.drag.mean()),
        "max_drag_coefficient": float(samples.drag.max()),
        "max_lift_coefficient": float(samples.lift.max()),
        "seconds": time.perf_counter() - start,
    }


def validate(names: list[str] | None = None, diameter_cells: float | None = None, backend: str = "cpu") -> list[dict]:
    """Run the named cases (all by default), optionally at another resolution; one row per reference."""
    rows = []
    for name in names or list(CASES):
        case = CASES[name]
        params = case.parameters if diameter_cells is None else replace(case.parameters, diameter_cells=diameter_cells)
        measured = measure(params, backend)
        log.info("%s at D = %g cells: %s", name, params.diameter_cells, measured)
        for reference in case.references:
            value = measured[reference.quantity]
            rows.append({
                "case": name, "description": case.description, "diameter_cells": params.diameter_cells,
                "grid": f"{params.nx}x{params.ny}", "quantity": reference.quantity, "value": value,
                "low": reference.low, "high": reference.high, "source": reference.source,
                "passed": reference.contains(value), "seconds": measured["seconds"],
            })
    return rows


def write_validation(output: str | os.PathLike, backend: str = "cpu") -> None:
    """The validation table as JSON, written whole or not at all."""
    rows = validate(backend=backend)
    write_text_whole(output, json.dumps({"cases": rows}, indent=2))
    failed = [f"{row['case']} {row['quantity']}" for row in rows if not row["passed"]]
    log.info("validation: %d of %d references met%s", len(rows) - len(failed), len(rows), f"; outside: {', '.join(failed)}" if failed else "")
