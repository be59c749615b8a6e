"""The Duffing oscillator's samples: stores of response curves and force-sweep images.

Two kinds of samples, each a Zarr store chunked along `sample`:
- `curves`: |z| at f = `curves.force`, resampled to `frequency_bins` drive frequencies;
- `images`: a force sweep, one row per force in `images.force` (`force_bins` of them),
  columns as for the curves, Gaussian noise of strength `images.noise` added to |z|, and
  two more channels holding the frequency and the force of each pixel.

Parameters are drawn uniformly from the configured ranges with a fixed
seed; the noise of sample i comes from a generator seeded by (seed, i), so the data do not
depend on the chunking.
"""

from __future__ import annotations

import json
import logging
import os
import time

import dask
import dask.array as da
import numpy as np
import xarray as xr

from karman import __version__
from karman.check import Contract, check_store
from karman.duffing.oscillator import TARGET_LABELS, TARGETS, check_finite, draw_parameters, force_values, frequency_bins, resample, sweep_response
from karman.stores import write_store

log = logging.getLogger(__name__)

KINDS = ("curves", "images")
CHANNELS = ("response", "frequency", "force")
NOISE_STREAM = 1  # second element of the noise generators' seeds, apart from the parameters'

# The contracts of the two kinds of store (docs/data-format.md).
COORDS = {"sample": ("sample",), "frequency": ("frequency",), "omega0": ("sample",), "gamma": ("sample",), "epsilon": ("sample",)}
ATTRS = ("system", "kind", "targets", "generator_settings", "karman_version")
CONTRACTS = (
    Contract(
        kind="duffing-curves",
        variables={"response": (("sample", "frequency"), "float32")},
        coords=COORDS,
        increasing=("sample", "frequency"),
        attrs=ATTRS,
    ),
    Contract(
        kind="duffing-images",
        variables={"response": (("sample", "force", "frequency", "channel"), "float32")},
        coords=COORDS | {"force": ("force",), "channel": ("channel",)},
        increasing=("sample", "force", "frequency"),
        attrs=ATTRS,
    ),
)
CONTRACT = dict(zip(KINDS, CONTRACTS))


def curve_chunk(parameters: dict[str, np.ndarray], settings: dict) -> np.ndarray:
    """Response curves (samples, frequency_bins) for the given parameters."""
    curves = settings["curves"]
    magnitude = sweep_response(parameters["omega0"], parameters["gamma"], parameters["epsilon"], curves["force"], settings["sweep"],
                               initial=1j * curves["initial_amplitude"])
    check_finite(magnitude, settings)
    return resample(magnitude, settings["sweep"], curves["frequency_bins"]).astype(np.float32)


def image_chunk(parameters: dict[str, np.ndarray], sample_indices: np.ndarray, settings: dict) -> np.ndarray:
    """Force-sweep images (samples, force_bins, frequency_bins, 3): noisy |z|, frequency, force."""
    images, sweep = settings["images"], settings["sweep"]
    forces = force_values(images)
    column = {name: values[:, np.newaxis] for name, values in parameters.items()}  # (samples, 1) against forces (force_bins,)
    magnitude = sweep_response(column["omega0"], column["gamma"], column["epsilon"], forces, sweep, initial=1j * images["initial_amplitude"])
    check_finite(magnitude, settings)
    response = resample(magnitude, sweep, images["frequency_bins"])
    noise = np.stack([np.random.default_rng([settings["seed"], NOISE_STREAM, int(i)]).standard_normal(response.shape[1:]) for i in sample_indices])
    frequency, force = np.meshgrid(frequency_bins(sweep, images["frequency_bins"]), forces)
    coordinates = np.broadcast_to(np.stack([frequency, force], axis=-1), (*response.shape, 2))
    return np.concatenate([(response + images["noise"] * noise)[..., np.newaxis], coordinates], axis=-1).astype(np.float32)


def samples_dataset(kind: str, settings: dict) -> xr.Dataset:
    """The samples of one kind as a lazy Dataset: `response` computed chunk by chunk with Dask.

    Targets are coordinates along `sample`; every generator setting is in the attrs.
    """
    if kind not in KINDS:
        raise ValueError(f"Duffing sample kind {kind!r} is not one of {', '.join(KINDS)}")
    spec, sweep, chunk = settings[kind], settings["sweep"], settings["sample_chunk"]
    n_samples = spec["samples"]
    # Curves and images are independent draws: each kind has its own parameter stream.
    parameters = draw_parameters(n_samples, settings["parameters"], [settings["seed"], KINDS.index(kind)])
    blocks = []
    for start in range(0, n_samples, chunk):
        part = {name: values[start : start + chunk] for name, values in parameters.items()}
        indices = np.arange(start, min(start + chunk, n_samples))
        if kind == "curves":
            block, shape = dask.delayed(curve_chunk)(part, settings), (len(indices), spec["frequency_bins"])
        else:
            block = dask.delayed(image_chunk)(part, indices, settings)
            shape = (len(indices), spec["force_bins"], spec["frequency_bins"], len(CHANNELS))
        blocks.append(da.from_delayed(block, shape=shape, dtype=np.float32))
    response = da.concatenate(blocks, axis=0)
    coords = {"sample": np.arange(n_samples), "frequency": frequency_bins(sweep, spec["frequency_bins"]),
              **{name: ("sample", values) for name, values in parameters.items()}}
    if kind == "curves":
        dims = ("sample", "frequency")
        description = f"|z| of the swept response at force {spec['force']:g}, at each frequency bin"
    else:
        dims = ("sample", "force", "frequency", "channel")
        coords |= {"force": force_values(spec), "channel": np.array(CHANNELS, dtype=object)}
        description = "channel 0: |z| of the swept response plus Gaussian noise; 1: drive frequency; 2: force"
    dataset = xr.Dataset({"response": (dims, response, {"description": description})}, coords=coords)
    for name in TARGETS:
        dataset[name].attrs["description"] = f"target {TARGET_LABELS[name]}, uniform in {list(settings['parameters'][name])}"
    dataset.attrs.update({
        "system": "duffing",
        "kind": kind,
        "targets": list(TARGETS),
        "equation": "dz/dt = [-i(omega0 - omega(t)) - gamma/2] z - i epsilon |z|^2 z + i f",
        "integrator": "classical RK4, vectorised over samples",
        "generator_settings": json.dumps(settings, sort_keys=True),
        "karman_version": __version__,
    })
    return dataset


def write_samples(output_path: str | os.PathLike, *, kind: str, settings: dict, threads: int = 1) -> None:
    """The Duffing `simulate` stage: generate one kind of samples into a chunked Zarr store."""
    dataset = samples_dataset(kind, settings)
    started = time.perf_counter()
    n_samples = dataset.sizes["sample"]
    log.info("generating %d Duffing %s (%s), %d per chunk, on %d threads", n_samples, kind,
             " x ".join(f"{dim} {size}" for dim, size in dataset["response"].sizes.items()), settings["sample_chunk"], threads)
    with dask.config.set(scheduler="threads", num_workers=threads):
        write_store(dataset, output_path, chunks={"sample": settings["sample_chunk"]},
                    check=lambda path, name: check_store(path, CONTRACT[kind], name))
    seconds = time.perf_counter() - started
    log.info("wrote %s: %d samples in %.1f s (%.0f samples/s)", os.fspath(output_path), n_samples, seconds, n_samples / seconds)
