"""The driven Duffing oscillator: a second physical system through karman's stages.

In the frame rotating with the drive, the slowly varying complex amplitude z of a weakly
nonlinear oscillator driven at frequency ω(t) obeys

    dz/dt = [−i(ω0 − ω(t)) − γ/2] z − i ε |z|² z + i f,

with resonance frequency ω0, damping γ, Duffing nonlinearity ε and drive strength f. The
drive frequency is swept linearly, ω(t) = ω_start + (ω_end − ω_start) t / t_end, and the
response |z| along the sweep is what a network reads to recover (ω0, γ, ε). At ε = 0 and
a slow sweep |z| follows the Lorentzian f / √((ω − ω0)² + (γ/2)²); for ε > 0 the peak
bends towards higher ω (the resonance shifts by ε|z|²) and collapses when the upward sweep
falls off the upper branch: the "shark fin".

The integrator is a classical fourth-order Runge–Kutta scheme, vectorised over samples
(and forces): one numpy expression per stage for all trajectories of a chunk, no Python
loop over samples.
"""

from __future__ import annotations

import numpy as np

TARGETS = ("omega0", "gamma", "epsilon")
TARGET_LABELS = {"omega0": "ω0", "gamma": "γ", "epsilon": "ε"}


def drive_frequency(t: np.ndarray, sweep: dict) -> np.ndarray:
    """ω(t) of the linear sweep from `sweep.frequency[0]` at t = 0 to `[1]` at t = `duration`."""
    start, end = sweep["frequency"]
    return start + (end - start) * np.asarray(t) / sweep["duration"]


def rotating_frame_rhs(z, omega, omega0, gamma, epsilon, force):
    """dz/dt of the driven Duffing oscillator in the frame rotating with the drive."""
    return (-1j * (omega0 - omega) - 0.5 * gamma) * z - 1j * epsilon * (z.real**2 + z.imag**2) * z + 1j * force


def sweep_response(omega0, gamma, epsilon, force, sweep: dict, initial=0.0) -> np.ndarray:
    """|z| along the sweep for every trajectory at once: shape (*trajectories, steps + 1).

    `omega0`, `gamma`, `epsilon`, `force` and `initial` (z at t = 0) broadcast against each
    other; each of their elements is one trajectory. Classical RK4 with `sweep.steps`
    steps over `sweep.duration`; the drive frequency is evaluated at each stage's time.
    """
    omega0, gamma, epsilon, force = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (omega0, gamma, epsilon, force)))
    steps, dt = sweep["steps"], sweep["duration"] / sweep["steps"]
    z = np.broadcast_to(np.asarray(initial, dtype=np.complex128), omega0.shape).copy()
    magnitude = np.empty((*omega0.shape, steps + 1), dtype=np.float64)
    magnitude[..., 0] = np.abs(z)

    def rhs(z, t):
        return rotating_frame_rhs(z, drive_frequency(t, sweep), omega0, gamma, epsilon, force)

    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run becomes inf/nan, caught by check_finite
        for step in range(steps):
            t = step * dt
            k1 = rhs(z, t)
            k2 = rhs(z + 0.5 * dt * k1, t + 0.5 * dt)
            k3 = rhs(z + 0.5 * dt * k2, t + 0.5 * dt)
            k4 = rhs(z + dt * k3, t + dt)
            z = z + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            magnitude[..., step + 1] = np.abs(z)
    return magnitude


def sweep_response_per_sample(omega0, gamma, epsilon, force, sweep: dict, initial=0.0) -> np.ndarray:
    """The same RK4 as `sweep_response`, one trajectory at a time in a Python loop.

    The reference that the benchmark `duffing` measures the vectorised integrator against.
    """
    omega0, gamma, epsilon, force = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (omega0, gamma, epsilon, force)))
    steps, dt = sweep["steps"], sweep["duration"] / sweep["steps"]
    magnitude = np.empty((*omega0.shape, steps + 1))
    for index in np.ndindex(omega0.shape):
        w0, g, e, f = float(omega0[index]), float(gamma[index]), float(epsilon[index]), float(force[index])
        z = complex(np.broadcast_to(initial, omega0.shape)[index])
        magnitude[index][0] = abs(z)
        for step in range(steps):
            t = step * dt
            k1 = rotating_frame_rhs(z, drive_frequency(t, sweep), w0, g, e, f)
            k2 = rotating_frame_rhs(z + 0.5 * dt * k1, drive_frequency(t + 0.5 * dt, sweep), w0, g, e, f)
            k3 = rotating_frame_rhs(z + 0.5 * dt * k2, drive_frequency(t + 0.5 * dt, sweep), w0, g, e, f)
            k4 = rotating_frame_rhs(z + dt * k3, drive_frequency(t + dt, sweep), w0, g, e, f)
            z = z + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            magnitude[index][step + 1] = abs(z)
    return magnitude


def frequency_bins(sweep: dict, bins: int) -> np.ndarray:
    """Centres of `bins` equal bins spanning the sweep's frequency range."""
    start, end = sweep["frequency"]
    edges = np.linspace(start, end, bins + 1)
    return 0.5 * (edges[:-1] + edges[1:])


def resample(magnitude: np.ndarray, sweep: dict, bins: int) -> np.ndarray:
    """|z| along the sweep (last axis, steps + 1 points) linearly interpolated at the bin centres."""
    position = (frequency_bins(sweep, bins) - sweep["frequency"][0]) / (sweep["frequency"][1] - sweep["frequency"][0]) * sweep["steps"]
    lower = np.minimum(np.floor(position).astype(int), sweep["steps"] - 1)
    weight = position - lower
    return magnitude[..., lower] * (1 - weight) + magnitude[..., lower + 1] * weight


def draw_parameters(n_samples: int, ranges: dict, seed: int) -> dict[str, np.ndarray]:
    """(ω0, γ, ε) of each sample, uniform in the configured [low, high] ranges."""
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(*ranges[name], size=n_samples) for name in TARGETS}


def force_values(images: dict) -> np.ndarray:
    low, high = images["force"]
    return np.linspace(low, high, images["force_bins"])


class IntegrationError(ValueError):
    """The RK4 integration left the range of finite numbers; the message says what to change."""


def check_finite(magnitude: np.ndarray, settings: dict) -> np.ndarray:
    """Fail clearly when the integrator diverged (too large a step for the fastest dynamics)."""
    if not np.isfinite(magnitude).all():
        sweep = settings["sweep"]
        raise IntegrationError(
            f"the Duffing RK4 integration diverged with duffing.sweep.steps = {sweep['steps']} over duffing.sweep.duration = "
            f"{sweep['duration']:g} (time step {sweep['duration'] / sweep['steps']:g}): raise duffing.sweep.steps "
            f"(the course notes' 400 over 200 is stable for the default parameter ranges)"
        )
    return magnitude
