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


def test_example_results_open_on_compare_with_the_verdict(tmp_path, monkeypatch):
    from components import runtime
    from kgml_core import demo
    from kgml_core.runs import RunStore

    monkeypatch.setattr(demo, "DEMO_SET", demo.DEMO_SET[:1])
    store = RunStore(tmp_path / "runs")
    (run,) = demo.make_demo("tiny", store=store)
    monkeypatch.setattr(runtime, "run_store", lambda: store)
    runtime.runs_changed()
    try:
        at = app_test().run()
        assert not at.exception
        assert any("Latest results" in s.value for s in at.subheader)
        at.button(key="home_open_examples").click().run()
        assert not at.exception and not at.error
        assert at.title[0].value == "Model comparison"
        assert at.selectbox(key="cmp_run").value == run.id
        bodies = [h.proto.body for h in at.get("html")]
        assert any("state-specific model&#x27;s Rh error" in b for b in bodies), bodies
    finally:
        runtime.runs_changed()
