import logging
import sys

import numpy as np
import pytest

from karman.signal import dominant_frequency
from karman.stores import open_store, write_store
from karman.vortex.lattice import (
    HOLD_DENSITY_EVERY,
    CylinderFlow,
    SimulationDiverged,
    gpu_unavailable,
    stability_problem,
)
from karman.vortex.parameters import FlowParameters
from karman.vortex.simulation import Samples, run, run_batch, save_checkpoint, simulate

GPU_UNAVAILABLE = gpu_unavailable()  # why the gpu backend cannot run here, or None
on_gpu = pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=f"the gpu backend cannot run here: {GPU_UNAVAILABLE}")
BACKENDS = ["cpu", pytest.param("gpu", marks=on_gpu)]

TINY = dict(diameter_cells=8, domain_length=16, domain_height=8, cylinder_x=3, spinup_time=30, sample_time=24, sample_interval=0.25)


def assert_same_samples(actual: Samples, expected: Samples, params: FlowParameters) -> None:
    """Every recorded array equal, bit for bit."""
    for name in ("u", "v", "drag", "lift", "steps"):
        np.testing.assert_array_equal(getattr(actual, name), getattr(expected, name), err_msg=f"Re={params.reynolds:g} {name}")


@pytest.fixture(scope="module")
def tiny_flow():
    return simulate(FlowParameters(reynolds=200, **TINY))


def test_tiny_grid_sheds_alternating_vortices(tiny_flow):
    # Transverse velocity on the axis behind the cylinder swings from side to side.
    probe = tiny_flow["v"].sel(x=2.0, y=0.0, method="nearest").values
    assert np.nanmax(probe) > 0.1 and np.nanmin(probe) < -0.1
    sign_changes = np.count_nonzero(np.diff(np.sign(probe)) != 0)
    assert sign_changes >= 6  # at least three full shedding periods in the window
    # The lift oscillates at the same frequency as the wake, in the range of 2D cylinder wakes.
    assert 0.15 < tiny_flow.attrs["strouhal"] < 0.35
    assert dominant_frequency(probe, tiny_flow.time.values) == pytest.approx(tiny_flow.attrs["strouhal"], rel=0.05)
    lift = tiny_flow["lift_coefficient"].values
    assert lift.max() > 0.2 and lift.min() < -0.2 and abs(tiny_flow.attrs["lift_coefficient"]) < 0.2
    assert 1.0 < tiny_flow.attrs["drag_coefficient"] < 3.0


