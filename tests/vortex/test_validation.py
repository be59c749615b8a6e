"""The solver against the literature: each reference case runs for real, through the workflow's
validate_flow_solver job (`flow.validate`; about 80 s on 2 cores, all four), so these are workflow-tier tests.

The published values are pinned here, not only in karman.vortex.validation, so that a
change to the module's reference intervals cannot loosen what the solver is held to.
"""

import json

import pytest
from conftest import small_config, snakemake, write_config

from karman.vortex.validation import CASES

# Published 2D values (case, quantity) -> (low, high): Park, Kwon & Choi 1998 and Qu et al.
# 2013 for the unconfined cylinder (St 0.165 at Re 100 and 0.197 at Re 200, within 5 %;
# mean c_D 1.33–1.35 at Re 100, within 10 % of 1.34); Henderson 1997 and Jiang & Cheng 2017
# at Re 1000 (St 0.237–0.238, within 5 %; mean c_D 1.51, within 10 %); Schäfer & Turek 1996,
# case 2D-2.
PUBLISHED = {
    ("unconfined-re100", "strouhal"): (0.165 * 0.95, 0.165 * 1.05),
    ("unconfined-re100", "drag_coefficient"): (1.34 * 0.9, 1.34 * 1.1),
    ("unconfined-re200", "strouhal"): (0.197 * 0.95, 0.197 * 1.05),
    ("unconfined-re1000", "strouhal"): (0.2375 * 0.95, 0.2375 * 1.05),
    ("unconfined-re1000", "drag_coefficient"): (1.51 * 0.9, 1.51 * 1.1),
    ("schafer-turek-2d2", "strouhal"): (0.295, 0.305),
    ("schafer-turek-2d2", "max_drag_coefficient"): (3.22, 3.24),
    ("schafer-turek-2d2", "max_lift_coefficient"): (0.99, 1.01),
}


@pytest.fixture(scope="module")
def solver_validation(tmp_path_factory):
    """The rows of results/flow/validation.json by (case, quantity), as `snakemake --cores 2` writes it."""
    workdir = tmp_path_factory.mktemp("validation")
    write_config(workdir, small_config("ridge"))
    snakemake(workdir, "--cores", "2", "results/flow/validation.json")
    return {(row["case"], row["quantity"]): row for row in json.loads((workdir / "results/flow/validation.json").read_text())["cases"]}


def within(row, case, quantity, tolerance=0.0):
    low, high = PUBLISHED[(case, quantity)]
    return low * (1 - tolerance) <= row["value"] <= high * (1 + tolerance)


def test_the_module_compares_against_the_published_values():
    references = {(name, ref.quantity): (ref.low, ref.high) for name, case in CASES.items() for ref in case.references}
    assert references.keys() == PUBLISHED.keys()
    for key, (low, high) in PUBLISHED.items():
        assert references[key] == (pytest.approx(low), pytest.approx(high)), key


@pytest.mark.parametrize("case", ["unconfined-re100", "unconfined-re200", "unconfined-re1000"])
def test_strouhal_number_of_the_unconfined_wake_is_within_5_percent_of_published_2d_values(solver_validation, case):
    row = solver_validation[(case, "strouhal")]
    assert row["passed"] and within(row, case, "strouhal"), row


@pytest.mark.parametrize("case", ["unconfined-re100", "unconfined-re1000"])
def test_mean_drag_is_within_10_percent_of_published_2d_values(solver_validation, case):
    row = solver_validation[(case, "drag_coefficient")]
    assert row["passed"] and within(row, case, "drag_coefficient"), row


def test_mean_drag_at_re_100_is_within_5_percent_with_the_interpolated_wall(solver_validation):
    assert solver_validation[("unconfined-re100", "drag_coefficient")]["value"] == pytest.approx(1.34, rel=0.05)  # 3 % (the staircase: 8 %)


def test_schafer_turek_2d2_strouhal_and_drag_within_reference_intervals_and_lift_within_3_percent(solver_validation):
    """At D = 40 cells the lift converges onto its interval from below (−2.7 %; inside at D = 60)."""
    for quantity in ("strouhal", "max_drag_coefficient"):
        assert within(solver_validation[("schafer-turek-2d2", quantity)], "schafer-turek-2d2", quantity), quantity
    assert within(solver_validation[("schafer-turek-2d2", "max_lift_coefficient")], "schafer-turek-2d2", "max_lift_coefficient", tolerance=0.03)


def test_every_reference_of_every_case_has_a_row(solver_validation):
    assert set(PUBLISHED) == set(solver_validation)
