"""The configuration is validated, with defaults filled in, before any job runs."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml


from conftest import snakemake_command
from karman.config import ConfigError, check_system_names
from karman.schema import validate_config
from karman.duffing.config import check_duffing
from karman.vortex.config import check_vortex

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schemas/config.schema.yaml"


def check_config(config: dict) -> None:
    """What the rules files run when the workflow is parsed: each system's checks of its section."""
    check_vortex(config)
    check_duffing(config["duffing"])


def validated(config: dict) -> dict:
    return validate_config(config, SCHEMA)


def test_default_config_is_valid_and_complete():
    config = validated(yaml.safe_load((REPO / "config.yaml").read_text()))
    assert config["reynolds"] == [300, 600, 900, 1200]
    check_config(config)


def test_schema_fills_defaults_down_to_each_model():
    config = validated({"reynolds": [100, 200], "models": {"big": {"type": "mlp"}, "base": {"type": "ridge"}}})
    assert config["flow"]["diameter_cells"] == 12.8
    assert config["flow"]["cylinder_boundary"] == "interpolated"
    assert config["fields"]["crop"]["x"] == [-0.5, 4.5]
    assert config["split"]["fractions"] == {"train": 0.7, "val": 0.1, "test": 0.2}
    assert config["models"]["big"]["hidden_units"] == [10, 10]
    assert config["models"]["big"]["learning_rate"] == 0.001
    assert config["models"]["base"]["alphas"] == [0.1, 1.0, 10.0]
    assert "hidden_units" not in config["models"]["base"]


@pytest.mark.parametrize("config, key", [
    ({"reynolds": [300, "fast"]}, "reynolds"),
    ({"reynolds": {"from": 100, "to": 200}}, "count"),
    ({"reynolds": {"from": 100, "to": 200, "count": 3, "spacing": "cubic"}}, "cubic"),
    ({"flow": {"mach": 0.5}}, "mach"),
    ({"flow": {"collision": "bgk"}}, "collision"),
    ({"flow": {"cylinder_boundary": "staircase"}}, "cylinder_boundary"),
    ({"flow": {"grid": 3}}, "grid"),
    ({"split": {"strategy": "kfold"}}, "strategy"),
    ({"models": {"mlp": {"type": "mlp", "filters": [3]}}}, "filters"),
    ({"models": {"m": {"type": "transformer"}}}, "transformer"),
])
def test_bad_values_are_rejected_naming_the_key(config, key):
    with pytest.raises(ConfigError, match=key):
        validated(config)


@pytest.mark.parametrize("change, message", [
    ({"split": {"fractions": {"train": 0.8, "val": 0.2, "test": 0.2}}}, r"split\.fractions must add up to 1"),
    ({"fields": {"crop": {"x": [4, 1], "y": [-1, 1]}}}, r"fields\.crop\.x must be \[low, high\]"),
    ({"fields": {"crop": {"x": [30, 40], "y": [-1, 1]}}}, r"fields\.crop\.x .* outside the simulated domain"),
    ({"flow": {"cylinder_y": 2}, "fields": {"crop": {"x": [0, 4], "y": [-4, -3]}}},
     r"fields\.crop\.y \[-4, -3\] lies outside the simulated domain \(-2 to 8 diameters"),  # the cylinder 2 D above the wall
    ({"split": {"strategy": "holdout-re", "holdout_reynolds": [950]}},
     r"split\.holdout_reynolds, .* hold out \[950\] of the values of reynolds \[300, 600, 900, 1200\], of which \[950\] are not in the data"),
    ({"split": {"strategy": "holdout-re"}}, r"hold out \[\] .*holdout-re needs at least one held out"),
    ({"reynolds": [300, 600], "split": {"strategy": "holdout-re", "holdout_reynolds": [300, 600]}}, r"split\.holdout_reynolds"),
    ({"reynolds": [100, 200, 300], "split": {"strategy": "holdout-re", "holdout_bottom": 2}}, r"at least two left to train on \(left: \[300\]\)"),
    ({"reynolds": [300]}, r"reynolds is \[300\]; allowed: a list \(of at least 2 distinct items"),
    ({"reynolds": {"from": 100, "to": 1200, "count": 1}}, r"reynolds: a range needs from < to and a count of at least 2"),
    ({"reynolds": {"from": 1200, "to": 100, "count": 4}}, r"reynolds: a range needs from < to"),
    ({"reynolds": [30, 300]}, r"reynolds: Re 30 is below the onset of vortex shedding; every Reynolds number must be at least 50"),
    ({"reynolds": [300, 2400], "flow": {"collision": "srt"}},
     r"flow\.collision srt cannot hold Re 2400 at flow\.mach 0\.1 and flow\.diameter_cells 12\.8: .* Raise flow\.diameter_cells to at least 30\.5"),
    ({"models": {"deep": {"type": "cnn", "filters": [4, 4, 4, 4, 4, 4, 4]}}}, r"models\.deep\.filters has 7 convolution blocks.*64 x 64 cells: use at most 6"),
    ({"fields": {"downsample": {"factor": 16}}, "models": {"c": {"type": "cnn", "filters": [8, 8, 8]}}}, r"models\.c\.filters has 3 .* 4 x 4 cells"),
])
def test_inconsistent_values_are_rejected_naming_the_key(change, message):
    with pytest.raises(ConfigError, match=message):
        check_config(validated(change))


