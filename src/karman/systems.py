"""The physical systems karman runs through its stages, in one registry.

Each system is a subpackage of karman (`karman/vortex/`, `karman/duffing/`) that declares a
`System` in its `system` module: its name (a value of the config's `systems`), the check of
its config keys, its store contracts, its rules files and its report section. A system
registers itself with an entry point of the group `karman.systems` in pyproject.toml:

    [project.entry-points."karman.systems"]
    vortex = "karman.vortex.system:SYSTEM"

The generic layer iterates `registered()` and names no system: the config check
(`karman.settings`), `karman check`'s contracts (`karman.cli`), the code digests of the
report's templates (`karman.workflow`), the Snakefile's includes and the report
(`rules/report.smk`, `scripts/render_report.py`). docs/adding-a-system.md walks through a
new one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from karman.check import Contract

GROUP = "karman.systems"  # the entry point group systems register under


@dataclass(frozen=True)
class System:
    """What the generic layer needs to know of one physical system.

    `name`: its value in `systems` and the prefix of its report inputs (`vortex_gallery`);
    `check(config)`: the relations between its keys, raising `karman.config.ConfigError`, run
    on the whole config (defaults filled in) whether or not `systems` selects it;
    `contracts`: the stores it writes, for `karman check`; `rules`: its rules files, relative
    to the workflow's root, in the order the Snakefile includes them; `report`: the module of
    its report section, with `job_section(inputs, settings)` and its template
    `karman/<name>/section.html.j2`; `report_data`: the files other than Python source its
    report module reads (their change reruns the report).
    """

    name: str
    check: Callable[[dict], object]
    contracts: tuple[Contract, ...]
    rules: tuple[str, ...]
    report: str
    report_data: tuple[str, ...] = field(default=())


@functools.cache
def registered() -> dict[str, System]:
    """Every installed system by name, sorted by name."""
    found = {}
    for point in entry_points(group=GROUP):
        system = point.load()
        if not isinstance(system, System) or system.name != point.name:
            raise TypeError(f"entry point {point.name} = {point.value} of {GROUP} is not the System named {point.name!r}")
        found[system.name] = system
    return dict(sorted(found.items()))


def selected(config: dict) -> list[System]:
    """The systems the config's `systems` runs, in its order."""
    systems = registered()
    return [systems[name] for name in config["systems"]]
