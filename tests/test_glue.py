"""Glue between Snakemake and the library: canonical params and code digests."""

import shutil

import pytest

from karman import workflow
from karman.workflow import canonical, code_digest, karman_imports


def test_canonical_params_do_not_depend_on_key_order():
    assert canonical({"b": 1, "a": [2, 3]}) == canonical({"a": [2, 3], "b": 1}) == '{"a":[2,3],"b":1}'


def test_imports_are_followed_within_karman():
    assert "karman.stores" in karman_imports("karman.fields")
    assert not any(name.startswith(("numpy", "xarray")) for name in karman_imports("karman.fields"))


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    copy = tmp_path / "karman"
    shutil.copytree(workflow.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(workflow, "PACKAGE_DIR", copy)
    return copy


def test_digest_changes_with_the_module_and_what_it_imports(package_copy):
    fields = code_digest("karman.fields")
    (package_copy / "stores.py").write_text((package_copy / "stores.py").read_text() + "\n# changed\n")
    after_stores = code_digest("karman.fields")
    assert after_stores != fields  # fields imports stores
    assert code_digest("karman.fields") == after_stores  # stable between parses
    (package_copy / "fields.py").write_text((package_copy / "fields.py").read_text() + "\n# changed\n")
    assert code_digest("karman.fields") not in (fields, after_stores)


def test_digest_ignores_modules_a_rule_does_not_run(package_copy):
    flow = code_digest("karman.flow")
    (package_copy / "train.py").write_text((package_copy / "train.py").read_text() + "\n# changed\n")
    assert code_digest("karman.flow") == flow


def test_report_digest_covers_its_template(package_copy):
    report = code_digest("karman.report")
    template = package_copy / "templates/report.html.j2"
    template.write_text(template.read_text() + "<!-- changed -->")
    assert code_digest("karman.report") != report
