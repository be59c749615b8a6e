"""The export to The Well's HDF5 layout, through the workflow (`snakemake export_the_well`),
checked against The Well's format and read by the `the-well` package itself."""

import hashlib
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from conftest import REPO, TINY_CONFIG, doc_example, planned, snakemake, write_config

from karman.forecast.metrics import vrmse
from karman.stores import open_store

pytestmark = pytest.mark.workflow

NAME = "tiny_wake"
HELD_OUT = 300.0  # TINY_CONFIG's forecast.holdout_reynolds
# A valid part of 6 of each Re's 12 frames, so that each split holds a window of 4 inputs and 1 output.
LICENSE = "CC0-1.0 <img src=x onerror=alert(1)>"  # markup in a config string stays text in the card
CONFIG = TINY_CONFIG | {"export": {"dataset_name": NAME, "license": LICENSE},
                        "forecast": TINY_CONFIG["forecast"] | {"future_fraction": 0.45}}


@pytest.fixture(scope="module")
def export_run(tiny_run, tmp_path_factory):
    """A copy of the tiny run, its config changed only in `export` and forecast.future_fraction,
    and the jobs that `snakemake export_the_well` planned before it wrote the export."""
    workdir = tmp_path_factory.mktemp("export") / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    write_config(workdir, CONFIG)
    jobs = planned(workdir, "export_the_well")
    snakemake(workdir, "--cores", "2", "export_the_well")
    return workdir, jobs


@pytest.fixture(scope="module")
def export(export_run) -> Path:
    return export_run[0] / "results/export/the_well" / NAME


def test_the_export_runs_its_own_job_on_the_stores_already_made_and_writes_the_same_bytes_again(export_run):
    assert export_run[1] == {"export_the_well": 1}
    workdir = export_run[0]
    assert planned(workdir, "export_the_well") == {}, "a second run must have nothing to do"
    assert (workdir / "logs/export_the_well.log").read_text().count(".hdf5") == 5
    card = (workdir / "results/export/the_well" / NAME / "README.md").read_text()
    snakemake(workdir, "--cores", "2", "export_the_well", "--forcerun", "export_the_well")
    assert (workdir / "results/export/the_well" / NAME / "README.md").read_text() == card  # the same sha256 of every file: the same bytes


def well_format_problems(path: Path) -> list[str]:
    """Everything The Well's formatting checker (scripts/check_thewell_formatting.py of
    github.com/PolymathicAI/the_well) asserts of one file, as a list of what is wrong."""
    problems = []

    def need(condition, message):
        if not condition:
            problems.append(message)

    def is_bool(value):
        return isinstance(value, bool | np.bool_)

    with h5py.File(path, "r") as well:
        attrs = well.attrs
        for key in ("n_spatial_dims", "n_trajectories", "dataset_name", "grid_type", "simulation_parameters"):
            need(key in attrs, f"root attribute {key}")
        need(isinstance(attrs["n_trajectories"], int | np.integer), "n_trajectories is an integer")
        need(isinstance(attrs["dataset_name"], str) and isinstance(attrs["grid_type"], str), "dataset_name, grid_type are strings")
        need(all(parameter in attrs for parameter in attrs["simulation_parameters"]), "each simulation parameter is an attribute")
        dimensions = well["dimensions"]
        spatial = list(dimensions.attrs["spatial_dims"])
        need("time" in dimensions and is_bool(dimensions["time"].attrs["sample_varying"]), "dimensions/time with sample_varying")
        need(len(spatial) == attrs["n_spatial_dims"] > 0 and all(isinstance(dim, str) for dim in spatial), "spatial_dims")
        for dim in spatial:
            need(is_bool(dimensions[dim].attrs["sample_varying"]) and is_bool(dimensions[dim].attrs["time_varying"]),
                 f"dimensions/{dim} flags")
        for order in range(3):
            group = well[f"t{order}_fields"]
            names = list(group.attrs["field_names"])
            need(all(isinstance(name, str) for name in names), f"t{order}_fields field_names are strings")
            for name in names:
                field, at = group[name], 0
                flags = field.attrs
                need(is_bool(flags["sample_varying"]) and is_bool(flags["time_varying"]), f"{name} flags are booleans")
                if flags["sample_varying"]:
                    need(field.shape[at] == attrs["n_trajectories"], f"{name} trajectory axis")
                    at += 1
                if flags["time_varying"]:
                    need(field.shape[at] == dimensions["time"].shape[-1], f"{name} time axis")
                    at += 1
                varying = list(flags["dim_varying"])
                need(len(varying) == len(spatial) and all(is_bool(value) for value in varying), f"{name} dim_varying")
                for dim, varies in zip(spatial, varying):
                    if varies:
                        need(field.shape[at] == dimensions[dim].shape[-1], f"{name} axis {at} is {dim}")
                        at += 1
                need(field.shape[at:] == (len(spatial),) * order, f"{name} has {order} tensor axes of {len(spatial)}")
                need(field.dtype == np.float32, f"{name} is float32")
        scalars = well["scalars"]
        for name in scalars.attrs["field_names"]:
            flags = scalars[name].attrs
            need(is_bool(flags["sample_varying"]) and is_bool(flags["time_varying"]), f"scalar {name} flags")
            need(len(scalars[name].shape) == flags["sample_varying"] + flags["time_varying"], f"scalar {name} shape")
        for name, boundary in well["boundary_conditions"].items():
            flags = boundary.attrs
            need({"bc_type", "associated_fields", "associated_dims"} <= set(flags), f"boundary {name} attributes")
            need(is_bool(flags["sample_varying"]) and is_bool(flags["time_varying"]), f"boundary {name} flags")
            need(len(flags["associated_dims"]) > 0 and "mask" in boundary, f"boundary {name} dims and mask")
            start = flags["sample_varying"] + flags["time_varying"]
            for at, dim in enumerate(flags["associated_dims"]):
                need(dim in spatial and boundary["mask"].shape[start + at] == dimensions[dim].shape[-1], f"boundary {name} mask along {dim}")
    return problems


