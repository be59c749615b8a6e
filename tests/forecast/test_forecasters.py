"""The forecaster types of the code and of the config's schema are one list, with one set of defaults."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from karman.forecast.forecasters import FORECASTERS, TYPES

SCHEMA = yaml.safe_load((Path(__file__).parents[2] / "schemas/config.schema.yaml").read_text())["$defs"]


def schema_settings(kind: str) -> dict[str, dict]:
    """The settings the schema allows for forecasters of type `kind`, by name."""
    found = {}
    for branch in SCHEMA["forecaster"]["allOf"]:
        condition = branch["if"]["properties"]["type"]
        if kind == condition.get("const") or kind in condition.get("enum", ()):
            found |= branch["then"].get("properties", {})
            for reference in branch["then"].get("allOf", ()):
                found |= SCHEMA[reference["$ref"].rsplit("/", 1)[1]]["properties"]
    return found


def test_the_schema_lists_every_forecaster_type_and_no_other():
    assert SCHEMA["forecaster"]["properties"]["type"]["enum"] == list(TYPES)


@pytest.mark.parametrize("kind", TYPES)
def test_every_setting_the_schema_allows_is_a_setting_of_the_class_with_the_same_default(kind):
    fields = {field.name: field for field in dataclasses.fields(FORECASTERS[kind])}
    for name, setting in schema_settings(kind).items():
        assert name in fields, f"{kind}: the schema allows {name}, which the class does not have"
        if "default" not in setting or name == "seed":  # seed: the class's None is the stage's seed, the schema's default
            continue
        field = fields[name]
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        assert default == setting["default"], f"{kind}.{name}: the class's default {default!r}, the schema's {setting['default']!r}"
