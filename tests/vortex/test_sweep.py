"""Sweeps of Reynolds numbers: ranges expanded, store names stable and sorted, bad sweeps refused."""

import pytest

from karman.vortex.sweep import SHEDDING_ONSET, SweepError, reynolds_values, store_name


def test_a_list_is_sorted_and_a_range_expanded_with_both_ends():
    assert reynolds_values([600, 300, 1200, 900]) == [300, 600, 900, 1200]
    linear = reynolds_values({"from": 100, "to": 1200, "count": 16})
    assert len(linear) == 16 and linear[0] == 100 and linear[-1] == 1200 and linear[1] == pytest.approx(173.33)
    log = reynolds_values({"from": 100, "to": 1600, "count": 5, "spacing": "log"})
    assert log == [100, 200, 400, 800, 1600]


def test_store_names_sort_by_reynolds_number_for_non_integer_values_too():
    values = reynolds_values({"from": 100, "to": 1200, "count": 16}) + [99999, 50.5]
    names = [store_name(value) for value in values]
    assert sorted(names) == [store_name(value) for value in sorted(values)]
    assert store_name(300) == "re00300" and store_name(173.333333) == "re00173.33" and store_name(50.5) == "re00050.5"


def test_names_are_stable_when_a_reynolds_number_joins_the_sweep():
    before = {store_name(value) for value in reynolds_values([100, 300, 1200])}
    after = {store_name(value) for value in reynolds_values([100, 300, 450.5, 1200])}
    assert after - before == {"re00450.5"} and before < after


@pytest.mark.parametrize("setting, message", [
    ({"from": 100, "to": 1200, "count": 1}, "a range needs from < to and a count of at least 2"),
    ({"from": 1200, "to": 100, "count": 4}, "a range needs from < to"),
    ({"from": 300, "to": 300, "count": 4}, "a range needs from < to"),
    ([300], "at least two different Reynolds numbers"),
    ([300, 300.001], "Re 300 is given twice"),  # the same Re once rounded to 0.01
    ([30, 300], f"Re 30 is below the onset of vortex shedding; every Reynolds number must be at least {SHEDDING_ONSET}"),
    ({"from": 10, "to": 70, "count": 4}, "Re 10, 30 are below the onset"),
])
def test_bad_sweeps_are_refused_saying_what_is_allowed(setting, message):
    with pytest.raises(SweepError, match=message):
        reynolds_values(setting)
