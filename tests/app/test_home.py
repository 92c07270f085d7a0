"""AppTest: the app and its home page render without an exception."""
from tests.app.conftest import app_test


def test_home_renders_default_selection():
    at = app_test().run()
    assert not at.exception
    assert at.title[0].value.startswith("Knowledge-guided ML")
    assert [m.value for m in at.metric][:2] == ["3", "293"]


def test_link_with_states_and_bad_values():
    at = app_test()
    at.query_params["states"] = "IA,XX"
    at.query_params["counties"] = "19169,00000"
    at.run()
    assert not at.exception
    assert at.metric[0].value == "1"
    assert at.metric[3].value == "1"
    assert at.query_params["states"] in ("IA", ["IA"])
    assert at.query_params["counties"] in ("19169", ["19169"])
