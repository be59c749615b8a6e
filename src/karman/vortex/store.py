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


