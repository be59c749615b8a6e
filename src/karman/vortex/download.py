"""The `flow` stage for `source: download`: published velocity fields instead of a simulation.

One file per Reynolds number is downloaded (HTTP(S), or file:// for a local copy) under a
partial name beside its store (`results/flow/.re00300.zarr.download.partial-…`, see
`karman.atomic.partial_path`: the next job that downloads it removes it if this one is
killed) by `karman.fetch` (checksummed while it streams in, bounded in size and time, its
URL's secrets kept out of logs and outputs), it is read according to
`flow.download.format`, checked, and converted to the flow store contract
(docs/data-format.md): u, v (time, y, x) float32 in units of the inflow speed U, NaN
inside the cylinder, x and y in cylinder diameters from the cylinder centre, time in D/U.
The file is removed once read; the store is written whole or not at all.

The file is read by `karman.vortex.flow_files` (the course's pickles by
`karman.vortex.course_pickle`) and converted and checked by `karman.vortex.flow_conversion`.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from karman.atomic import partial_path
from karman.check import check_store
from karman.fetch import fetch, public_url
from karman.stores import write_store
from karman.vortex.flow_conversion import to_flow_dataset
from karman.vortex.flow_files import DEFAULTS, FORMATS, read_fields
from karman.vortex.store import FLOW

log = logging.getLogger(__name__)


def write_downloaded_flow(output: str | os.PathLike, *, reynolds: float, url: str, sha256: str, size: int | None = None,
                          settings: dict | None = None, deadline: float = 3600.0, max_bytes: int | None = None,
                          bounds_hint: str = "") -> None:
    """The `flow` stage for `source: download`: download, verify, read, convert, write the store.

    `settings` are the `flow.download` settings other than `files` (format, geometry,
    scales; missing keys take the course defaults); `size` is the file's size in bytes where
    its entry gives one, else `max_bytes` caps it; `deadline` (seconds) bounds the download
    and `bounds_hint` says how to raise the bounds (`karman.fetch.fetch`). The file streams
    to a partial name beside `output` (`karman.atomic.partial_path`, so that the next
    download of it removes it after a killed job) and is removed once read; the store is
    written whole or not at all, so on any failure nothing appears at `output` and nothing is
    left beside it. The log and the store name the URL without its user info and query string
    (`karman.fetch.public_url`).
    """
    settings = {key: value for key, value in {**DEFAULTS, **(settings or {})}.items() if key != "files"}
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(output.with_name(f"{output.name}.download"))
    shown = public_url(url)
    try:
        fetch(url, sha256, partial, size=size, max_bytes=max_bytes, deadline=deadline, bounds_hint=bounds_hint,
              setting=f"flow.download.files.{reynolds:g}.sha256")
        log.info("reading %s as %s (%s)", shown, settings["format"], FORMATS.get(settings["format"], "unknown format"))
        fields = read_fields(partial, shown, settings)
    finally:
        partial.unlink(missing_ok=True)
    dataset = to_flow_dataset(fields, reynolds=reynolds, url=shown, sha256=str(sha256).strip().lower(), settings=settings)
    interval = float(dataset.time[1] - dataset.time[0]) if dataset.sizes["time"] > 1 else math.nan
    log.info("Re=%g: %d frames %.4g D/U apart on a %d x %d grid; St = %.3f",
             reynolds, dataset.sizes["time"], interval, dataset.sizes["y"], dataset.sizes["x"], dataset.attrs["strouhal"])
    write_store(dataset, output, chunks={"time": 32}, check=lambda path, name: check_store(path, FLOW, name))
    log.info("wrote %s", output)
