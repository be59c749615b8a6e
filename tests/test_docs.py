"""The documentation: the configuration reference in step with the schema, and no broken link."""

import re

import pytest

from conftest import REPO
from karman.schema import configuration_reference, load_schema

PAGES = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_the_configuration_reference_is_generated_from_the_schema():
    expected = configuration_reference(load_schema(REPO / "schemas/config.schema.yaml"))
    assert (REPO / "docs/configuration.md").read_text() == expected, "run: uv run python -m karman.schema docs/configuration.md"


def test_every_key_of_the_schema_has_a_description():
    reference = (REPO / "docs/configuration.md").read_text()
    undescribed = [line for line in reference.splitlines() if line.startswith("| `") and line.rstrip().endswith("|  |")]
    assert undescribed == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    targets = [target for target in LINK.findall(page.read_text()) if not re.match(r"[a-z]+:|#", target)]
    missing = [target for target in targets if not (page.parent / target.split("#")[0]).exists()]
    assert missing == []
