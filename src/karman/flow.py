"""D2Q9 lattice-Boltzmann simulation of flow past a circular cylinder.

The solver is vectorised numpy in float32. Collision is the regularised BGK operator
(non-equilibrium populations projected onto their second-order Hermite moment) with an
optional Smagorinsky eddy viscosity, which keeps Re up to ~1200 stable on the course
notebooks' grid (cylinder ~13 cells across). Boundaries: equilibrium inflow on the left
and on the top and bottom walls (walls moving with the free stream, as in the
notebooks), zero-gradient outflow on the right, full-way bounce-back on the cylinder.

Lengths are reported in cylinder diameters D, time in convective units D/U, velocities
in units of the inflow speed U.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from karman import __version__
from karman.check import check_store
from karman.stores import write_store

log = logging.getLogger(__name__)

# D2Q9 lattice: rest, 4 axis neighbours, 4 diagonals.
CX = np.array([0, 1, 0, -1, 0, 1, -1, -1, 1])
CY = np.array([0, 0, 1, 0, -1, 1, 1, -1, -1])
WEIGHTS = np.array([4 / 9] + [1 / 9] * 4 + [1 / 36] * 4, dtype=np.float32)
OPPOSITE = np.array([0, 3, 4, 1, 2, 7, 8, 5, 6])
# Speeds beyond the lattice sound speed 1/sqrt(3) mean the run has left its stable range.
MAX_LATTICE_SPEED = 1 / math.sqrt(3)


@dataclass(frozen=True)
class FlowParameters:
    """Everything that determines a simulation; all of it goes into the store's attrs."""

    reynolds: float
    diameter_cells: float = 12.8
    domain_length: float = 20.0  # in D
    domain_height: float = 10.0  # in D
    cylinder_x: float = 3.0  # distance of the cylinder centre from the inlet, in D
    inflow_velocity: float = 0.1  # lattice units; Mach = U * sqrt(3)
    smagorinsky: float = 0.2
    spinup_time: float = 40.0  # D/U, discarded
    sample_time: float = 20.0  # D/U, kept
    sample_interval: float = 0.04  # D/U between snapshots

    @property
    def nx(self) -> int:
        return int(round(self.domain_length * self.diameter_cells))

    @property
    def ny(self) -> int:
        return int(round(self.domain_height * self.diameter_cells))

    def coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres (x, y) in cylinder diameters, origin at the cylinder centre."""
        d = self.diameter_cells
        centre_y = (self.ny - 1) / 2 + 1.0  # one cell above the axis, see cylinder_mask
        return (np.arange(self.nx) - self.cylinder_x * d) / d, (np.arange(self.ny) - centre_y) / d

    @property
    def viscosity(self) -> float:
        """Lattice kinematic viscosity from Re = U D / nu."""
        return self.inflow_velocity * self.diameter_cells / self.reynolds

    @property
    def relaxation_time(self) -> float:
        return 3.0 * self.viscosity + 0.5

    @property
    def steps_per_time_unit(self) -> float:
        """Lattice steps per convective time unit D/U."""
        return self.diameter_cells / self.inflow_velocity

    @property
    def sample_every(self) -> int:
        return max(1, int(round(self.sample_interval * self.steps_per_time_unit)))

    @property
    def spinup_steps(self) -> int:
        return int(round(self.spinup_time * self.steps_per_time_unit))

    @property
    def n_samples(self) -> int:
        return max(1, int(round(self.sample_time * self.steps_per_time_unit / self.sample_every)))


class SimulationDiverged(RuntimeError):
    """The lattice left its stable range (NaN or excessive velocity)."""


def cylinder_mask(params: FlowParameters) -> np.ndarray:
    """Boolean (ny, nx) mask of lattice nodes inside the cylinder.

    The centre sits one cell above the channel axis so that the wake is not perfectly
    symmetric and shedding starts by itself, as in the course notebooks.
    """
    x, y = params.coordinates()
    return x[np.newaxis, :] ** 2 + y[:, np.newaxis] ** 2 <= 0.25


def equilibrium(rho: np.ndarray, ux: np.ndarray, uy: np.ndarray) -> np.ndarray:
    """Second-order Maxwell-Boltzmann equilibrium, shape (9, *rho.shape)."""
    usq = 1.5 * (ux * ux + uy * uy)
    feq = np.empty((9, *np.shape(rho)), dtype=np.float32)
    for i in range(9):
        cu = 3.0 * (CX[i] * ux + CY[i] * uy)
        feq[i] = WEIGHTS[i] * rho * (1.0 + cu + 0.5 * cu * cu - usq)
    return feq


def macroscopic(f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rho = f.sum(axis=0)
    ux = (f[1] + f[5] + f[8] - f[3] - f[6] - f[7]) / rho
    uy = (f[2] + f[5] + f[6] - f[4] - f[7] - f[8]) / rho
    return rho, ux, uy


def collide(f: np.ndarray, tau: float, smagorinsky: float) -> np.ndarray:
    """Regularised BGK collision with a Smagorinsky eddy viscosity; returns new f."""
    rho, ux, uy = macroscopic(f)
    feq = equilibrium(rho, ux, uy)
    fneq = f - feq
    # Second moment of the non-equilibrium part, Pi_ab = sum_i c_ia c_ib fneq_i.
    pxx = fneq[1] + fneq[3] + fneq[5] + fneq[6] + fneq[7] + fneq[8]
    pyy = fneq[2] + fneq[4] + fneq[5] + fneq[6] + fneq[7] + fneq[8]
    pxy = fneq[5] - fneq[6] + fneq[7] - fneq[8]
    if smagorinsky > 0:
        pi_norm = np.sqrt(pxx * pxx + pyy * pyy + 2.0 * pxy * pxy)
        tau_eff = 0.5 * (tau + np.sqrt(tau * tau + 18.0 * math.sqrt(2.0) * smagorinsky**2 * pi_norm / rho))
        keep = 1.0 - 1.0 / tau_eff
    else:
        keep = np.float32(1.0 - 1.0 / tau)
    out = feq
    for i in range(9):
        qxx = CX[i] * CX[i] - 1.0 / 3.0
        qyy = CY[i] * CY[i] - 1.0 / 3.0
        qxy = CX[i] * CY[i]
        regularised = 4.5 * WEIGHTS[i] * (qxx * pxx + qyy * pyy + 2.0 * qxy * pxy)
        out[i] += keep * regularised
    return out


def stream(f: np.ndarray) -> None:
    """Move every population one lattice link along its velocity (in place)."""
    for i in range(1, 9):
        f[i] = np.roll(f[i], shift=(CY[i], CX[i]), axis=(0, 1))


class CylinderFlow:
    """A running simulation: lattice state plus the boundary data it needs."""

    def __init__(self, params: FlowParameters):
        self.params = params
        self.mask = cylinder_mask(params)
        ny, nx = params.ny, params.nx
        u0 = np.float32(params.inflow_velocity)
        one = np.ones((ny, nx), dtype=np.float32)
        ux = u0 * one
        ux[self.mask] = 0.0
        # A small transverse kick behind the cylinder speeds up the onset of shedding.
        ys, xs = np.mgrid[0:ny, 0:nx]
        uy = (0.1 * u0 * np.sin(2 * np.pi * ys / ny) * np.exp(-(((xs - 1.5 * params.cylinder_x * params.diameter_cells) / params.diameter_cells) ** 2))).astype(np.float32)
        self.f = equilibrium(one, ux, uy)
        self.inflow = equilibrium(np.ones(1, np.float32), np.full(1, u0), np.zeros(1, np.float32))[:, 0]
        self.tau = np.float32(params.relaxation_time)
        self.step_count = 0

    def step(self) -> None:
        f = self.f
        solid = f[:, self.mask]
        f = collide(f, self.tau, self.params.smagorinsky)
        # Full-way bounce-back: solid nodes send every population back where it came from.
        f[:, self.mask] = solid[OPPOSITE]
        stream(f)
        f[:, :, 0] = self.inflow[:, None]  # inlet
        f[:, 0, :] = self.inflow[:, None]  # bottom wall moving with the free stream
        f[:, -1, :] = self.inflow[:, None]  # top wall moving with the free stream
        f[:, :, -1] = f[:, :, -2]  # zero-gradient outflow
        self.f = f
        self.step_count += 1

    def velocity(self) -> tuple[np.ndarray, np.ndarray]:
        _, ux, uy = macroscopic(self.f)
        return ux, uy

    def check_stable(self) -> None:
        ux, uy = self.velocity()
        speed = float(np.max(np.hypot(ux, uy)))  # NaN anywhere propagates to the maximum
        if not math.isfinite(speed) or speed > MAX_LATTICE_SPEED:
            p = self.params
            raise SimulationDiverged(
                f"lattice-Boltzmann run at Re={p.reynolds:g} diverged after {self.step_count} steps "
                f"(max |u| = {speed:.3g} lattice units, beyond the sound speed {MAX_LATTICE_SPEED:.3f}); grid {p.nx}x{p.ny} cells, "
                f"cylinder {p.diameter_cells:g} cells across, tau={p.relaxation_time:.5f}. "
                "Increase flow.diameter_cells, lower flow.inflow_velocity or raise flow.smagorinsky."
            )


def strouhal_number(lift_signal: np.ndarray, times: np.ndarray) -> float:
    """Dominant frequency of a transverse-velocity probe signal, in units of U/D.

    Returns NaN when the window holds less than about one period.
    """
    signal = lift_signal - lift_signal.mean()
    if len(signal) < 8 or not np.any(signal):
        return float("nan")
    window = np.hanning(len(signal))
    padded = 16 * len(signal)  # zero-padding interpolates the spectrum between FFT bins
    spectrum = np.abs(np.fft.rfft(signal * window, n=padded))
    freqs = np.fft.rfftfreq(padded, d=float(times[1] - times[0]))
    peak = int(np.argmax(spectrum[1:]) + 1)
    if freqs[peak] * (times[-1] - times[0]) < 1.0:
        return float("nan")
    return float(freqs[peak])


def save_checkpoint(path: Path, params: FlowParameters, sim: CylinderFlow, sample: int, u: np.ndarray, v: np.ndarray, steps: np.ndarray) -> None:
    """The whole state of a run, written atomically (plain arrays, no pickle)."""
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, parameters=np.array(json.dumps(asdict(params), sort_keys=True)), f=sim.f, step_count=np.array(sim.step_count),
             sample=np.array(sample), u=u[:sample], v=v[:sample], steps=steps[:sample])
    os.replace(partial, path)


def load_checkpoint(path: Path, params: FlowParameters, sim: CylinderFlow, u: np.ndarray, v: np.ndarray, steps: np.ndarray) -> int:
    """Restore a run from `path` if it holds a run of the same parameters; return the samples done."""
    if not path.is_file():
        return 0
    try:
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["parameters"]) != json.dumps(asdict(params), sort_keys=True):
                log.warning("ignoring checkpoint %s: it belongs to other parameters", path)
                return 0
            sample = int(saved["sample"])
            sim.f = saved["f"].copy()
            sim.step_count = int(saved["step_count"])
            u[:sample], v[:sample], steps[:sample] = saved["u"], saved["v"], saved["steps"]
    except (OSError, ValueError, KeyError) as error:
        log.warning("ignoring unreadable checkpoint %s (%s)", path, error)
        return 0
    log.info("Re=%g: resuming from the checkpoint at step %d (%d snapshots done)", params.reynolds, sim.step_count, sample)
    return sample


def simulate(params: FlowParameters, progress_every: float = 10.0, checkpoint: str | os.PathLike | None = None,
             checkpoint_every: int = 2000) -> xr.Dataset:
    """Run the simulation and return the flow dataset (the `flow` stage contract).

    With `checkpoint`, the state is saved there every `checkpoint_every` steps, a run that
    finds a checkpoint of the same parameters resumes from it (with the same result as an
    uninterrupted run), and the checkpoint is removed once the run is done.
    """
    sim = CylinderFlow(params)
    total = params.spinup_steps + params.n_samples * params.sample_every
    log.info(
        "Re=%g: grid %dx%d, D=%g cells, tau=%.5f, %d spin-up + %d sampled steps (%d snapshots)",
        params.reynolds, params.nx, params.ny, params.diameter_cells, params.relaxation_time,
        params.spinup_steps, total - params.spinup_steps, params.n_samples,
    )
    u = np.empty((params.n_samples, params.ny, params.nx), dtype=np.float32)
    v = np.empty_like(u)
    steps = np.empty(params.n_samples, dtype=np.int64)
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    sample = load_checkpoint(checkpoint, params, sim, u, v, steps) if checkpoint else 0
    first_step = sim.step_count
    start = last_report = time.perf_counter()
    check_every = 100
    while sample < params.n_samples:
        sim.step()
        if sim.step_count % check_every == 0:
            sim.check_stable()
        if sim.step_count > params.spinup_steps and (sim.step_count - params.spinup_steps) % params.sample_every == 0:
            ux, uy = sim.velocity()
            u[sample], v[sample] = ux, uy
            steps[sample] = sim.step_count
            sample += 1
        if checkpoint and sim.step_count % checkpoint_every == 0:
            save_checkpoint(checkpoint, params, sim, sample, u, v, steps)
        now = time.perf_counter()
        if now - last_report > progress_every:
            rate = (sim.step_count - first_step) / (now - start)
            log.info(
                "Re=%g: step %d/%d, %.1f MLUPS, %.0f s left",
                params.reynolds, sim.step_count, total, rate * params.nx * params.ny / 1e6, (total - sim.step_count) / rate,
            )
            last_report = now
    sim.check_stable()
    elapsed = time.perf_counter() - start
    done = sim.step_count - first_step
    log.info("Re=%g: done in %.1f s (%.1f MLUPS)", params.reynolds, elapsed, done * params.nx * params.ny / max(elapsed, 1e-9) / 1e6)
    dataset = to_dataset(params, u, v, steps, sim.mask)
    if checkpoint:
        checkpoint.unlink(missing_ok=True)
    return dataset


def to_dataset(params: FlowParameters, u: np.ndarray, v: np.ndarray, steps: np.ndarray, mask: np.ndarray) -> xr.Dataset:
    """Wrap lattice velocities as the flow-stage dataset in physical units."""
    scale = np.float32(1.0 / params.inflow_velocity)
    u = np.where(mask, np.nan, u * scale).astype(np.float32)
    v = np.where(mask, np.nan, v * scale).astype(np.float32)
    x, y = params.coordinates()
    times = steps / params.steps_per_time_unit
    # Transverse velocity two diameters behind the cylinder, on the axis: its
    # oscillation frequency is the shedding frequency.
    probe = v[:, int(np.argmin(np.abs(y))), int(np.argmin(np.abs(x - 2.0)))]
    attrs = {
        "reynolds": float(params.reynolds),
        "source": "simulate",
        "solver": "karman.flow D2Q9 regularised BGK + Smagorinsky, numpy float32",
        "solver_parameters": {**asdict(params), "nx": params.nx, "ny": params.ny, "relaxation_time": params.relaxation_time, "sample_every": params.sample_every},
        "strouhal": strouhal_number(probe, times),
        "length_unit": "cylinder diameter D",
        "time_unit": "D/U",
        "velocity_unit": "U (inflow speed)",
        "karman_version": __version__,
    }
    return xr.Dataset(
        {
            "u": (("time", "y", "x"), u, {"long_name": "streamwise velocity", "units": "U"}),
            "v": (("time", "y", "x"), v, {"long_name": "transverse velocity", "units": "U"}),
            "cylinder": (("y", "x"), mask, {"long_name": "inside the cylinder"}),
        },
        coords={
            "time": ("time", times, {"units": "D/U"}),
            "y": ("y", y.astype(np.float64), {"units": "D"}),
            "x": ("x", x.astype(np.float64), {"units": "D"}),
        },
        attrs=attrs,
    )


def write_flow(output: str | os.PathLike, *, reynolds: float, flow: dict, checkpoint_every: int = 2000) -> None:
    """The `flow` stage for `source: simulate`: run the solver, write the store."""
    settings = {key: value for key, value in flow.items() if key != "source"}
    output = Path(output)
    # The checkpoint lives beside the store, so that a killed job resumes where it stopped.
    checkpoint = output.with_name(f".{output.name}.checkpoint.npz")
    output.parent.mkdir(parents=True, exist_ok=True)
    dataset = simulate(FlowParameters(reynolds=reynolds, **settings), checkpoint=checkpoint, checkpoint_every=checkpoint_every)
    write_store(dataset, output, chunks={"time": 32}, check=lambda path, name: check_store(path, "flow", name))
    log.info("wrote %s (St = %.3f)", output, dataset.attrs["strouhal"])
