"""The config against its JSON Schema, with defaults filled in and errors a person can act on.

Each error names the full key path (`models.cnn.epochs`), the value given and what is
allowed, on one line, from the schema's own constraints and description; an unknown key
lists the keys that are known there. Values that Snakemake's `--config` hands over as text
(`--config reynolds=[300,600]` gives ["300", "600"]) are read as the numbers or booleans
the schema expects.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from karman.config import ConfigError
from karman.fetch import without_secrets

MAX_ERRORS = 8
TYPE_WORDS = {"integer": "an integer", "number": "a number", "boolean": "true or false", "string": "text", "array": "a list",
              "object": "a mapping of keys to values", "null": "null"}
SCALARS = {"integer": (int,), "number": (int, float), "boolean": (bool,), "null": (type(None),)}


def _with_defaults(validator_class):
    """A validator that fills each property's `default` in while it validates (JSON Schema FAQ)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


def load_schema(path: str | Path) -> dict:
    return yaml.safe_load(Path(path).read_text())


def key_path(path: Iterable) -> str:
    """models.cnn.epochs, reynolds[1]."""
    text = ""
    for part in path:
        part = shown(part) if isinstance(part, str) and not part.isprintable() else part
        text += f"[{part}]" if isinstance(part, int) else f"{'.' if text else ''}{part}"
    return text or "the config"


