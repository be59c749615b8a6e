"""The test tiers and workers of tests/conftest.py: which tests share a pytest-xdist worker."""

from types import SimpleNamespace

import pytest

from conftest import REPO, shared_fixture_group


def test_the_tests_of_the_tiny_run_share_one_group_and_every_other_test_its_files():
    report = SimpleNamespace(fixturenames=["tiny_run", "tmp_path"], path=REPO / "tests/test_report.py")
    loader = SimpleNamespace(fixturenames=["tmp_path"], path=REPO / "tests/vortex/test_the_well.py")
    assert shared_fixture_group(report) == "tiny_run"
    assert shared_fixture_group(loader) == "tests/vortex/test_the_well.py"


def test_pytest_xdist_runs_this_test_in_its_files_group(request):
    """A pytest or pytest-xdist upgrade that loses the groups fails here (pytest 9.2 did)."""
    if not hasattr(request.config, "workerinput"):
        pytest.skip("runs on a pytest-xdist worker only (addopts; not with -n 0)")
    assert request.node.nodeid.endswith("@tests/test_tiers.py")
