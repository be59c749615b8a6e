"""Faults the tests inject into the workflow's jobs: on PYTHONPATH only in tests/test_faults.py.

KARMAN_FAULT=<kind>:<fragment> acts on every Zarr store written to a path containing
<fragment>: `disk-full` writes part of it, then fails as a full disk does (ENOSPC);
`hang` writes it, then waits (for the test to kill the job mid-write); `slow` waits 10 s
before writing it.
"""

import os

FAULT = os.environ.get("KARMAN_FAULT")

if FAULT:
    import errno
    import time

    import xarray

    KIND, FRAGMENT = FAULT.split(":", 1)
    write = xarray.Dataset.to_zarr

    def to_zarr(self, store, *args, **kwargs):
        if FRAGMENT not in os.fspath(store):
            return write(self, store, *args, **kwargs)
        if KIND == "disk-full":
            write(self.isel({dim: slice(0, 1) for dim in self.dims}), store, *args, **kwargs)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(store))
        if KIND == "slow":
            time.sleep(10)
        result = write(self, store, *args, **kwargs)
        if KIND == "hang":
            time.sleep(3600)
        return result

    xarray.Dataset.to_zarr = to_zarr
