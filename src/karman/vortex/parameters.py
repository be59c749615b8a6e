"""The parameters of one lattice-Boltzmann run of flow past a cylinder, and what they imply.

Lengths in cylinder diameters D, time in convective units D/U; the lattice quantities
(cells, steps, relaxation rate) follow from the diameter in cells and the Mach number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from karman.vortex.store import inside_cylinder

COLLISIONS = ("cumulant", "mrt", "trt", "srt")
CYLINDER_BOUNDARIES = ("interpolated", "bounce-back")
BACKENDS = ("cpu", "gpu")


@dataclass(frozen=True)
class FlowParameters:
    """Everything that determines a simulation; all of it goes into the store's attrs."""

    reynolds: float
    diameter_cells: float = 12.8
    domain_length: float = 20.0  # in D
    domain_height: float = 10.0  # in D
    cylinder_x: float = 3.0  # centre, from the inlet, in D
    cylinder_y: float | None = None  # centre, from the bottom wall, in D; None: one cell above the axis
    mach: float = 0.1  # of the mean inflow speed: U = mach / sqrt(3) lattice units
    collision: str = "cumulant"
    inflow: str = "uniform"  # or "parabolic" (mean speed U, peak 1.5 U)
    walls: str = "moving"  # or "no-slip"
    cylinder_boundary: str = "interpolated"  # or "bounce-back" (a staircase)
    spinup_time: float = 40.0  # D/U, discarded
    sample_time: float = 20.0  # D/U, kept
    sample_interval: float = 0.04  # D/U between snapshots

    @property
    def nx(self) -> int:
        """Fluid cells along the channel (the inlet and outlet columns come on top)."""
        return int(round(self.domain_length * self.diameter_cells))

    @property
    def ny(self) -> int:
        """Fluid cells across the channel (the two wall rows come on top)."""
        return int(round(self.domain_height * self.diameter_cells))

    @property
    def inflow_velocity(self) -> float:
        """Mean inflow speed U in lattice units."""
        return self.mach / math.sqrt(3)

    @property
    def centre(self) -> tuple[float, float]:
        """Cylinder centre in cells from the inlet and from the bottom wall.

        By default it sits one cell above the channel axis, as in the course notebooks, so
        that the wake is not symmetric and shedding starts by itself.
        """
        d = self.diameter_cells
        y = self.ny / 2 + 1 if self.cylinder_y is None else self.cylinder_y * d
        return self.cylinder_x * d, y

    def coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """Centres (x, y) of the fluid cells in cylinder diameters, origin at the cylinder centre."""
        cx, cy = self.centre
        d = self.diameter_cells
        return (np.arange(self.nx) + 0.5 - cx) / d, (np.arange(self.ny) + 0.5 - cy) / d

    @property
    def viscosity(self) -> float:
        """Lattice kinematic viscosity from Re = U D / nu."""
        return self.inflow_velocity * self.diameter_cells / self.reynolds

    @property
    def relaxation_rate(self) -> float:
        """omega = 1 / tau of the shear moments."""
        return 1.0 / (3.0 * self.viscosity + 0.5)

    @property
    def blockage(self) -> float:
        """Cylinder diameter over channel height."""
        return 1.0 / self.domain_height

    @property
    def steps_per_time_unit(self) -> float:
        """Lattice steps per convective time unit D/U."""
        return self.diameter_cells / self.inflow_velocity

    # Snapshots lie a whole number of steps apart, the nearest to the interval asked for.
    @property
    def sample_every(self) -> int:
        return max(1, int(round(self.sample_interval * self.steps_per_time_unit)))

    @property
    def spinup_steps(self) -> int:
        return int(round(self.spinup_time * self.steps_per_time_unit))

    @property
    def n_samples(self) -> int:
        return max(1, int(round(self.sample_time * self.steps_per_time_unit / self.sample_every)))

    def describe(self) -> dict:
        """The settings plus what they imply, for the store's attrs."""
        return {**asdict(self), "nx": self.nx, "ny": self.ny, "inflow_velocity": self.inflow_velocity,
                "relaxation_rate": self.relaxation_rate, "sample_every": self.sample_every, "blockage": self.blockage}



def channel_batch(params: FlowParameters | Sequence[FlowParameters]) -> tuple[FlowParameters, ...]:
    """The channels of one lattice: one FlowParameters, or several that differ only in the Reynolds number."""
    channels = (params,) if isinstance(params, FlowParameters) else tuple(params)
    if not channels:
        raise ValueError("a batch of flow simulations needs at least one Reynolds number")
    for other in channels[1:]:
        differing = [name for name, value in asdict(replace(other, reynolds=channels[0].reynolds)).items()
                     if value != getattr(channels[0], name)]
        if differing:
            raise ValueError(f"the Reynolds numbers of one batch share every other flow setting; {', '.join(differing)} differ "
                             f"between Re={channels[0].reynolds:g} and Re={other.reynolds:g}")
    return channels


def reynolds_label(channels: Sequence[FlowParameters]) -> str:
    """'Re=300' or 'Re=300,600,900' for log lines."""
    return "Re=" + ",".join(f"{params.reynolds:g}" for params in channels)


def cylinder_mask(params: FlowParameters) -> np.ndarray:
    """Boolean (ny, nx) mask of the fluid-grid cells whose centre lies inside the cylinder."""
    return inside_cylinder(*params.coordinates())


def flow_parameters(reynolds: float, flow: dict) -> FlowParameters:
    """FlowParameters from the `flow` config section (whose other keys, source, backend, validate…, it ignores)."""
    names = {field.name for field in fields(FlowParameters)} - {"reynolds"}
    return FlowParameters(reynolds=reynolds, **{key: value for key, value in flow.items() if key in names})