def test_a_sweep_with_interior_reynolds_numbers_held_out_is_valid():
    config = validated({"reynolds": {"from": 100, "to": 600, "count": 6}, "split": {"compare": ["holdout-re"], "holdout_reynolds": [],
                                                                                     "holdout_every": 2, "val": "blocked"}})
    check_config(config)
    assert config["reynolds"] == {"from": 100, "to": 600, "count": 6}


@pytest.mark.workflow
def test_snakemake_stops_before_any_job_and_names_the_key(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"reynolds": [300, 600], "flow": {"mach": 0.9}}))
    result = subprocess.run(
        [*snakemake_command(), "--directory", str(tmp_path), "--cores", "1"],
        capture_output=True, text=True, timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "mach" in output and "0.3" in output, output  # the key and the allowed maximum
    assert not (tmp_path / "results").exists()


HEX = "0123456789abcdef" * 4


def download_config(files: dict, **settings) -> dict:
    return {"flow": {"source": "download", "download": {"files": files, **settings}}}


def test_download_settings_take_the_course_defaults():
    config = validated(download_config({300: {"url": "https://example.org/a.npz", "sha256": HEX}}))
    download = config["flow"]["download"]
    assert download["format"] == "course" and download["diameter_cells"] == 6.4 and download["frame_interval"] == 0.0625
    assert "download" not in validated({})["flow"]  # absent unless written


def test_course_data_example_is_valid_once_checksums_are_filled_in():
    text = (REPO / "config/course-data.yaml").read_text()
    with pytest.raises(ConfigError, match=r"sha256"):  # the placeholders are rejected, naming the key
        validated(yaml.safe_load(text))
    filled = re.sub(r"FILL-IN\S*", HEX, text)
    config = validated(yaml.safe_load(filled))
    check_config(config)
    assert config["flow"]["source"] == "download"
    assert sorted(config["flow"]["download"]["files"]) == config["reynolds"] == [300, 600, 900, 1200]


@pytest.mark.parametrize("config, key", [
    (download_config({300: {"url": "https://example.org/a.npz", "sha256": "FILL-IN"}}), "sha256"),
    (download_config({300: {"url": "https://example.org/a.npz", "sha256": HEX.upper()}}), "sha256"),
    (download_config({300: {"url": "example.org/a.npz", "sha256": HEX}}), "url"),
    (download_config({300: {"url": "https://example.org/a.npz"}}), "sha256"),
    (download_config({"re300": {"url": "https://example.org/a.npz", "sha256": HEX}}), "re300"),
    (download_config({}, format="pickle"), "format"),
    (download_config({}, cadence=2), "cadence"),
])
def test_bad_download_values_are_rejected_naming_the_key(config, key):
    with pytest.raises(ConfigError, match=key):
        validated(config)


@pytest.mark.parametrize("files", [{300: {}}, {"300": {}}, {}])
def test_every_reynolds_number_needs_a_file_to_download(files):
    files = {re: {"url": "https://example.org/a.npz", "sha256": HEX} for re in files}
    config = validated({"reynolds": [300, 600, 900]} | download_config(files))
    missing = "600, 900" if files else "300, 600, 900"
    with pytest.raises(ConfigError, match=rf"flow\.download\.files has no entry for Re {missing}"):
        check_config(config)


def test_download_files_may_be_keyed_by_numbers_or_strings():
    entry = {"url": "https://example.org/a.npz", "sha256": HEX}
    check_config(validated({"reynolds": [300, 600]} | download_config({300: entry, "600": entry, 900: entry})))


@pytest.mark.parametrize("change, message", [
    ({"fields": {"crop": {"x": [18, 25], "y": [-1, 1]}}}, r"fields\.crop\.x \[18, 25\] lies outside the downloaded domain \(-3 to 17"),
    ({"fields": {"crop": {"x": [0, 4], "y": [4.9, 6]}}}, r"fields\.crop\.y .* outside the downloaded domain \(-5\.15625 to 4\.84375"),
    ({"fields": {"downsample": {"factor": 16}}, "models": {"c": {"type": "cnn", "filters": [8, 8]}}}, r"models\.c\.filters has 2 .* 3 x 3 cells"),
])
def test_crop_and_models_are_checked_against_the_downloaded_grid(change, message):
    entry = {"url": "https://example.org/a.npz", "sha256": HEX}
    config = validated({"reynolds": [300, 600]} | download_config({300: entry, 600: entry}) | change)
    with pytest.raises(ConfigError, match=message):
        check_config(config)


def test_download_section_is_refused_when_simulating():
    config = validated({"flow": {"download": {"files": {}}}})
    with pytest.raises(ConfigError, match=r"flow\.download is read only with flow\.source: download"):
        check_config(config)


def test_duffing_defaults_are_the_course_notes_settings():
    duffing = validated({})["duffing"]
    assert validated({})["systems"] == ["vortex", "duffing"]
    assert duffing["parameters"] == {"omega0": [-1.0, 1.0], "gamma": [0.5, 1.5], "epsilon": [0.0, 0.15]}
    assert duffing["sweep"] == {"frequency": [-4.0, 4.0], "duration": 200, "steps": 400}
    assert duffing["curves"]["frequency_bins"] == 50 and duffing["images"]["noise"] == 0.5
    cnn = duffing["models"]["cnn"]
    assert (cnn["filters"], cnn["strides"], cnn["padding"], cnn["pooling"], cnn["dense_units"]) == ([30, 30, 30, 10], 2, "valid", False, [50])
    assert duffing["models"]["mlp"]["hidden_units"] == [100] and duffing["models"]["mlp"]["activation"] == "tanh"
    assert duffing["training"] == {"backend": "tensorflow", "gpu": False, "shuffle_buffer_mb": 256}


@pytest.mark.parametrize("config, key", [
    ({"systems": ["lorenz"]}, "lorenz"),
    ({"systems": []}, "systems"),
    ({"duffing": {"curves": {"frequency_bins": 0}}}, "frequency_bins"),
    ({"duffing": {"images": {"force_bins": 0}}}, "force_bins"),
    ({"duffing": {"images": {"noise": -0.1}}}, "noise"),
    ({"duffing": {"parameters": {"gamma": []}}}, "gamma"),
    ({"duffing": {"sweep": {"steps": 0}}}, "steps"),
    ({"duffing": {"split": {"train_samples": 0}}}, "train_samples"),
    ({"duffing": {"models": {"m": {"type": "cnn", "padding": "full"}}}}, "padding"),
])
def test_bad_duffing_values_are_rejected_by_the_schema_naming_the_key(config, key):
    with pytest.raises(ConfigError, match=key):
        validated(config)


@pytest.mark.parametrize("change, message", [
    ({"parameters": {"omega0": [1.0, -1.0]}}, r"duffing\.parameters\.omega0 must be a range \[low, high\] with low < high, got \[1\.0, -1\.0\]"),
    ({"parameters": {"epsilon": [0.1, 0.1]}}, r"duffing\.parameters\.epsilon .* \(an empty or inverted range\)"),
    ({"sweep": {"frequency": [4, -4]}}, r"duffing\.sweep\.frequency must be a range"),
    ({"images": {"force": [2.0, 0.1]}}, r"duffing\.images\.force must be a range"),
    ({"parameters": {"gamma": [-0.5, 1.0]}}, r"duffing\.parameters\.gamma \[-0\.5, 1\.0\] must be positive"),
    ({"split": {"train_samples": 5000}}, r"duffing\.split\.train_samples = 5000 is more than the 3200 training curves"),
    ({"models": {"m": {"type": "mlp", "standardise": "per-channel"}}}, r"duffing\.models\.m\.standardise: per-channel needs the images' channels"),
    ({"models": {"c": {"type": "cnn", "filters": [8] * 6, "strides": 2, "padding": "valid", "pooling": False}}},
     r"duffing\.models\.c\.filters has 6 convolution blocks \(stride 2, padding valid, without 2x2 pooling\).*50 x 50 cells: use at most 4 blocks"),
])
def test_inconsistent_duffing_values_are_rejected_naming_the_key(change, message):
    with pytest.raises(ConfigError, match=message):
        check_config(validated({"duffing": change}))


def test_per_channel_standardisation_is_refused_for_vorticity_snapshots():
    with pytest.raises(ConfigError, match=r"models\.m\.standardise: per-channel"):
        check_config(validated({"models": {"m": {"type": "cnn", "standardise": "per-channel"}}}))


@pytest.mark.workflow
def test_the_vortex_street_under_its_old_name_gets_an_error_naming_the_new_one(tmp_path):
    with pytest.raises(ConfigError, match=r"systems: `karman` is now called `vortex`"):
        check_system_names({"systems": ["karman", "duffing"]})
    check_system_names({"systems": ["vortex", "duffing"]})
    (tmp_path / "config.yaml").write_text("systems: [karman, duffing]\n")
    result = subprocess.run([*snakemake_command(), "--directory", str(tmp_path), "-n"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "`karman` is now called `vortex`" in result.stdout + result.stderr


# Every leaf and key of config.yaml and config/sweep.yaml, broken in every way: tests/test_config_errors.py.


def test_command_line_values_are_read_as_the_numbers_the_schema_expects():
    config = validate_config({"reynolds": ["300", "600"], "flow": {"mach": "0.05", "validate": "false"}, "split": {"seed": "3"}}, SCHEMA)
    assert config["reynolds"] == [300, 600] and config["flow"]["mach"] == 0.05 and config["flow"]["validate"] is False
    assert config["split"]["seed"] == 3
    with pytest.raises(ConfigError, match=r"reynolds\[1\] is fast; allowed: a number"):
        validate_config({"reynolds": ["300", "fast"]}, SCHEMA)



FORECASTER = {"models": {"persistence": {"type": "persistence"}}}


@pytest.mark.parametrize("kind", ["ridge", "mlp", "gru", "cnn", "convlstm"])
def test_a_learned_forecaster_may_read_a_history_of_its_own(kind):
    config = validated({"forecast": {"models": {"f": {"type": kind, "history": 8}}}})
    check_config(config)
    assert config["forecast"]["models"]["f"]["history"] == 8
    with pytest.raises(ConfigError, match=r"forecast\.models\.f\.history"):
        validated({"forecast": {"models": {"f": {"type": kind, "history": 0}}}})


@pytest.mark.parametrize("change, message", [
    ({"forecast": FORECASTER | {"holdout_reynolds": [950]}}, r"forecast\.holdout_reynolds \[950\.0\] are not among reynolds"),
    ({"forecast": FORECASTER | {"holdout_reynolds": [300, 600, 900, 1200]}}, r"unseen-re test needs at least one Reynolds number held out .* at least one left"),
    ({"forecast": FORECASTER | {"probe": {"x": 9.0, "y": 0.0}}}, r"forecast\.probe\.x = 9 lies outside fields\.crop\.x \[-0\.5, 4\.5\]"),
    ({"forecast": FORECASTER | {"horizon": 200}}, r"forecast: .*history \+ horizon = 4 \+ 200 = 204: lower forecast\.horizon or forecast\.stride"),
    ({"forecast": {"models": {"long": {"type": "dmd", "window": 99}}}}, r"forecast: .*history \+ horizon = 99 \+ 20"),
    ({"forecast": {"models": {"g": {"type": "gru", "history": 99}}}}, r"forecast: .*history \+ horizon = 99 \+ 20"),
])
def test_forecasts_that_cannot_be_tested_are_refused_naming_the_key(change, message):
    with pytest.raises(ConfigError, match=message):
        check_config(validated(change))


@pytest.mark.parametrize("reynolds, split, unseen", [([300, 600, 900, 1200], {"strategy": "random"}, [900.0]),
                                                     ([300, 600], {"strategy": "blocked"}, [600.0]),
                                                     ([300, 600, 900, 1200], {"strategy": "holdout-re", "holdout_reynolds": [600]}, [600.0])])
def test_the_unseen_reynolds_numbers_default_to_the_middle_one_or_the_splits(reynolds, split, unseen):
    from karman.forecast.windows import unseen_groups

    config = validated({"reynolds": reynolds, "split": split, "forecast": FORECASTER})
    assert unseen_groups(reynolds, config["split"], config["forecast"]) == unseen


def test_an_export_of_the_vortex_street_needs_the_vortex_street():
    from karman.settings import check_config as check_whole_config

    config = yaml.safe_load((REPO / "config.yaml").read_text()) | {"systems": ["duffing"], "export": {"formats": ["the-well"]}}
    with pytest.raises(ConfigError, match=r"export\.formats \['the-well'\] exports the vortex street, which `systems` \['duffing'\] leaves out"):
        check_whole_config(config, SCHEMA)
    check_whole_config(config | {"systems": ["vortex", "duffing"]}, SCHEMA)