def test_every_file_has_the_wells_layout(export):
    files = sorted((export / "data").rglob("*.hdf5"))
    assert [f"{file.parent.name}/{file.name}" for file in files] == [
        "test/re00300.hdf5", "train/re00150.hdf5", "train/re00450.hdf5", "valid/re00150.hdf5", "valid/re00450.hdf5"]
    for file in files:
        assert well_format_problems(file) == [], file
        with h5py.File(file, "r") as well:
            assert well.attrs["dataset_name"] == NAME
            assert list(well.attrs["simulation_parameters"]) == ["Re"]
            assert float(well["scalars/Re"][()]) == well.attrs["Re"] == float(file.stem.removeprefix("re"))
            assert list(well["dimensions"].attrs["spatial_dims"]) == ["x", "y"]
            assert list(well["t0_fields"].attrs["field_names"]) == ["vorticity", "cylinder"]
            assert list(well["t1_fields"].attrs["field_names"]) == ["velocity"] and list(well["t2_fields"].attrs["field_names"]) == []
            assert not well["t0_fields/cylinder"].attrs["time_varying"] and not well["t0_fields/cylinder"].attrs["sample_varying"]
            assert {name: well["boundary_conditions"][name].attrs["bc_type"] for name in well["boundary_conditions"]} == {
                "inflow": "open", "outflow": "open", "walls": "open"}  # the tiny window reaches no channel wall


