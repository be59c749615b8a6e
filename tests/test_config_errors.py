"""Bad config values as users meet them: cases generated from the schema, one screen each.

Every leaf and every key of config.yaml and of config/sweep.yaml (on top of config.yaml, as
users run it) is broken in each way the schema allows: a value of the wrong type, a value out
of its range, a misspelt key, an unknown model type, and two errors at once. Every case goes
through `karman.settings.checked_config`, the function the Snakefile calls; one case of each
kind in each section also goes through `snakemake -n` in a copy of the project.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import yaml
from jsonschema import Draft202012Validator
from snakemake.utils import update_config

from conftest import REPO, snakemake_tier
from test_configfile import CASES as UNREADABLE_CONFIG_FILES
from karman.schema import key_path, load_schema, resolve, set_at, shown
from karman.settings import check_config, checked_config

SCHEMA_PATH = REPO / "schemas/config.schema.yaml"
SCHEMA = load_schema(SCHEMA_PATH)
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())
SWEEP = copy.deepcopy(DEFAULT)
update_config(SWEEP, yaml.safe_load((REPO / "config/sweep.yaml").read_text()))  # as `--configfile config/sweep.yaml` does
CONFIGS = {"config.yaml": DEFAULT, "config/sweep.yaml": SWEEP}
SCREEN = 15  # lines, Snakemake's own two lines included
NOT_ON_A_SCREEN = ("Traceback", 'File "', "$defs", "Failed validating", "unevaluatedProperties")


def filled(config: dict) -> dict:
    return check_config(copy.deepcopy(config), SCHEMA_PATH)


def get_at(config: dict, path):
    for part in path:
        config = config[part]
    return config


def branches(schema: dict, instance):
    """`schema` and every part of it that applies to `instance`: allOf, and the if/then whose if holds."""
    schema = resolve(schema, SCHEMA)
    yield schema
    for part in schema.get("allOf", []):
        part = resolve(part, SCHEMA)
        if "if" not in part:
            yield from branches(part, instance)
        elif Draft202012Validator(part["if"]).is_valid(instance):
            yield from branches(part["then"], instance)


def child_schema(schema: dict, key, instance) -> dict:
    """The schema of `instance[key]`: an item, a property of a branch that applies, or additionalProperties."""
    schema = resolve(schema, SCHEMA)
    if isinstance(key, int):
        return resolve(schema["items"], SCHEMA)
    for part in branches(schema, instance):
        if key in part.get("properties", {}):
            return resolve(part["properties"][key], SCHEMA)
    return resolve(schema["additionalProperties"], SCHEMA)


def schema_at(config: dict, path) -> dict:
    schema, instance = SCHEMA, config
    for part in path:
        schema, instance = child_schema(schema, part, instance), instance[part]
    return resolve(schema, SCHEMA)


def leaves(value, path=()):
    """(path, value) of every scalar or list."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    else:
        yield path, value


def named_freely(schema: dict) -> bool:
    """A mapping whose keys are names the user picks (models, download files), not the schema's keys."""
    return "properties" not in schema and isinstance(schema.get("additionalProperties"), dict)


def mappings(config: dict, value, path=()):
    """Paths of every mapping in `value` (at `path` of `config`) whose keys the schema names."""
    if isinstance(value, dict):
        if not named_freely(schema_at(config, path)):
            yield path
        for key, item in value.items():
            yield from mappings(config, item, (*path, key))


JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object", type(None): "null"}


def type_names(value) -> set[str]:
    name = JSON_TYPES[type(value)]
    return {name, "number"} if name == "integer" else {name}


def wrong_type(schema: dict):
    """A value of a type the schema does not allow (text where it wants a number, a number where it wants text)."""
    types = schema.get("type", ["string"] if "enum" in schema else [])
    types = {types} if isinstance(types, str) else set(types)
    return next(value for value in ("fast", 12345, [1, 2], {"a": 1}) if not type_names(value) & types)


def misspelt(key: str) -> str:
    """`key` with two letters swapped (or its last letter doubled, for short keys)."""
    if len(key) >= 4:
        i = len(key) // 2
        swapped = key[:i - 1] + key[i] + key[i - 1] + key[i + 1:]
        if swapped != key:
            return swapped
    return key + key[-1]


def out_of_range(schema: dict, value):
    """(path suffix, value) just outside what the schema allows, or None where it sets no bound."""
    if "enum" in schema and all(isinstance(choice, str) for choice in schema["enum"]):
        return (), misspelt(str(schema["enum"][0]))
    for key, step in (("minimum", -1), ("exclusiveMinimum", 0), ("maximum", 1), ("exclusiveMaximum", 0)):
        if key in schema:
            return (), schema[key] + step
    if isinstance(value, list):
        if "minItems" in schema and len(value) >= schema["minItems"]:
            return (), value[:schema["minItems"] - 1]
        if "maxItems" in schema:
            return (), value + value[:1] * (schema["maxItems"] + 1 - len(value))
        if value and isinstance(schema.get("items"), dict):
            inner = out_of_range(resolve(schema["items"], SCHEMA), value[0])
            if inner is not None and not isinstance(inner[1], list):
                return (0, *inner[0]), inner[1]
    return None


