"""AppTests of the map, train and comparison pages, including a tiny training job end to end."""
from components import runtime
from tests.app.conftest import app_test


def _page(path: str):
    at = app_test(timeout=180).run()
    return at.switch_page(path).run()


def test_map_page_changes_states():
    at = _page("pages/map.py")
    assert not at.exception
    states = at.multiselect(key="map_states")
    assert states.value == ["IL", "IA", "IN"]
    states.set_value(["IA", "NE"]).run()
    assert not at.exception
    assert at.session_state["selection"].states == ["IA", "NE"]
    assert at.metric[0].value == str(99 + 93)  # counties of Iowa and Nebraska


def test_compare_page_without_runs_points_to_training():
    at = _page("pages/compare.py")
    assert not at.exception
    assert any("No finished state-vs-global run" in i.value for i in at.info)


def test_tiny_job_from_train_page_appears_on_compare_page():
    at = _page("pages/train.py")
    assert not at.exception
    # widgets in a form apply on submit: set them all, then press "Start training"
    at.selectbox(key="preset_state_vs_global").set_value("tiny")
    at.multiselect(key="states_state_vs_global").set_value(["IA"])
    at.text_input(key="name_state_vs_global").set_value("apptest tiny IA")
    at.button[0].click().run()
    assert not at.exception
    queue = runtime.job_queue()
    job = next(j for j in queue.jobs() if j.name == "apptest tiny IA")
    job = queue.wait(job.id, timeout_s=600)
    assert job.status == "finished", job.error
    runtime.runs_changed()
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    assert at.selectbox[0].value == job.run_id
    assert len(at.dataframe) >= 1
    table = at.dataframe[0].value
    assert {"global", "state_specific"} <= set(table.columns)
    assert len(at.get("download_button")) == 1  # the stakeholder report
    # the ceiling beside what the state's towers allow
    assert any("achievable from the towers" in c.proto.spec for c in at.get("plotly_chart"))
    # the per-county error map of the held-out counties is drawn (folium inside st_folium)
    assert any("per-county" in h.value for h in at.subheader)
    assert any("Held-out counties (spatially blocked)" in c.value for c in at.caption)
