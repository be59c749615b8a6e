import logging

import numpy as np
import pytest

from karman.flow import CylinderFlow, FlowParameters, SimulationDiverged, simulate, strouhal_number
from karman.stores import open_store, write_store

TINY = dict(diameter_cells=8, domain_length=16, domain_height=8, cylinder_x=3, spinup_time=30, sample_time=24, sample_interval=0.25)


@pytest.fixture(scope="module")
def tiny_flow():
    return simulate(FlowParameters(reynolds=200, **TINY))


def test_tiny_grid_sheds_alternating_vortices(tiny_flow):
    # Transverse velocity on the axis behind the cylinder swings from side to side.
    probe = tiny_flow["v"].sel(x=2.0, y=0.0, method="nearest").values
    assert np.nanmax(probe) > 0.1 and np.nanmin(probe) < -0.1
    sign_changes = np.count_nonzero(np.diff(np.sign(probe)) != 0)
    assert sign_changes >= 6  # at least three full shedding periods in the window
    # A shedding frequency in the range of 2D cylinder wakes (St ~ 0.2, higher with blockage).
    assert 0.15 < tiny_flow.attrs["strouhal"] < 0.35


def test_flow_store_contract(tiny_flow, tmp_path):
    path = tmp_path / "re200.zarr"
    write_store(tiny_flow, path, chunks={"time": 16})
    flow = open_store(path)
    for name in ("u", "v"):
        assert flow[name].dims == ("time", "y", "x")
        assert flow[name].dtype == np.float32
    assert np.all(np.diff(flow.time) > 0) and np.all(np.diff(flow.x) > 0) and np.all(np.diff(flow.y) > 0)
    # Coordinates in cylinder diameters: the grid spans the configured channel.
    assert float(flow.x[-1] - flow.x[0]) == pytest.approx(16, abs=0.2)
    assert float(flow.y[-1] - flow.y[0]) == pytest.approx(8, abs=0.2)
    # The cylinder is masked, the fluid is not.
    inside = flow["cylinder"].values
    assert inside.sum() > 0 and np.isnan(flow["u"].isel(time=0).values[inside]).all()
    assert np.isfinite(flow["u"].isel(time=0).values[~inside]).all()
    attrs = flow.attrs
    assert attrs["reynolds"] == 200 and attrs["source"] == "simulate"
    assert attrs["solver_parameters"]["diameter_cells"] == 8
    assert "karman_version" in attrs and "solver" in attrs
    # Far upstream the flow is the free stream, in units of U.
    assert float(flow["u"].isel(time=-1, x=2, y=flow.sizes["y"] // 2)) == pytest.approx(1.0, abs=0.05)


def test_divergence_fails_naming_reynolds_and_grid():
    unstable = FlowParameters(reynolds=20000, diameter_cells=4, domain_length=8, domain_height=4, smagorinsky=0, spinup_time=200, sample_time=1, inflow_velocity=0.2)
    with pytest.raises(SimulationDiverged, match=r"Re=20000.*grid 32x16.*flow\.smagorinsky"):
        simulate(unstable)


def test_strouhal_number_of_a_sine():
    times = np.arange(0, 40, 0.1)
    assert strouhal_number(np.sin(2 * np.pi * 0.21 * times), times) == pytest.approx(0.21, abs=0.005)
    assert np.isnan(strouhal_number(np.zeros_like(times), times))


def test_a_single_diverged_cell_is_detected():
    sim = CylinderFlow(FlowParameters(reynolds=100, **TINY))
    sim.f[:, 3, 5] = np.nan
    with pytest.raises(SimulationDiverged, match="Re=100"):
        sim.check_stable()


def test_a_killed_simulation_resumes_from_its_checkpoint_with_the_same_result(tmp_path, monkeypatch, caplog):
    params = FlowParameters(reynolds=150, **(TINY | {"spinup_time": 8, "sample_time": 4}))
    uninterrupted = simulate(params)
    checkpoint = tmp_path / "run.checkpoint.npz"

    class Killed(Exception):
        pass

    original_step = CylinderFlow.step

    def step_then_die(self):
        original_step(self)
        if self.step_count == 170:
            raise Killed

    monkeypatch.setattr(CylinderFlow, "step", step_then_die)
    with pytest.raises(Killed):
        simulate(params, checkpoint=checkpoint, checkpoint_every=50)
    assert checkpoint.is_file()
    monkeypatch.setattr(CylinderFlow, "step", original_step)
    caplog.set_level(logging.INFO, logger="karman")
    resumed = simulate(params, checkpoint=checkpoint, checkpoint_every=50)
    assert "resuming from the checkpoint at step 150" in caplog.text
    np.testing.assert_array_equal(resumed["u"].values, uninterrupted["u"].values)
    np.testing.assert_array_equal(resumed["v"].values, uninterrupted["v"].values)
    assert not checkpoint.exists()  # removed once the run is done


def test_a_checkpoint_of_other_parameters_is_ignored(tmp_path, caplog):
    checkpoint = tmp_path / "run.checkpoint.npz"
    short = dict(TINY | {"spinup_time": 4, "sample_time": 2})
    sim = CylinderFlow(FlowParameters(reynolds=150, **short))
    from karman.flow import save_checkpoint

    save_checkpoint(checkpoint, FlowParameters(reynolds=150, **short), sim, 0, np.zeros((1, 1, 1)), np.zeros((1, 1, 1)), np.zeros(1))
    caplog.set_level(logging.INFO, logger="karman")
    simulate(FlowParameters(reynolds=300, **short), checkpoint=checkpoint)
    assert "belongs to other parameters" in caplog.text and "resuming" not in caplog.text
