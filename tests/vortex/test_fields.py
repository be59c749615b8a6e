import json
import logging

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

from karman.vortex.fields import build_vorticity_dataset, crop_and_downsample, vorticity, vorticity_samples, write_vorticity
from karman.stores import open_store, write_store


FLOW_ATTRS = {"reynolds": 100.0, "source": "simulate", "solver": "analytic test field", "karman_version": "test"}


def velocity_field(u_of, v_of, n_time=6, shape=(33, 41), chunk=2, x_range=(-1, 4), y_range=(-2, 2), dtype=np.float32):
    y = np.linspace(*y_range, shape[0])
    x = np.linspace(*x_range, shape[1])
    yy, xx = np.meshgrid(y, x, indexing="ij")
    times = np.arange(n_time, dtype=float)
    u = np.broadcast_to(u_of(xx, yy), (n_time, *shape)).astype(dtype)
    v = np.broadcast_to(v_of(xx, yy), (n_time, *shape)).astype(dtype)
    coords = {"time": times, "y": y, "x": x}
    return xr.Dataset(
        {"u": (("time", "y", "x"), u), "v": (("time", "y", "x"), v)}, coords=coords, attrs=FLOW_ATTRS | {"reynolds": 100.0}
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


def taylor_green_error(n: int) -> float:
    """Max error of the computed vorticity of a Taylor-Green vortex on an n x n grid."""
    # u = sin x cos y, v = -cos x sin y  =>  ω = ∂v/∂x - ∂u/∂y = 2 sin x sin y
    flow = velocity_field(lambda x, y: np.sin(x) * np.cos(y), lambda x, y: -np.cos(x) * np.sin(y), n_time=2,
                          shape=(n, n), x_range=(0, np.pi), y_range=(0, np.pi), dtype=np.float64)
    exact = 2 * np.sin(flow.x) * np.sin(flow.y)
    return float(np.abs(vorticity(flow.u, flow.v).astype(np.float64) - exact).max())


def test_central_vorticity_converges_at_second_order():
    coarse, fine = taylor_green_error(33), taylor_green_error(65)
    assert coarse < 0.05
    assert 3.3 < coarse / fine < 4.7, (coarse, fine)  # ~4x when the grid is refined 2x, edges included


def test_forward_operator_matches_the_notebooks_formula():
    rng = np.random.default_rng(1)
    flow = velocity_field(lambda x, y: 0 * x, lambda x, y: 0 * x, n_time=3)
    u = rng.standard_normal(flow.u.shape).astype(np.float32)
    v = rng.standard_normal(flow.v.shape).astype(np.float32)
    flow = flow.copy(data={"u": u, "v": v})
    result = vorticity(flow.u, flow.v, operator="forward").values
    # Notebooks: diff(v, axis=x)[..., :-1] + diff(-u, axis=y)[:, :-1] on (time, x, y) arrays
    # whose u was stored negated; on karman's (time, y, x) layout with the true u:
    expected = np.diff(v, axis=2)[:, :-1, :] - np.diff(u, axis=1)[:, :, :-1]
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="fields.operator 'spectral'.*central, forward"):
        vorticity(flow.u, flow.v, operator="spectral")


def test_chunked_and_unchunked_computation_agree():
    rng = np.random.default_rng(2)
    flow = velocity_field(lambda x, y: 0 * x, lambda x, y: 0 * x, n_time=10)
    data = {"u": rng.standard_normal(flow.u.shape).astype(np.float32), "v": rng.standard_normal(flow.v.shape).astype(np.float32)}
    in_memory = flow.copy(data=data).load()
    chunked = in_memory.chunk({"time": 3})
    np.testing.assert_array_equal(vorticity(chunked.u, chunked.v).values, vorticity(in_memory.u, in_memory.v).values)


def test_cells_inside_the_cylinder_are_masked(tmp_path):
    flow = velocity_field(lambda x, y: 1 + 0 * x, lambda x, y: 0.1 * x)
    inside = (flow.x ** 2 + flow.y ** 2 <= 0.25).transpose("y", "x")
    flow["cylinder"] = inside
    samples = vorticity_samples(flow, {"x": [-1, 4], "y": [-2, 2]}, {"factor": 1, "method": "stride"})
    values = samples.values
    assert np.isnan(values[:, inside.values]).all()
    assert np.isfinite(values[:, ~inside.values]).all()


def test_vorticity_store_metadata(tmp_path):
    flow = velocity_field(lambda x, y: -y, lambda x, y: x)
    write_store(flow, tmp_path / "re100.zarr")
    write_vorticity([tmp_path / "re100.zarr"], tmp_path / "vorticity.zarr", crop={"x": [0, 3], "y": [-1, 1]},
                    downsample={"factor": 2, "method": "mean"}, sample_chunk=4, threads=2)
    stored = open_store(tmp_path / "vorticity.zarr")
    assert stored.attrs["operator"].startswith("central")
    assert stored.attrs["crop"] == {"x": [0, 3], "y": [-1, 1]}
    assert stored.attrs["downsample"] == {"factor": 2, "method": "mean"}
    assert stored.attrs["sources"] == [str(tmp_path / "re100.zarr")]
    assert "karman_version" in stored.attrs
    assert stored.vorticity.encoding["compressors"][0].cname.value == "zstd"
    root = json.loads((tmp_path / "vorticity.zarr" / "zarr.json").read_text())
    assert "vorticity" in root["consolidated_metadata"]["metadata"]  # opened with one read


def test_threads_go_to_dask_or_to_a_distributed_cluster(tmp_path, caplog):
    from distributed import LocalCluster

    flow = velocity_field(lambda x, y: -y, lambda x, y: x)
    write_store(flow, tmp_path / "re100.zarr")
    settings = dict(crop={"x": [0, 3], "y": [-1, 1]}, downsample={"factor": 1, "method": "stride"}, sample_chunk=2)
    caplog.set_level(logging.INFO, logger="karman")
    write_vorticity([tmp_path / "re100.zarr"], tmp_path / "threads.zarr", threads=3, **settings)
    assert "threaded Dask scheduler, 3 threads" in caplog.text
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        with dask.config.set({"scheduler-address": cluster.scheduler_address}):
            write_vorticity([tmp_path / "re100.zarr"], tmp_path / "cluster.zarr", threads=1, **settings)
        assert cluster.scheduler.transition_counter > 0  # the cluster did the work
    assert f"dask.distributed cluster at {cluster.scheduler_address}" in caplog.text
    np.testing.assert_array_equal(open_store(tmp_path / "cluster.zarr").vorticity.values, open_store(tmp_path / "threads.zarr").vorticity.values)
