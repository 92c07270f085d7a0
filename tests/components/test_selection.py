"""URL query parameters -> selection: pure parsing, fuzzed."""
from hypothesis import given, settings, strategies as st

from components.selection import MAX_ITEMS, Selection, parse_query, to_query


def test_round_trip():
    sel = Selection(states=["IA", "IL"], counties=["19169", "17019"], sites=["US-Ne1", "VT-0003"])
    parsed, problems = parse_query(to_query(sel))
    assert parsed == sel and problems == []


def test_names_fips_and_bad_values():
    sel, problems = parse_query({"states": "illinois,19,ZZ", "counties": "19169,99999", "sites": "../etc"})
    assert sel.states == ["IL", "IA"]
    assert sel.counties == ["19169"]
    assert sel.sites == []
    assert len(problems) == 3
    assert any("'ZZ'" in p for p in problems) and any("99999" in p for p in problems)


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
