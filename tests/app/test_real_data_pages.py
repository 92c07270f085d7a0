"""AppTests: the Data page says what a source is for; the Train page offers real data; a real-data run is labelled."""
from components import runtime
from kgml_core import experiments
from tests.app.conftest import app_test
from tests.experiments.test_real_yields import _weather_table, _yields_table


def _page(path: str):
    at = app_test(timeout=180).run()
    return at.switch_page(path).run()


def test_data_page_says_what_a_loaded_source_can_be_used_for(tmp_path, monkeypatch):
    path, _, _ = _weather_table(tmp_path / "weather.csv", years=(2017, 2017))
    monkeypatch.setenv("KGML_DATA_ROOTS", str(tmp_path))
    at = _page("pages/data.py")
    at.text_input(key="data_folder").set_value(str(path)).run()
    at.button(key="data_folder_btn").click().run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert "can be used for" in table.columns
    assert "drives the process model" in table.iloc[-1]["can be used for"]
    assert "simulated world" in table.iloc[0]["can be used for"]


def test_train_page_offers_simulated_world_or_real_data():
    at = _page("pages/train.py")
    assert not at.exception
    assert at.radio(key="train_source").value == "simulated world"
    assert not any(o.startswith("Real data") for o in at.radio(key="train_kind_simulated world").options)
    at.radio(key="train_source").set_value("real data (what is loaded)").run()
    assert not at.exception
    assert at.radio(key="train_kind_real data").value == "real_yields"
    assert len(at.radio(key="train_kind_real data").options) == 1
    assert any("Runs on **real data**" in m.value for m in at.markdown)


def test_real_data_run_is_labelled_on_the_compare_page_and_in_exports(tmp_path):
    wpath, _, table = _weather_table(tmp_path / "weather.csv")
    ypath = _yields_table(tmp_path / "tidy.csv", table)
    exp = experiments.get("real_yields")
    cfg = exp.config("tiny", weather=str(wpath), yields=str(ypath), years=(2017, 2019), test_fraction=0.34, n_boot=20)
    run = exp.execute(cfg, runtime.run_store(), name="apptest real")
    runtime.runs_changed()
    try:
        assert runtime.runs_table().set_index("run_id").loc[run.id, "data"] == "real data"
        at = _page("pages/compare.py")
        at.selectbox(key="cmp_run").set_value(run.id).run()
        assert not at.exception
        assert "[REAL DATA]" in at.selectbox(key="cmp_run").format_func(run.id)
        assert any("REAL DATA" in w.value for w in at.warning)
        scores = at.dataframe[0].value
        assert "County mean yield (baseline)" in set(scores.index.get_level_values("model"))
        assert len(at.get("download_button")) == 2  # the HTML report and the CSV, both marked REAL DATA
    finally:  # the run store is shared by the session's AppTests: leave it as found
        runtime.run_store().delete(run.id)
        runtime.runs_changed()