@dataclass
class Case:
    """A broken config, where it breaks, and what the message must say."""

    kind: str
    source: str
    section: str
    config: dict
    expected: list[str]
    change: tuple = ()  # (path, value) of a one-value change

    @property
    def id(self) -> str:
        return f"{self.source}:{self.kind}:{self.expected[0][:60]}"


def section_of(path) -> str:
    """The part of the config a path lies in: top, flow, split, models.cnn, duffing.images, duffing.models.cnn, …"""
    path = [part for part in path if not isinstance(part, int)]
    if len(path) <= 1:
        return "top"
    depth = 3 if path[0] == "duffing" and path[1] == "models" and len(path) > 3 else 2 if path[0] in ("models", "duffing") and len(path) > 2 else 1
    return ".".join(map(str, path[:depth]))


def has_path(config: dict, path) -> bool:
    try:
        get_at(config, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


def changed(config: dict, *changes) -> dict:
    config = copy.deepcopy(config)
    for path, value in changes:
        set_at(config, path, value)
    return config


def renamed(config: dict, path, old: str, new: str) -> dict:
    config = copy.deepcopy(config)
    mapping = get_at(config, path)
    mapping[new] = mapping.pop(old)
    return config


def cases() -> list[Case]:
    found = []
    for source, config in CONFIGS.items():
        complete = filled(config)
        for path, value in leaves(config):
            schema = schema_at(complete, path)
            bad = wrong_type(schema)
            found.append(Case("wrong type", source, section_of(path), changed(config, (path, bad)), [f"{key_path(path)} is {shown(bad)}; allowed: "],
                              (path, bad)))
            outside = out_of_range(schema, value)
            if outside is not None:
                suffix, bad = outside
                where = (*path, *suffix)
                found.append(Case("out of range", source, section_of(path), changed(config, (where, bad)),
                                  [f"{key_path(where)} is {shown(bad)}", "; allowed: "]))
        for path in mappings(complete, config):
            for key in get_at(config, path):
                bad = misspelt(key)
                value = get_at(config, (*path, key))
                found.append(Case("misspelt key", source, section_of((*path, key)), renamed(config, path, key, bad),
                                  [f"{key_path((*path, bad))} is {shown(value)}, but {key_path(path)} has no key {bad} (did you mean {key}?); allowed keys: "]))
        for models in (("models",), ("duffing", "models")):
            for name, spec in get_at(complete, models).items():
                bad = spec["type"] + "s"
                found.append(Case("unknown model type", source, section_of((*models, name, "type")),
                                  changed(config, ((*models, name), {**get_at(complete, (*models, name)), "type": bad})),
                                  [f"{key_path((*models, name, 'type'))} is {bad} (did you mean {spec['type']}?); allowed: one of "]))
    # two errors at once: a wrong type and a misspelt key in the same section, both reported
    by_section: dict[tuple, dict[str, list[Case]]] = {}
    for case in found:
        by_section.setdefault((case.source, case.section), {}).setdefault(case.kind, []).append(case)
    for (source, section), kinds in by_section.items():
        pairs = [(wrong, misspelling) for wrong in kinds.get("wrong type", []) for misspelling in kinds.get("misspelt key", [])
                 if has_path(misspelling.config, wrong.change[0]) and wrong.change[0][-1] != "type"]  # a bad type hides the keys it allows
        if pairs:
            wrong, misspelling = pairs[0]
            found.append(Case("two errors", source, section, changed(misspelling.config, wrong.change), wrong.expected + misspelling.expected))
    return found


CASES = cases()


def stopped(config: dict) -> str:
    """The message with which the Snakefile's check stops on `config`."""
    with pytest.raises(SystemExit) as stop:
        checked_config(copy.deepcopy(config), SCHEMA_PATH)
    return str(stop.value.code)


def assert_on_one_screen(message: str, case: Case) -> None:
    assert message.startswith("karman: "), message
    assert len(message.splitlines()) <= SCREEN - 2, message
    assert not any(word in message for word in NOT_ON_A_SCREEN), message
    for expected in case.expected:
        assert expected in message, f"{expected!r} not in:\n{message}"


def test_the_cases_cover_every_leaf_key_and_kind_of_both_configs():
    for source, config in CONFIGS.items():
        mine = [case for case in CASES if case.source == source]
        for path, _ in leaves(config):
            assert any(case.kind == "wrong type" and case.expected[0].startswith(f"{key_path(path)} is ") for case in mine), path
        kinds = {case.kind for case in mine}
        assert kinds == {"wrong type", "out of range", "misspelt key", "unknown model type", "two errors"}, kinds
        sections = {case.section for case in mine if case.kind == "misspelt key"}
        assert {"top", "flow", "fields", "split", "models.cnn"} <= sections, sections
    sections = {case.section for case in CASES if case.kind == "misspelt key"}
    assert {"training", "duffing", "duffing.parameters", "duffing.images", "duffing.models.cnn"} <= sections, sections


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_every_bad_value_stops_on_one_screen_naming_the_key_the_value_and_what_is_allowed(case):
    assert_on_one_screen(stopped(case.config), case)


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory):
    """The workflow as a user has it: Snakefile, rules, scripts, schemas, profiles and config."""
    copy_dir = tmp_path_factory.mktemp("project")
    for name in ("Snakefile", "config.yaml", "rules", "scripts", "schemas", "profiles", "report", "envs", "config"):
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, copy_dir / name)
    return copy_dir