def karman_frames(workdir: Path, reynolds: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Times, vorticity (time, x, y), velocity (time, x, y, 2) and the cylinder mask (x, y) of one Re as
    karman's stores hold them, put on The Well's axes here, independently of the export's code:
    the flow's velocity cropped to the vorticity's window and block-averaged (TINY_CONFIG: mean, factor 2)."""
    samples = open_store(workdir / "results/fields/vorticity.zarr")
    one = samples.where(samples.reynolds == reynolds, drop=True).sortby("time")
    flow = open_store(workdir / f"results/flow/re{reynolds:05.0f}.zarr")
    crop = CONFIG["fields"]["crop"]
    window = flow.sel(x=slice(*crop["x"]), y=slice(*crop["y"]))

    def blocks(array):  # (..., y, x) → 2 × 2 block means, trimmed
        ny, nx = (size // 2 * 2 for size in array.shape[-2:])
        array = array[..., :ny, :nx]
        return np.nanmean(array.reshape(*array.shape[:-2], ny // 2, 2, nx // 2, 2), axis=(-3, -1))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of a block wholly inside the cylinder: NaN
        velocity = np.stack([blocks(window[name].values) for name in ("u", "v")], axis=-1)
    cylinder = blocks(window["cylinder"].values.astype(float)) >= 0.5
    assert velocity.shape[1:3] == one["vorticity"].shape[1:]
    vorticity = np.nan_to_num(one["vorticity"].values)
    return (one["time"].values, vorticity.transpose(0, 2, 1), np.nan_to_num(velocity).transpose(0, 2, 1, 3), cylinder.T)


def test_each_file_holds_karmans_frames_of_one_reynolds_number_and_no_frame_is_in_two_splits(export_run, export):
    workdir = export_run[0]
    for reynolds in (150.0, 300.0, 450.0):
        times, vorticity, velocity, cylinder = karman_frames(workdir, reynolds)
        splits = ["test"] if reynolds == HELD_OUT else ["train", "valid"]
        exported = {"time": [], "vorticity": [], "velocity": []}
        for split in splits:
            with h5py.File(export / "data" / split / f"re{reynolds:05.0f}.hdf5", "r") as well:
                exported["time"].append(well["dimensions/time"][:])
                exported["vorticity"].append(well["t0_fields/vorticity"][0])
                exported["velocity"].append(well["t1_fields/velocity"][0])
                np.testing.assert_array_equal(well["t0_fields/cylinder"][:], cylinder.astype(np.float32))
                assert well["dimensions/x"].shape == (vorticity.shape[1],) and well["dimensions/y"].shape == (vorticity.shape[2],)
        if reynolds != HELD_OUT:
            assert len(exported["time"][1]) == 6  # the last 45 % of 12 frames, karman's `future` part
        np.testing.assert_allclose(np.concatenate(exported["time"]), times, rtol=1e-6)  # every frame once, in order
        np.testing.assert_array_equal(np.concatenate(exported["vorticity"]), vorticity)
        np.testing.assert_allclose(np.concatenate(exported["velocity"]), velocity, rtol=1e-6, atol=1e-7)
        assert np.isfinite(np.concatenate(exported["velocity"])).all()


def test_statistics_come_from_the_train_files_only(export):
    stats = yaml.safe_load((export / "stats.yaml").read_text())
    fields = {"vorticity": [], "velocity": []}
    for file in sorted((export / "data/train").glob("*.hdf5")):
        with h5py.File(file, "r") as well:
            fields["vorticity"].append(well["t0_fields/vorticity"][0].astype(np.float64))
            fields["velocity"].append(well["t1_fields/velocity"][0].astype(np.float64))
            cylinder = well["t0_fields/cylinder"][:]
    for name, series in fields.items():
        values = np.concatenate(series).reshape(-1, 2) if name == "velocity" else np.concatenate(series).ravel()
        deltas = np.concatenate([np.diff(one, axis=0) for one in series])
        deltas = deltas.reshape(-1, 2) if name == "velocity" else deltas.ravel()
        for suffix, data in (("", values), ("_delta", deltas)):
            np.testing.assert_allclose(stats[f"mean{suffix}"][name], data.mean(axis=0), rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(stats[f"std{suffix}"][name], data.std(axis=0), rtol=1e-6)
            np.testing.assert_allclose(stats[f"rms{suffix}"][name], np.sqrt((data**2).mean(axis=0)), rtol=1e-6)
    assert stats["mean"]["cylinder"] == pytest.approx(cylinder.mean()) and stats["std_delta"]["cylinder"] == 0.0


def test_the_card_gives_physics_splits_license_and_the_sha256_of_every_file(export):
    card = (export / "README.md").read_text()
    for needle in ("Navier–Stokes", "lbmpy", "Strouhal", "D/U", "CC0-1.0 &lt;img src=x onerror=alert(1)&gt;", "| 300 | test |",
                   "| 150 | train, valid |"):
        assert needle in card, needle
    assert "<img" not in card
    files = sorted(path for path in export.rglob("*") if path.is_file() and path.name not in ("README.md", ".snakemake_timestamp"))
    assert len(files) == 6
    for path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"| `{path.relative_to(export)}` | `{digest}` |" in card


def the_well_python(*args: str) -> list[str]:
    """A command that runs Python with the-well, installed from the registry in an environment of its own
    (it pins an old fsspec and needs torch, so it stays out of karman's lock)."""
    uv = shutil.which("uv")
    assert uv, "uv runs the-well in an environment of its own: install it (python3 -m pip install uv)"
    return [uv, "run", "--isolated", "--no-project", "--python", sys.executable, "--with", "the-well==1.2.0", "--with", "matplotlib", "python", *args]


@pytest.fixture(scope="module")
def the_well_answer(export, tmp_path_factory):
    """What the `the-well` package (installed from the registry in an environment of its own)
    reads from the export, and its VRMSE of persistence on the held-out Re's vorticity."""
    folder = tmp_path_factory.mktemp("the_well")
    with h5py.File(export / "data/test/re00300.hdf5", "r") as well:
        frames = well["t0_fields/vorticity"][0]
    np.savez(folder / "request.npz", truth=frames[1:], prediction=frames[:-1])
    command = the_well_python(str(REPO / "tests/vortex/the_well_reader.py"), str(export), str(folder / "request.npz"), str(folder / "answer.npz"))
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    return dict(np.load(folder / "answer.npz")), frames


@pytest.mark.interop
def test_the_wells_own_dataset_reads_karmans_frames_with_and_without_normalisation(export_run, export, the_well_answer):
    answer, _ = the_well_answer
    stats = yaml.safe_load((export / "stats.yaml").read_text())
    scale = {"none": (lambda name: (0.0, 1.0)),
             "zscore": (lambda name: (np.asarray(stats["mean"][name]), np.asarray(stats["std"][name]))),
             "rms": (lambda name: (0.0, np.asarray(stats["rms"][name])))}
    for split, names in (("train", ["re00150.hdf5", "re00450.hdf5"]), ("valid", ["re00150.hdf5", "re00450.hdf5"]), ("test", ["re00300.hdf5"])):
        assert list(answer[f"{split}/files"]) == names
        assert list(answer[f"{split}/constant_scalar_names"]) == ["Re"]
        assert list(answer[f"{split}/field_names"]) == ["vorticity", "velocity_x", "velocity_y"]
        for end, file, start in (("first", names[0], 0), ("last", names[-1], int(answer[f"{split}/windows"][-1]) - 1)):
            reynolds = float(file.removeprefix("re").removesuffix(".hdf5"))
            times, vorticity, velocity, cylinder = karman_frames(export_run[0], reynolds)
            offset = 6 if split == "valid" else 0  # the valid file starts at the 7th of the 12 frames
            frames = np.concatenate([vorticity[..., np.newaxis], velocity], axis=-1)[offset + start: offset + start + 5]
            for normalisation, stats_of in scale.items():
                key = f"{split}/{normalisation}/{end}"
                (mean_w, std_w), (mean_v, std_v) = stats_of("vorticity"), stats_of("velocity")
                mean, std = np.concatenate([np.atleast_1d(mean_w), np.broadcast_to(mean_v, 2)]), \
                    np.concatenate([np.atleast_1d(std_w), np.broadcast_to(std_v, 2)])
                expected = (frames - mean) / std
                np.testing.assert_allclose(answer[f"{key}/input_fields"], expected[:4], rtol=1e-5, atol=1e-5, err_msg=key)
                np.testing.assert_allclose(answer[f"{key}/output_fields"], expected[4:], rtol=1e-5, atol=1e-5, err_msg=key)
                assert answer[f"{key}/constant_scalars"].tolist() == [reynolds]
                mask_mean, mask_std = stats_of("cylinder")
                np.testing.assert_allclose(answer[f"{key}/constant_fields"][..., 0], (cylinder - mask_mean) / mask_std, rtol=1e-5)
            step = times[offset + start + 1] - times[offset + start]
            np.testing.assert_allclose(answer[f"{key}/input_time_grid"], step * np.arange(4), rtol=1e-5)
            np.testing.assert_allclose(answer[f"{key}/output_time_grid"], [4 * step], rtol=1e-5)


@pytest.mark.interop
def test_karmans_vrmse_equals_the_wells(the_well_answer):
    answer, frames = the_well_answer
    theirs = answer["vrmse"]
    # karman's metrics take (lead, y, x); the_well's axes are (time, x, y): the transpose changes no mean or variance
    ours = vrmse(frames[1:].transpose(0, 2, 1), frames[:-1].transpose(0, 2, 1))
    assert theirs.shape == ours.shape == (11,)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert 0.05 < ours.mean() < 2  # persistence over half a shedding period: neither perfect nor nonsense


@pytest.mark.interop
def test_the_pytorch_example_of_the_docs_loads_batches_through_the_wells_dataset(export_run, the_well_answer):
    """docs/data-format.md's PyTorch example, as written but for the dataset's name, in the-well's environment."""
    example = doc_example("data-format.md", "pytorch").replace("karman_vortex_street", NAME).replace("batch_size=8", "batch_size=4")
    result = subprocess.run(the_well_python("-c", example), cwd=export_run[0], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "torch.Size([4, 4, 15, 12, 3]) torch.Size([4, 1, 15, 12, 3])" in result.stdout
