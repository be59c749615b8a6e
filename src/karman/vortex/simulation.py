"""Running the lattice: snapshots at a steady interval, progress in the log, checkpoints
that let a killed run resume bit for bit, and the flow store of a finished run."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from karman.atomic import written_whole
from karman.check import check_store
from karman.signal import dominant_frequency
from karman.stores import write_store
from karman.vortex.lattice import CylinderFlow
from karman.vortex.parameters import FlowParameters, flow_parameters, reynolds_label
from karman.vortex.store import FLOW, flow_dataset

log = logging.getLogger(__name__)


def configure_threads(threads: int) -> None:
    """OpenMP threads of the generated kernels; call before the first simulation."""
    os.environ["OMP_NUM_THREADS"] = str(max(1, int(threads)))


@dataclass
class Samples:
    """What a run records at every snapshot: velocities (unless not wanted) and forces."""

    u: np.ndarray
    v: np.ndarray
    drag: np.ndarray
    lift: np.ndarray
    steps: np.ndarray

    @classmethod
    def empty(cls, params: FlowParameters, fields: bool = True) -> Samples:
        n = params.n_samples
        shape = (n, params.ny, params.nx) if fields else (n, 0, 0)
        return cls(np.empty(shape, np.float32), np.empty(shape, np.float32), np.empty(n), np.empty(n), np.empty(n, np.int64))

    def times(self, params: FlowParameters) -> np.ndarray:
        """Snapshot times in D/U."""
        return self.steps / params.steps_per_time_unit


def record_snapshot(samples: Sequence[Samples], index: int, sim: CylinderFlow) -> None:
    """Snapshot `index` of every channel of `sim`, one Samples each."""
    u, v = sim.velocity() if samples[0].u.size else (None, None)
    for b, (channel, (drag, lift)) in enumerate(zip(samples, sim.coefficients())):
        if u is not None:
            channel.u[index], channel.v[index] = u[b], v[b]
        channel.drag[index], channel.lift[index] = drag, lift
        channel.steps[index] = sim.step_count


def _parameters_json(channels: Sequence[FlowParameters]) -> str:
    return json.dumps([asdict(params) for params in channels], sort_keys=True)


def save_checkpoint(path: Path, channels: Sequence[FlowParameters], sim: CylinderFlow, done: int, samples: Sequence[Samples]) -> None:
    """The whole state of a run, written atomically (plain arrays, no pickle)."""
    recorded = {name: np.stack([vars(channel)[name][:done] for channel in samples]) for name in vars(samples[0])}
    with written_whole(path) as partial, open(partial, "wb") as out:  # a file object: np.savez would add ".npz" to a bare name
        np.savez(out, parameters=np.array(_parameters_json(channels)), done=np.array(done), **sim.state(), **recorded)


def load_checkpoint(path: Path, channels: Sequence[FlowParameters], sim: CylinderFlow, samples: Sequence[Samples]) -> int:
    """Restore a run from `path` if it holds a run of the same parameters; return the snapshots done."""
    if not path.is_file():
        return 0
    try:
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["parameters"]) != _parameters_json(channels):
                log.warning("ignoring checkpoint %s: it belongs to other parameters", path)
                return 0
            done = int(saved["done"])
            for b, channel in enumerate(samples):
                for name, values in vars(channel).items():  # the arrays themselves, not copies
                    values[:done] = saved[name][b]
            sim.restore(saved)
    except (OSError, ValueError, KeyError, IndexError) as error:
        log.warning("ignoring unreadable checkpoint %s (%s)", path, error)
        return 0
    log.info("%s: resuming from the checkpoint at step %d (%d snapshots done)", reynolds_label(channels), sim.step_count, done)
    return done


def simulate(params: FlowParameters, backend: str = "cpu", **options) -> xr.Dataset:
    """Run the simulation and return the flow dataset (the `flow` stage contract); options as for `run`."""
    sim, samples = run(params, backend, **options)
    return to_dataset(params, samples, sim.mask, backend)


def run(params: FlowParameters, backend: str = "cpu", **options) -> tuple[CylinderFlow, Samples]:
    """Run one simulation; return the finished run and its snapshots. Options as for `run_batch`."""
    sim, (samples,) = run_batch([params], backend, **options)
    return sim, samples


def run_batch(channels: Sequence[FlowParameters], backend: str = "cpu", fields: bool = True, progress_every: float = 10.0,
              checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 2000,
              check_every: int = 200) -> tuple[CylinderFlow, list[Samples]]:
    """Run several Reynolds numbers of one set-up side by side in one lattice (see CylinderFlow);
    return the finished run and the snapshots of each (forces only unless `fields`).

    The run is checked for divergence at least every `check_every` steps. With
    `checkpoint`, the state is saved there every `checkpoint_every` steps or so, a run that
    finds a checkpoint of the same parameters resumes from it (with the same result as an
    uninterrupted run), and the checkpoint is removed once the run is done.
    """
    setup = time.perf_counter()
    sim = CylinderFlow(channels, backend)
    params, label = sim.params, reynolds_label(sim.channels)
    cells = len(sim.channels) * params.nx * params.ny
    total = params.spinup_steps + params.n_samples * params.sample_every
    log.info(
        "%s: grid %dx%d, D=%g cells, %s collision, omega=%s, Mach %.3g, %d spin-up + %d sampled steps (%d snapshots), "
        "kernels ready in %.1f s", label, params.nx, params.ny, params.diameter_cells, params.collision,
        ",".join(f"{channel.relaxation_rate:.5f}" for channel in sim.channels), params.mach, params.spinup_steps,
        total - params.spinup_steps, params.n_samples, time.perf_counter() - setup,
    )
    samples = [Samples.empty(params, fields) for _ in sim.channels]
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    done = load_checkpoint(checkpoint, sim.channels, sim, samples) if checkpoint else 0
    first_step = sim.step_count
    start = last_report = time.perf_counter()
    last_checkpoint = sim.step_count
    while done < params.n_samples:
        next_sample = params.spinup_steps + (done + 1) * params.sample_every
        sim.run(min(check_every, next_sample - sim.step_count))
        sim.check_stable()
        if sim.step_count == next_sample:
            record_snapshot(samples, done, sim)
            done += 1
        if checkpoint and sim.step_count - last_checkpoint >= checkpoint_every:
            save_checkpoint(checkpoint, sim.channels, sim, done, samples)
            last_checkpoint = sim.step_count
        now = time.perf_counter()
        if now - last_report > progress_every:
            rate = (sim.step_count - first_step) / (now - start)
            log.info("%s: step %d/%d, %.0f MLUPS, %.0f s left", label, sim.step_count, total, rate * cells / 1e6,
                     (total - sim.step_count) / rate)
            last_report = now
    elapsed = time.perf_counter() - start
    mlups = (sim.step_count - first_step) * cells / max(elapsed, 1e-9) / 1e6
    log.info("%s: done in %.1f s (%.0f MLUPS)", label, elapsed, mlups)
    if checkpoint:
        checkpoint.unlink(missing_ok=True)
    return sim, samples


def to_dataset(params: FlowParameters, samples: Samples, mask: np.ndarray, backend: str = "cpu") -> xr.Dataset:
    """Wrap lattice velocities and forces as the flow-stage dataset in physical units."""
    scale = np.float32(1.0 / params.inflow_velocity)
    u = np.where(mask, np.nan, samples.u * scale).astype(np.float32)
    v = np.where(mask, np.nan, samples.v * scale).astype(np.float32)
    times = samples.times(params)
    attrs = {
        "reynolds": float(params.reynolds),
        "source": "simulate",
        "solver": f"lbmpy D2Q9 {params.collision} collision, float32, {backend} backend",
        "solver_parameters": params.describe(),
        "strouhal": dominant_frequency(samples.lift, times),
        "drag_coefficient": float(samples.drag.mean()),
        "lift_coefficient": float(samples.lift.mean()),
        "lift_amplitude": float(samples.lift.max() - samples.lift.mean()),
    }
    forces = {
        "drag_coefficient": ("time", samples.drag, {"long_name": "drag coefficient F_x / (rho U^2 D / 2)"}),
        "lift_coefficient": ("time", samples.lift, {"long_name": "lift coefficient F_y / (rho U^2 D / 2)"}),
    }
    return flow_dataset(u, v, mask, times, *params.coordinates(), attrs, **forces)


def write_flow(outputs: Sequence[str | os.PathLike], *, reynolds: Sequence[float], flow: dict, checkpoint_every: int = 2000) -> None:
    """The `flow` stage for `source: simulate`: run the solver, write one store per Reynolds number.

    Several Reynolds numbers run side by side in one lattice (`run_batch`; each store is bit
    for bit that of its own run), one alone as one channel.
    """
    outputs = [Path(output) for output in outputs]
    if len(outputs) != len(reynolds):
        raise ValueError(f"{len(outputs)} flow stores for {len(reynolds)} Reynolds numbers")
    # The checkpoint lives beside the (first) store, so that a killed job resumes where it stopped.
    checkpoint = outputs[0].with_name(f".{outputs[0].name}.checkpoint.npz")
    outputs[0].parent.mkdir(parents=True, exist_ok=True)
    channels = [flow_parameters(value, flow) for value in reynolds]
    backend = flow.get("backend", "cpu")
    sim, samples = run_batch(channels, backend, checkpoint=checkpoint, checkpoint_every=checkpoint_every)
    for output, params, channel in zip(outputs, channels, samples):
        dataset = to_dataset(params, channel, sim.mask, backend)
        write_store(dataset, output, chunks={"time": 32}, check=lambda path, name: check_store(path, FLOW, name))
        log.info("wrote %s (St = %.3f, mean c_D = %.3f)", output, dataset.attrs["strouhal"], dataset.attrs["drag_coefficient"])