def snakemake_dry_run(project, *args: str) -> subprocess.CompletedProcess:
    snakemake_tier()
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", *args], cwd=project, capture_output=True, text=True, timeout=300)


def one_of_each_kind_in_each_section() -> list[Case]:
    chosen: dict[tuple, Case] = {}
    for case in CASES:
        chosen.setdefault((case.section, case.kind), case)
    return list(chosen.values())


def test_one_case_of_each_kind_in_each_section_stops_snakemake_before_any_job(project_copy):
    chosen = one_of_each_kind_in_each_section()
    assert len(chosen) >= 50, len(chosen)

    def run(numbered):
        number, case = numbered
        path = project_copy / f"bad{number}.yaml"
        path.write_text(yaml.safe_dump(case.config))
        return case, snakemake_dry_run(project_copy, "--configfile", path.name)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, enumerate(chosen)))
    for case, result in results:
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert "Building DAG" not in output and "Job stats" not in output, output
        assert len(output.strip().splitlines()) <= SCREEN, output
        assert_on_one_screen(output[output.index("karman: "):], case)
    assert not (project_copy / "results").exists()


# --config as users mean it: parsed as YAML, the same run as the same values in a config file.
COMMAND_LINE = [
    (["reynolds=[300,600]"], {"reynolds": [300, 600]}),
    (["reynolds={from: 100, to: 400, count: 4}"], {"reynolds": {"from": 100, "to": 400, "count": 4}}),
    (["split={strategy: blocked}"], {"split": {"strategy": "blocked"}}),
]


@pytest.mark.parametrize("arguments, same_in_a_file", COMMAND_LINE, ids=lambda value: str(value))
def test_command_line_values_give_the_run_of_the_same_values_in_a_config_file(arguments, same_in_a_file):
    from snakemake.cli import parse_config

    from_command_line, from_file = copy.deepcopy(DEFAULT), copy.deepcopy(DEFAULT)
    update_config(from_command_line, parse_config(arguments))
    update_config(from_file, same_in_a_file)
    assert check_config(from_command_line, SCHEMA_PATH) == check_config(from_file, SCHEMA_PATH)


def jobs(output: str) -> str:
    return output[output.index("Job stats:"):].split("\n\n")[0]


def test_command_line_values_plan_the_jobs_of_the_same_config_file(project_copy):
    (project_copy / "same.yaml").write_text(yaml.safe_dump({"reynolds": {"from": 100, "to": 400, "count": 4}, "split": {"strategy": "blocked"}}))
    from_file = snakemake_dry_run(project_copy, "--configfile", "same.yaml", "--forceall")
    from_command_line = snakemake_dry_run(project_copy, "--config", "reynolds={from: 100, to: 400, count: 4}", "split={strategy: blocked}",
                                          "--forceall")
    assert from_file.returncode == 0 and from_command_line.returncode == 0, from_command_line.stderr[-2000:]
    assert "simulate_flow                   4" in jobs(from_file.stdout)
    assert jobs(from_command_line.stdout) == jobs(from_file.stdout)


