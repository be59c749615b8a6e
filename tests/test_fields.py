import dask.array as da
import numpy as np
import pytest
import xarray as xr

from karman.fields import build_vorticity_dataset, crop_and_downsample, vorticity
from karman.stores import open_store, write_store


def velocity_field(u_of, v_of, n_time=6, shape=(33, 41), chunk=2):
    y = np.linspace(-2, 2, shape[0])
    x = np.linspace(-1, 4, shape[1])
    yy, xx = np.meshgrid(y, x, indexing="ij")
    times = np.arange(n_time, dtype=float)
    u = np.broadcast_to(u_of(xx, yy), (n_time, *shape)).astype(np.float32)
    v = np.broadcast_to(v_of(xx, yy), (n_time, *shape)).astype(np.float32)
    coords = {"time": times, "y": y, "x": x}
    return xr.Dataset(
        {"u": (("time", "y", "x"), u), "v": (("time", "y", "x"), v)}, coords=coords, attrs={"reynolds": 100.0}
    ).chunk({"time": chunk})


def test_solid_body_rotation_has_vorticity_two_omega():
    omega = 0.7
    flow = velocity_field(lambda x, y: -omega * y, lambda x, y: omega * x)
    result = vorticity(flow.u, flow.v)
    assert isinstance(result.data, da.Array), "vorticity must stay lazy"
    np.testing.assert_allclose(result.values, 2 * omega, rtol=1e-5)
    assert result.dtype == np.float32


def test_vorticity_of_a_shear_flow_in_physical_units():
    # u = 3 y: omega = -3 everywhere, independent of the grid spacing.
    flow = velocity_field(lambda x, y: 3 * y, lambda x, y: 0 * x)
    np.testing.assert_allclose(vorticity(flow.u, flow.v).values, -3.0, rtol=1e-5)


def test_crop_in_diameters_and_downsample():
    flow = velocity_field(lambda x, y: -y, lambda x, y: x)
    field = vorticity(flow.u, flow.v)
    cropped = crop_and_downsample(field, {"x": [0, 2], "y": [-1, 1]}, {"factor": 1, "method": "stride"})
    assert float(cropped.x.min()) >= 0 and float(cropped.x.max()) <= 2
    assert float(cropped.y.min()) >= -1 and float(cropped.y.max()) <= 1
    strided = crop_and_downsample(field, {"x": [0, 2], "y": [-1, 1]}, {"factor": 2, "method": "stride"})
    assert strided.sizes["x"] == -(-cropped.sizes["x"] // 2)
    meaned = crop_and_downsample(field, {"x": [0, 2], "y": [-1, 1]}, {"factor": 2, "method": "mean"})
    assert meaned.sizes["x"] == cropped.sizes["x"] // 2
    np.testing.assert_allclose(meaned.values, 2.0, rtol=1e-5)


def test_crop_outside_the_grid_is_an_error():
    flow = velocity_field(lambda x, y: y, lambda x, y: x)
    with pytest.raises(ValueError, match="fields.crop"):
        crop_and_downsample(vorticity(flow.u, flow.v), {"x": [10, 12], "y": [-1, 1]}, {"factor": 1, "method": "stride"})


def test_vorticity_store_stacks_reynolds_numbers_along_sample(tmp_path):
    paths = []
    for reynolds, omega in ((100, 0.5), (200, 1.0)):
        flow = velocity_field(lambda x, y: -omega * y, lambda x, y: omega * x).assign_attrs(reynolds=float(reynolds))
        path = tmp_path / f"re{reynolds}.zarr"
        write_store(flow, path)
        paths.append(path)
    dataset = build_vorticity_dataset(paths, {"x": [0, 3], "y": [-1.5, 1.5]}, {"factor": 2, "method": "stride"}, sample_chunk=4)
    out = tmp_path / "vorticity.zarr"
    write_store(dataset, out, chunks={"sample": 4})
    stored = open_store(out)
    field = stored["vorticity"]
    assert field.dims == ("sample", "y", "x") and field.dtype == np.float32
    assert field.chunks[0] == (4, 4, 4)
    assert list(np.unique(stored.reynolds.values)) == [100.0, 200.0]
    assert stored.time.dims == ("sample",)
    np.testing.assert_allclose(field.where(stored.reynolds == 100, drop=True).values, 1.0, rtol=1e-5)
    np.testing.assert_allclose(field.where(stored.reynolds == 200, drop=True).values, 2.0, rtol=1e-5)
    # The store appeared whole: no partial directory left next to it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["re100.zarr", "re200.zarr", "vorticity.zarr"]