def shown(value) -> str:
    """A value as the user would write it in YAML, on one line (text with a newline or another
    control character in double quotes, escaped: "cnn\\n"); a URL without its user info and
    query string, which may hold a secret."""
    value = without_secrets(value)
    if isinstance(value, str) and any(not character.isprintable() for character in value):
        return json.dumps(value)
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def resolve(schema: dict, root: dict) -> dict:
    """`schema` with a local `$ref` (#/$defs/…) followed."""
    while "$ref" in schema:
        schema = {**root["$defs"][schema["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def allowed(schema: dict, root: dict) -> str:
    """What a schema allows, in words: "an integer ≥ 1", "one of relu, tanh"."""
    schema = resolve(schema, root)
    if "enum" in schema:
        return "one of " + ", ".join(shown(value) for value in schema["enum"])
    if "const" in schema:
        return shown(schema["const"])
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    of_list = list_words(schema, root) if "array" in types else ""
    of_list = f" ({of_list.strip()})" if of_list and len(types) > 1 else of_list
    words = " or ".join(TYPE_WORDS.get(name, name) + (of_list if name == "array" else "") for name in types) or "a value"
    bounds = [f"{sign} {schema[key]:g}" for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                                                           ("exclusiveMaximum", "<")) if key in schema]
    if bounds:
        words += " " + " and ".join(bounds)
    if "pattern" in schema:
        words += f" matching {schema['pattern']}"
    return words


def list_words(schema: dict, root: dict) -> str:
    """What a list must hold, in words: " of at least 2 distinct items, each a number"."""
    words = ""
    items = "distinct items" if schema.get("uniqueItems") else "items"
    if "minItems" in schema or "maxItems" in schema:
        low, high = schema.get("minItems"), schema.get("maxItems")
        if (high if low is None else low) == 1 and (low == high or high is None):
            items = items.removesuffix("s")
        words += f" of {low} {items}" if low == high else f" of at least {low} {items}" if high is None else f" of {low} to {high} {items}"
    elif schema.get("uniqueItems"):
        words += f" of {items}"
    if "items" in schema and isinstance(schema["items"], dict):
        words += f", each {allowed(schema['items'], root)}"
    return words


def known_keys(schema: dict, instance, root: dict, validator) -> set[str]:
    """The keys a mapping may have under `schema`, following allOf, $ref and the if/then that
    applies; where no if/then applies (a model without a known type), the keys of all of them."""
    schema = resolve(schema, root)
    keys = set(schema.get("properties", {}))
    branches = []
    for part in schema.get("allOf", []):
        part = resolve(part, root)
        if "if" in part:
            branches.append((validator.evolve(schema=part["if"]).is_valid(instance), part.get("then", {})))
        else:
            keys |= known_keys(part, instance, root, validator)
    applying = [then for applies, then in branches if applies] or [then for _, then in branches]
    for then in applying:
        keys |= known_keys(then, instance, root, validator)
    return keys


def did_you_mean(given, choices: Iterable) -> str:
    """" (did you mean kernel_size?)" for a near miss among `choices`, else ""."""
    close = difflib.get_close_matches(str(given), [str(choice) for choice in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def describe(error: ValidationError, root: dict, validator) -> list[str]:
    """One line per bad key: the full key path, the value given and what is allowed there."""
    path = list(error.absolute_path)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        known = sorted(known_keys(error.schema, error.instance, root, validator))
        return [f"{key_path([*path, key])} is {shown(error.instance[key])}, but {key_path(path)} has no key {key}{did_you_mean(key, known)}; "
                f"allowed keys: {', '.join(known)}" for key in sorted(set(error.instance) - set(known))]
    if error.validator == "required":
        return [f"{key_path(path)}: {error.message.split(' ')[0]} is missing; it is required there"]
    if "propertyNames" in error.schema_path:  # a key of `path` that is not a name allowed there
        names = resolve(error.schema, root)
        rule = f"names matching {names['pattern']}" if "pattern" in names else allowed(names, root)
        return [f"{key_path(path)} has a key {shown(error.instance)}; allowed keys: {rule}"]
    schema = resolve(error.schema, root)
    description = " ".join(schema.get("description", "").split())
    description = description if len(description) <= 160 else description[:160].rsplit(" ", 1)[0] + " …"
    hint = f" ({description})" if description else ""
    near = did_you_mean(error.instance, schema["enum"]) if error.validator == "enum" and isinstance(error.instance, str) else ""
    return [f"{key_path(path)} is {shown(error.instance)}{near}; allowed: {allowed(error.schema, root)}{hint}"]


def relevant(errors: list[ValidationError]) -> list[ValidationError]:
    """The errors worth showing, each once, in the order of their keys."""
    kept = {}
    for error in errors:
        kept.setdefault((error.validator, tuple(error.absolute_path)), error)
    return sorted(kept.values(), key=lambda error: key_path(error.absolute_path))


def from_text(value: str, types) -> object | None:
    """`value` read as YAML, if that gives one of the scalar `types` the schema expects (else None)."""
    types = [types] if isinstance(types, str) else types
    if "string" in types:
        return None
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return None
    wanted = tuple(kind for name in types for kind in SCALARS.get(name, ()))
    if isinstance(parsed, bool) and "boolean" not in types:  # bool is a kind of int to Python, not to the schema
        return None
    return parsed if wanted and isinstance(parsed, wanted) else None


def set_at(config: dict, path, value) -> None:
    *parents, last = list(path)
    for part in parents:
        config = config[part]
    config[last] = value


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Fill in the schema's defaults and raise ConfigError listing every bad value (at most
    MAX_ERRORS), one line each; text where the schema wants a number or boolean is read as one."""
    root = load_schema(schema_path)
    validator = _with_defaults(Draft202012Validator)(root)
    for _ in range(1000):  # each pass reads the text values it finds as what the schema expects
        coerced = False
        for error in validator.iter_errors(config):
            if error.validator == "type" and isinstance(error.instance, str):
                value = from_text(error.instance, error.validator_value)
                if value is not None:
                    set_at(config, error.absolute_path, value)
                    coerced = True
        if not coerced:
            break
    errors = relevant(list(validator.iter_errors(config)))
    if errors:
        lines = [line for error in errors for line in describe(error, root, validator)]
        more = f"\n  … and {len(lines) - MAX_ERRORS} more" if len(lines) > MAX_ERRORS else ""
        lines = lines[:MAX_ERRORS]
        raise ConfigError("the config has values that are not allowed:\n  - " + "\n  - ".join(lines) + more
                          + "\n(every key, with its default and what it allows: docs/configuration.md)")
    return config


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _rows(schema: dict, root: dict, path: str, only: str = ""):
    """(key, default, allowed, description, for which model types) of every key under `schema`."""
    schema = resolve(schema, root)
    parts = [schema, *(resolve(part, root) for part in schema.get("allOf", []))]
    for part in parts:
        if "if" in part:  # a model type's own keys
            condition = part["if"]["properties"]["type"]
            kind = condition["const"] if "const" in condition else ", ".join(condition["enum"])
            yield from _rows(part["then"], root, path, kind)
            continue
        for name, sub in part.get("properties", {}).items():
            if part is not schema and name in schema.get("properties", {}):
                continue
            key = f"{path}.{name}" if path else name
            resolved = resolve(sub, root)
            default = shown(resolved["default"]) if "default" in resolved else ("required" if name in part.get("required", []) else "—")
            yield key, default, allowed(resolved, root), resolved.get("description", ""), only
            if "properties" in resolved or "allOf" in resolved:
                yield from _rows(resolved, root, key, only)
            if isinstance(resolved.get("additionalProperties"), dict):
                placeholder = "<Re>" if name == "files" else "<name>"
                yield from _rows(resolved["additionalProperties"], root, f"{key}.{placeholder}", only)


def configuration_reference(root: dict) -> str:
    """docs/configuration.md: every key of the config, from the schema's descriptions."""
    lines = ["# Configuration", "",
             "Every key of `config.yaml`, with its default, what it allows and what it does. This page is generated",
             "from `schemas/config.schema.yaml` (`uv run python -m karman.schema docs/configuration.md`);",
             "a test keeps the two in step. Keys left out of a config take their defaults; an unknown key or a",
             "value that is not allowed stops the workflow before any job, naming the key.", ""]
    for name, sub in root["properties"].items():
        lines += [f"## `{name}`", "", _cell(resolve(sub, root).get("description", "")), "",
                  "| key | default | allowed | description |", "|---|---|---|---|"]
        rows: dict[tuple, tuple] = {}  # a key that several model types share alike is one row; set differently, one each
        for key, default, allowed_values, description, kind in _rows({"properties": {name: sub}}, root, ""):
            row = (key, default, allowed_values, description)
            rows[row] = (*rows.get(row, ()), *((kind,) if kind else ()))
        for (key, default, allowed_values, description), kinds in rows.items():
            note = f" (type {', '.join(kinds)})" if kinds else ""
            lines.append(f"| `{key}`{note} | `{_cell(default)}` | {_cell(allowed_values)} | {_cell(description)} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    schema_path = Path(__file__).resolve().parents[2] / "schemas/config.schema.yaml"
    Path(sys.argv[1]).write_text(configuration_reference(load_schema(schema_path)))