@pytest.mark.parametrize("arguments, expected", [
    (["--config", "reynolds=[]"], "reynolds is []; allowed: a list (of at least 2 distinct items"),
    (["--config", "reynolds=[300,600,300]"], "reynolds is [300, 600, 300]; allowed: a list (of at least 2 distinct items"),
    (["--config", "reynolds=[300,600,600.001]"], "reynolds: Re 600 is given twice"),
    (["--config", "systems=[vortx]"], "systems[0] is vortx (did you mean vortex?); allowed: one of vortex, duffing"),
    (["--config", "models={cnn: {kernal_size: 5}}", "flow={mach: fast}"],
     "flow.mach is fast; allowed: a number > 0 and ≤ 0.3"),
    (["--config", "models={cnn: {kernal_size: 5}}", "flow={mach: fast}"],
     "models.cnn.kernal_size is '5', but models.cnn has no key kernal_size (did you mean kernel_size?)"),
])
def test_bad_command_line_values_stop_snakemake_on_one_screen(project_copy, arguments, expected):
    result = snakemake_dry_run(project_copy, *arguments)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and expected in output, output
    assert len(output.strip().splitlines()) <= SCREEN and not any(word in output for word in NOT_ON_A_SCREEN), output


# A --configfile Snakemake's reader rejects, before karman's Snakefile runs: named by karman's
# logger plugin (profiles/default sets `logger: [karman]`; karman.configfile).
@pytest.mark.parametrize("case", UNREADABLE_CONFIG_FILES)
def test_a_config_file_snakemake_cannot_read_is_named_on_one_screen(project_copy, case):
    make, what = UNREADABLE_CONFIG_FILES[case]
    folder = project_copy / "unreadable" / case.replace(" ", "-")
    folder.mkdir(parents=True)
    path = make(folder).relative_to(project_copy)
    result = snakemake_dry_run(project_copy, "--configfile", str(path))
    output = result.stdout + result.stderr
    assert result.returncode != 0 and f"karman: config file {path}: {what}" in output, output
    assert "a config file is YAML with config keys at its top, as config/sweep.yaml is" in output
    assert "Building DAG" not in output
    assert len(output.strip().splitlines()) <= SCREEN and not any(word in output for word in NOT_ON_A_SCREEN), output


def test_a_config_that_is_no_mapping_is_named():
    with pytest.raises(SystemExit, match=r"karman: the config is list, not a mapping of keys to values"):
        checked_config([300, 600], SCHEMA_PATH)


# A name ends where its text ends: "cnn\n" is no model name (it would become a folder). The
# schema's patterns end in \Z, which, unlike $, does not match before a final newline.
def with_values(**sections) -> dict:
    config = copy.deepcopy(DEFAULT)
    update_config(config, sections)
    return config


def downloads(**file_600) -> dict:
    """flow.download for Re 300 and 600, with the given entries of Re 600's file."""
    files = {300: {"url": "https://example.org/re300.npz", "sha256": "0" * 64},
             600: {"url": "https://example.org/re600.npz", "sha256": "0" * 64, **file_600}}
    return {"source": "download", "download": {"files": files}}


NAMES_ENDING_IN_A_NEWLINE = {
    "model name": (with_values(models={"cnn\n": {"type": "cnn"}}), 'models has a key "cnn\\n"; allowed keys: names matching '),
    "duffing model name": (with_values(duffing={"models": {"cnn\n": {"type": "cnn"}}}), 'duffing.models has a key "cnn\\n"'),
    "forecaster name": (with_values(forecast={"models": {"cnn\n": {"type": "cnn"}}}), 'forecast.models has a key "cnn\\n"'),
    "dataset name": (with_values(export={"dataset_name": "vortex\n"}), 'export.dataset_name is "vortex\\n"; allowed: text matching '),
    "Reynolds number of a file": (
        with_values(reynolds=[300, 600], flow=downloads() | {"download": {"files": {**downloads()["download"]["files"], "600\n": {"url": "https://example.org/re600.npz", "sha256": "0" * 64}}}}),
        'flow.download.files has a key "600\\n"'),
    "checksum": (with_values(reynolds=[300, 600], flow=downloads(sha256="0" * 64 + "\n")),
                 'flow.download.files[600].sha256 is "' + "0" * 64 + '\\n"'),
    "URL": (with_values(reynolds=[300, 600], flow=downloads(url="https://example.org/re600.npz\n")),
            'flow.download.files[600].url is "https://example.org/re600.npz\\n"'),
}


@pytest.mark.parametrize("case", NAMES_ENDING_IN_A_NEWLINE)
def test_a_name_that_ends_in_a_newline_is_refused(case):
    config, expected = NAMES_ENDING_IN_A_NEWLINE[case]
    message = stopped(config)
    assert expected in message and len(message.splitlines()) == 3, message  # the heading, the key, the pointer


@pytest.mark.parametrize("case", ["model name", "Reynolds number of a file", "checksum"])
def test_snakemake_refuses_a_name_that_ends_in_a_newline(project_copy, case):
    config, expected = NAMES_ENDING_IN_A_NEWLINE[case]
    (project_copy / "newline.yaml").write_text(yaml.safe_dump(config))
    result = snakemake_dry_run(project_copy, "--configfile", "newline.yaml")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and expected in output and "Building DAG" not in output, output
    assert not (project_copy / "results").exists()
