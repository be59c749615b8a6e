"""The flow store: velocities in physical units on the fluid grid, whoever made them
(the lattice or a download), and the contracts of the vortex street's stores."""

from __future__ import annotations

import numpy as np
import xarray as xr

from karman import __version__
from karman.check import Contract

# docs/data-format.md describes both stores.
FLOW = Contract(
    kind="flow",
    variables={"u": (("time", "y", "x"), "float32"), "v": (("time", "y", "x"), "float32")},
    optional_variables={"cylinder": (("y", "x"), "bool")},
    coords={"time": ("time",), "y": ("y",), "x": ("x",)},
    increasing=("time", "y", "x"),
    attrs=("reynolds", "source", "solver", "karman_version"),
)
VORTICITY = Contract(
    kind="vorticity",
    variables={"vorticity": (("sample", "y", "x"), "float32")},
    coords={"sample": ("sample",), "reynolds": ("sample",), "time": ("sample",), "y": ("y",), "x": ("x",)},
    increasing=("sample", "y", "x"),
    attrs=("operator", "crop", "downsample", "sources", "targets", "grouping", "karman_version"),
)


CONTRACTS = (FLOW, VORTICITY)


def strouhal_number(signal: np.ndarray, times: np.ndarray) -> float:
    """Dominant frequency of an oscillating signal (lift, or a transverse-velocity probe), in units of U/D.

    The peak of the Hann-windowed spectrum, zero-padded 16-fold: over a window of T D/U the
    spectrum is read on a grid of 1/(16 T), so the peak lies within 1/(32 T) of the grid
    point found. For T = 20 D/U (the default) that is ±0.0016, 0.7 % of St 0.24 and 1 % of
    St 0.16; for T = 40 (config/sweep.yaml) half of it: precise enough to resolve the 5 %
    band of the physics checks (tests/vortex/test_flow.py). Returns NaN when the window
    holds less than about one period.
    """
    signal = signal - signal.mean()
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


def inside_cylinder(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean (ny, nx) mask of the cells whose centre lies inside the cylinder (coordinates in D, origin at its centre)."""
    return x[np.newaxis, :] ** 2 + y[:, np.newaxis] ** 2 <= 0.25



def flow_dataset(u: np.ndarray, v: np.ndarray, mask: np.ndarray, times: np.ndarray, x: np.ndarray, y: np.ndarray,
                 attrs: dict, **variables) -> xr.Dataset:
    """The flow-stage dataset (docs/data-format.md) of velocities already in units of U and NaN in the
    cylinder, on cell centres x, y in D at times in D/U; `attrs` and `variables` come on top."""
    return xr.Dataset(
        {
            "u": (("time", "y", "x"), u, {"long_name": "streamwise velocity", "units": "U"}),
            "v": (("time", "y", "x"), v, {"long_name": "transverse velocity", "units": "U"}),
            "cylinder": (("y", "x"), mask, {"long_name": "inside the cylinder"}),
            **variables,
        },
        coords={
            "time": ("time", times, {"units": "D/U"}),
            "y": ("y", np.asarray(y, dtype=np.float64), {"units": "D"}),
            "x": ("x", np.asarray(x, dtype=np.float64), {"units": "D"}),
        },
        attrs={**attrs, "length_unit": "cylinder diameter D", "time_unit": "D/U", "velocity_unit": "U (mean inflow speed)",
               "karman_version": __version__},
    )


