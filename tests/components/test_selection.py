"""URL query parameters -> selection: pure parsing, fuzzed."""
from hypothesis import given, settings, strategies as st

import time

from components.selection import MAX_ITEMS, MAX_VALUE_CHARS, Selection, parse_query, to_query


def test_round_trip():
    sel = Selection(states=["IA", "IL"], counties=["19169", "17019"], sites=["US-Ne1", "VT-0003"])
    parsed, problems = parse_query(to_query(sel))
    assert parsed == sel and problems == []


def test_names_fips_and_bad_values():
    sel, problems = parse_query({"states": "illinois,19,ZZ", "counties": "19169,99999", "sites": "../etc"})
    assert sel.states == ["IL", "IA"]
    assert sel.counties == ["19169"]
    assert sel.sites == []
    assert len(problems) == 1  # one summary for every ignored value
    assert "Ignored 3 value(s)" in problems[0] and "'ZZ'" in problems[0] and "99999" in problems[0]


def test_empty_or_all_bad_states_fall_back_to_default():
    sel, problems = parse_query({"states": "XX"})
    assert sel.states == ["IL", "IA", "IN"] and problems


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["states", "counties", "sites", "other"]),
                       st.one_of(st.text(max_size=60), st.lists(st.text(max_size=20), max_size=5))))
def test_any_query_gives_a_valid_selection(params):
    sel, problems = parse_query(params)
    assert sel.states and all(len(s) == 2 for s in sel.states)
    assert all(len(c) == 5 and c.isdigit() for c in sel.counties)
    assert len(sel.sites) <= MAX_ITEMS
    assert all(isinstance(p, str) for p in problems)


def test_thousands_of_bad_values_give_one_short_message_quickly():
    counties = ",".join(f"[Login](https:e.co){i}" for i in range(4000))
    start = time.perf_counter()
    sel, problems = parse_query({"counties": counties, "sites": "x" * 10_000, "states": "IA"})
    assert time.perf_counter() - start < 2.0
    assert sel.counties == [] and sel.sites == [] and len(problems) == 1
    assert f"{4000 - MAX_ITEMS} more not read" in problems[0] and len(problems[0]) <= 280
    assert "too long sites value" in problems[0]


def test_values_longer_than_the_limit_are_ignored():
    sel, problems = parse_query({"sites": "US-Ne1," + "A" * (MAX_VALUE_CHARS + 1)})
    assert sel.sites == ["US-Ne1"] and len(problems) == 1
