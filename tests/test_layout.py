"""The package's layout (docs/development.md): an import graph without cycles, a generic layer
that names no system, and modules a reader can hold in mind."""

from graphlib import CycleError, TopologicalSorter

import pytest

from karman import workflow
from karman.systems import registered
from karman.workflow import karman_imports

LONGEST_MODULE = 450  # lines


def modules() -> list[str]:
    """Every karman module and package by its dotted name."""
    names = []
    for path in sorted(workflow.PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(workflow.PACKAGE_DIR).with_suffix("").parts
        names.append(".".join(("karman", *parts[:-1]) if parts[-1] == "__init__" else ("karman", *parts)))
    return names


def import_graph() -> dict[str, set[str]]:
    """What each module imports of karman itself (the packages above it, which importing it runs, left out)."""
    return {module: {name for name in karman_imports(module) if not module.startswith(f"{name}.")} for module in modules()}


def system_packages() -> set[str]:
    return {system.report.rsplit(".", 1)[0] for system in registered().values()}


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def test_the_import_graph_has_no_cycle():
    list(TopologicalSorter(import_graph()).static_order())  # raises CycleError on a cycle


def test_the_generic_layer_imports_no_system():
    systems = system_packages()
    assert systems == {"karman.vortex", "karman.duffing"}
    generic = {module: imported for module, imported in import_graph().items() if not any(in_package(module, s) for s in systems)}
    assert "karman.forecast.stage" in generic and "karman.settings" in generic
    naming_a_system = {module: sorted(name for name in imported if any(in_package(name, s) for s in systems))
                       for module, imported in generic.items()}
    assert {module: names for module, names in naming_a_system.items() if names} == {}


def test_no_module_is_over_the_longest_a_reader_holds():
    lengths = {module: len(workflow.module_path(module).read_text().splitlines()) for module in modules()}
    assert len(lengths) > 40
    assert {module: n for module, n in lengths.items() if n > LONGEST_MODULE} == {}


def test_a_cycle_is_found(monkeypatch, tmp_path):
    """The check above on a package whose two modules import each other."""
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "a.py").write_text("from karman.b import g\n")
    (tmp_path / "b.py").write_text("from karman import a\n")
    monkeypatch.setattr(workflow, "PACKAGE_DIR", tmp_path)
    graph = import_graph()
    assert graph == {"karman": set(), "karman.a": {"karman.b"}, "karman.b": {"karman.a"}}
    with pytest.raises(CycleError):
        list(TopologicalSorter(graph).static_order())