def test_flow_store_contract(tiny_flow, tmp_path):
    path = tmp_path / "re200.zarr"
    write_store(tiny_flow, path, chunks={"time": 16})
    flow = open_store(path)
    for name in ("u", "v"):
        assert flow[name].dims == ("time", "y", "x")
        assert flow[name].dtype == np.float32
    assert np.all(np.diff(flow.time) > 0) and np.all(np.diff(flow.x) > 0) and np.all(np.diff(flow.y) > 0)
    # Coordinates in cylinder diameters: the fluid cells span the configured channel exactly.
    assert flow.sizes["x"] == 128 and flow.sizes["y"] == 64
    assert float(flow.x[-1] - flow.x[0]) == pytest.approx(16 - 1 / 8)
    assert float(flow.x[0]) == pytest.approx(-3 + 0.5 / 8)  # the inlet is 3 D upstream of the centre
    # The cylinder is masked, the fluid is not.
    inside = flow["cylinder"].values
    assert inside.sum() == pytest.approx(np.pi * 4**2, rel=0.15)
    assert np.isnan(flow["u"].isel(time=0).values[inside]).all()
    assert np.isfinite(flow["u"].isel(time=0).values[~inside]).all()
    attrs = flow.attrs
    assert attrs["reynolds"] == 200 and attrs["source"] == "simulate"
    assert attrs["solver_parameters"]["diameter_cells"] == 8 and attrs["solver_parameters"]["collision"] == "cumulant"
    assert "lbmpy" in attrs["solver"] and "karman_version" in attrs
    # Far upstream the flow is the free stream, in units of U.
    assert float(flow["u"].isel(time=-1, x=2, y=flow.sizes["y"] // 2)) == pytest.approx(1.0, abs=0.05)


def test_sampling_interval_is_in_convective_time_whatever_the_reynolds_number():
    times = [simulate(FlowParameters(reynolds=re, **(TINY | {"spinup_time": 2, "sample_time": 2, "sample_interval": 0.5}))).time.values
             for re in (100, 1000)]
    np.testing.assert_allclose(times[0], times[1])
    np.testing.assert_allclose(np.diff(times[0]), 0.5, rtol=0.05)
    assert times[0][0] == pytest.approx(2.5, rel=0.05)  # spin-up discarded


def test_re_1200_is_stable_on_the_course_grid():
    params = FlowParameters(reynolds=1200, spinup_time=30, sample_time=5, sample_interval=0.5)
    assert (params.nx, params.ny) == (256, 128)
    flow = simulate(params)
    assert np.isfinite(flow.attrs["drag_coefficient"]) and np.nanmax(np.abs(flow["u"].values)) < 3


def test_divergence_fails_naming_reynolds_grid_and_remedy():
    unstable = FlowParameters(reynolds=20000, diameter_cells=8, domain_length=8, domain_height=4, collision="srt", mach=0.3,
                              spinup_time=400, sample_time=1)
    with pytest.raises(SimulationDiverged, match=r"Re=20000 diverged after (\d+) steps.*grid 64x32.*flow\.diameter_cells") as error:
        run(unstable, fields=False, check_every=50)
    steps = int(error.value.args[0].split("after ")[1].split(" ")[0])
    assert steps < unstable.spinup_steps  # caught long before the end of the run


def test_a_single_diverged_cell_is_detected():
    sim = CylinderFlow(FlowParameters(reynolds=100, **TINY))
    sim.pdfs[10, 6, :] = np.nan
    sim.run(2)
    with pytest.raises(SimulationDiverged, match="Re=100"):
        sim.check_stable()


def test_runs_of_odd_step_counts_continue_where_the_last_stopped():
    """lbmpy runs pairs of steps; a run may end on an odd step and the next go on from there."""
    params = FlowParameters(reynolds=150, **(TINY | {"inflow": "parabolic", "walls": "no-slip"}))
    pieces, whole = CylinderFlow(params), CylinderFlow(params)
    for steps in (7, 5, 1, 187, 3, 5):  # the density is held at the end of the run that reaches step 200
        pieces.run(steps)
    for steps in (200, 8):
        whole.run(steps)
    fluid = (slice(1, -1), slice(1, -1))  # the ghost layer holds only what the boundaries write
    np.testing.assert_array_equal(pieces.pdfs[fluid], whole.pdfs[fluid])
    np.testing.assert_array_equal(pieces.coefficients(), whole.coefficients())
    assert pieces.step_count == whole.step_count == 208


def test_snapshots_lie_the_nearest_whole_number_of_steps_apart():
    params = FlowParameters(reynolds=300)  # the default grid: 221.7 steps per D/U
    assert params.sample_every == 9  # 0.04 D/U = 8.87 steps
    assert params.n_samples == 493 and params.spinup_steps == 8868


def test_a_diverged_channel_of_a_batch_is_named_by_its_reynolds_number():
    sim = CylinderFlow([FlowParameters(reynolds=re, **TINY) for re in (100, 200)])
    sim.pdfs[10, 64 + 1 + 6, :] = np.nan  # a cell of the second channel, above the first and the wall row between them
    sim.run(2)
    with pytest.raises(SimulationDiverged, match="Re=200"):
        sim.check_stable()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("setup", [{}, {"inflow": "parabolic", "walls": "no-slip"}, {"cylinder_boundary": "bounce-back"}],
                         ids=["moving-walls", "no-slip-channel", "staircase"])
def test_a_batch_of_reynolds_numbers_gives_each_the_run_it_has_alone(setup, backend):
    """Channels side by side in one lattice, parted by wall rows, each relaxing at its own
    rate: every number equals that of the channel's own run, bit for bit (the no-slip
    channel holds each channel's density on its own)."""
    channels = [FlowParameters(reynolds=re, **(TINY | setup | {"spinup_time": 4, "sample_time": 4})) for re in (150, 300, 600)]
    _, batch = run_batch(channels, backend)
    for params, samples in zip(channels, batch):
        assert_same_samples(samples, run(params, backend)[1], params)
    assert not np.array_equal(batch[0].lift, batch[1].lift)


def test_a_batch_shares_every_setting_but_the_reynolds_number():
    with pytest.raises(ValueError, match=r"share every other flow setting; mach differ between Re=150 and Re=300"):
        CylinderFlow([FlowParameters(reynolds=150, **TINY), FlowParameters(reynolds=300, mach=0.05, **TINY)])


def test_parabolic_inflow_has_mean_u_and_peak_one_and_a_half_u():
    params = FlowParameters(reynolds=20, **(TINY | {"inflow": "parabolic", "walls": "no-slip", "spinup_time": 4, "sample_time": 1}))
    flow = simulate(params)
    inlet = flow["u"].isel(time=-1, x=0).values
    assert inlet.mean() == pytest.approx(1.0, rel=0.03)
    assert inlet.max() == pytest.approx(1.5, rel=0.03)
    assert inlet[0] < 0.3 and inlet[-1] < 0.3  # slow next to the walls


@pytest.mark.parametrize("cylinder_boundary, drag_tolerance", [("interpolated", 0.015), ("bounce-back", 0.03)])
def test_schafer_turek_steady_case_2d1_drag_and_lift(cylinder_boundary, drag_tolerance):
    """Re 20 in the 2.2 x 0.41 channel: c_D in [5.57, 5.59], c_L in [0.0104, 0.0110] (Schäfer & Turek 1996).

    The cylinder sits 0.05 D below the channel axis, which is all that lifts it: the lift
    has the reference's sign and size. At 20 cells across and Mach 0.05 the interpolated
    wall leaves the drag ≈ 1 % high, a staircase ≈ 2.4 %. Over the sampled window the drag
    holds still: the mean density does not creep up (the no-slip channel's outlet would
    otherwise feed mass back in)."""
    params = FlowParameters(reynolds=20, diameter_cells=20, domain_length=22, domain_height=4.1, cylinder_x=2, cylinder_y=2,
                            inflow="parabolic", walls="no-slip", mach=0.05, spinup_time=25, sample_time=4, sample_interval=0.5,
                            cylinder_boundary=cylinder_boundary)
    _, samples = run(params, fields=False)
    assert samples.drag[-1] == pytest.approx(5.58, rel=drag_tolerance)
    assert np.ptp(samples.drag) < 0.005  # steady
    assert 0.005 < samples.lift[-1] < 0.02
    if cylinder_boundary == "interpolated":
        assert samples.lift[-1] == pytest.approx(0.0107, rel=0.05)
        assert samples.drag[-1] < 5.68  # a staircase gives 5.71


def test_wall_distances_put_each_link_crossing_on_the_circle():
    params = FlowParameters(reynolds=20, diameter_cells=10.4, domain_length=4, domain_height=3, cylinder_x=1.7, cylinder_y=1.4)
    sim = CylinderFlow(params)
    cells = sim._index_list(sim.cylinder)
    cx, cy = params.centre
    x, y = cells["x"] - 0.5 - cx, cells["y"] - 0.5 - cy  # fluid-cell centres about the cylinder's
    links = np.array(sim.step_object.method.stencil)[cells["dir"]]
    q = cells["q"]
    assert np.all((q > 0) & (q <= 1))
    np.testing.assert_allclose(np.hypot(x + q * links[:, 0], y + q * links[:, 1]), params.diameter_cells / 2, rtol=1e-5)
    assert np.all(np.hypot(x, y) > params.diameter_cells / 2)  # every link starts in the fluid


def test_a_centred_cylinder_in_a_symmetric_channel_feels_no_lift():
    """Inlet profile, walls and cylinder are placed mirror-symmetric about the axis:
    once the kick that starts the shedding has died away (Re 20 stays steady), so is the flow."""
    params = FlowParameters(reynolds=20, diameter_cells=10, domain_length=10, domain_height=4, cylinder_x=2, cylinder_y=2,
                            inflow="parabolic", walls="no-slip")
    sim = CylinderFlow(params)
    assert np.array_equal(sim.mask, sim.mask[::-1])
    sim.run(6000)  # 35 D/U
    (u,), (v,) = sim.velocity()
    np.testing.assert_allclose(u / params.inflow_velocity, u[::-1] / params.inflow_velocity, atol=1e-4)
    np.testing.assert_allclose(v / params.inflow_velocity, -v[::-1] / params.inflow_velocity, atol=1e-4)
    ((drag, lift),) = sim.coefficients()
    assert abs(lift) < 1e-4 * drag


@pytest.mark.parametrize("backend, reynolds", [("cpu", [150]), pytest.param("gpu", [150], marks=on_gpu), ("cpu", [150, 300])],
                         ids=["cpu", "gpu", "cpu-batch"])
def test_a_killed_simulation_resumes_from_its_checkpoint_with_the_same_result(backend, reynolds, tmp_path, monkeypatch, caplog):
    # Spin-up ends at step 277, a snapshot every 35 steps: the last checkpoint before the kill holds four.
    channels = [FlowParameters(reynolds=re, **(TINY | {"spinup_time": 2, "sample_time": 4})) for re in reynolds]
    _, uninterrupted = run_batch(channels, backend)
    checkpoint = tmp_path / "run.checkpoint.npz"

    class Killed(Exception):
        pass

    original_run = CylinderFlow.run

    def run_then_die(self, steps):
        original_run(self, steps)
        if self.step_count >= 450:
            raise Killed

    monkeypatch.setattr(CylinderFlow, "run", run_then_die)
    with pytest.raises(Killed):
        run_batch(channels, backend, checkpoint=checkpoint, checkpoint_every=200)
    assert checkpoint.is_file()
    monkeypatch.setattr(CylinderFlow, "run", original_run)
    caplog.set_level(logging.INFO, logger="karman")
    _, resumed = run_batch(channels, backend, checkpoint=checkpoint, checkpoint_every=200)
    assert "resuming from the checkpoint at step 417 (4 snapshots done)" in caplog.text
    for params, again, once in zip(channels, resumed, uninterrupted):
        assert_same_samples(again, once, params)
    assert not checkpoint.exists()  # removed once the run is done


def test_a_checkpoint_of_other_parameters_is_ignored(tmp_path, caplog):
    checkpoint = tmp_path / "run.checkpoint.npz"
    short = FlowParameters(reynolds=150, **(TINY | {"spinup_time": 4, "sample_time": 2}))
    save_checkpoint(checkpoint, [short], CylinderFlow(short), 0, [Samples.empty(short)])
    caplog.set_level(logging.INFO, logger="karman")
    simulate(FlowParameters(reynolds=300, **(TINY | {"spinup_time": 4, "sample_time": 2})), checkpoint=checkpoint)
    assert "belongs to other parameters" in caplog.text and "resuming" not in caplog.text


@pytest.mark.parametrize("window, interval", [(20.0, 0.04), (40.0, 0.2)])  # the default and config/sweep.yaml
def test_strouhal_number_resolves_a_small_fraction_of_the_5_percent_band(window, interval):
    times = 40 + np.arange(int(round(window / interval))) * interval
    rng = np.random.default_rng(0)
    for strouhal in np.linspace(0.16, 0.25, 19):  # Re 100 to 1200
        lift = np.sin(2 * np.pi * strouhal * times + 1.0) + 0.1 * np.sin(4 * np.pi * strouhal * times) + 0.05 * rng.standard_normal(len(times))
        assert dominant_frequency(lift, times) == pytest.approx(strouhal, abs=1 / (32 * window) + 1e-9), strouhal


def test_strouhal_number_of_a_sine():
    times = np.arange(0, 40, 0.1)
    assert dominant_frequency(np.sin(2 * np.pi * 0.21 * times), times) == pytest.approx(0.21, abs=0.005)
    assert np.isnan(dominant_frequency(np.zeros_like(times), times))


@pytest.mark.skipif(GPU_UNAVAILABLE is None, reason="a CUDA device is here")
def test_the_gpu_backend_without_a_device_fails_naming_the_key_and_what_to_do():
    with pytest.raises(RuntimeError, match=r"flow.backend: gpu cannot run here: CuPy .*set flow.backend: cpu") as error:
        CylinderFlow(FlowParameters(reynolds=100, **TINY), "gpu")
    assert gpu_unavailable() in str(error.value)


def test_the_gpu_backend_without_cupy_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError
    with pytest.raises(RuntimeError, match=r"CuPy is not installed \(install karman with its gpu extra: uv sync --extra gpu\)"):
        CylinderFlow(FlowParameters(reynolds=100, **TINY), "gpu")


@on_gpu
def test_gpu_backend_matches_the_cpu_backend_to_float32_tolerance():
    # 830 steps: the mean density is held four times, the outlet's stored populations with it.
    params = FlowParameters(reynolds=200, **(TINY | {"spinup_time": 4, "sample_time": 2}))
    cpu, gpu = simulate(params, "cpu"), simulate(params, "gpu")
    np.testing.assert_allclose(gpu["u"].values, cpu["u"].values, rtol=0, atol=1e-4, equal_nan=True)
    np.testing.assert_allclose(gpu["drag_coefficient"].values, cpu["drag_coefficient"].values, rtol=1e-4)


@on_gpu
def test_the_density_hold_reaches_the_outlets_populations_on_the_gpu():
    # In a no-slip channel the density creeps up, so each hold rescales by a visible amount;
    # the outlet's populations live in lbmpy's link list on the device.
    params = FlowParameters(reynolds=100, **(TINY | {"inflow": "parabolic", "walls": "no-slip"}))
    cpu, gpu = CylinderFlow(params, "cpu"), CylinderFlow(params, "gpu")
    for sim in (cpu, gpu):
        sim.run(2 * HOLD_DENSITY_EVERY)
    # Without the upload the outlet's populations would differ by 3e-4 (measured on the CPU by leaving them out of the hold).
    for name in ("pdfs", "outflow_pdf", "outflow_pdf_nd"):
        np.testing.assert_allclose(gpu.state()[name], cpu.state()[name], rtol=0, atol=1e-5)


@pytest.mark.parametrize("collision", ["mrt", "trt", "srt"])
def test_every_collision_operator_runs(collision):
    flow = simulate(FlowParameters(reynolds=100, **(TINY | {"collision": collision, "spinup_time": 2, "sample_time": 2})))
    assert flow.attrs["solver_parameters"]["collision"] == collision and collision in flow.attrs["solver"]
    assert np.isfinite(flow["drag_coefficient"].values).all()


def test_the_stability_limit_of_the_relaxation_rate_predicts_divergence():
    """srt on the course's grid: stable at Re 1000 (τ − ½ at its limit), diverged at Re 2400."""
    course = dict(diameter_cells=12.8, domain_length=20, domain_height=10, collision="srt", spinup_time=60, sample_time=5, sample_interval=1)
    held, lost = FlowParameters(reynolds=1000, **course), FlowParameters(reynolds=2400, **course)
    assert stability_problem(held) is None and "cannot hold Re 2400" in stability_problem(lost)
    run(held, fields=False)
    with pytest.raises(SimulationDiverged):
        run(lost, fields=False)
