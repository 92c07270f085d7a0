"""AppTest: the flux-sites page without runs, and with a real site loaded on the Data page."""
import pytest

from tests.app.conftest import app_test


def test_sites_page_without_runs_says_where_to_train():
    at = app_test()
    at.run()
    at.switch_page("pages/sites.py").run()
    assert not at.exception and not at.error
    assert any("Train" in i.value for i in at.info)


def test_real_site_from_data_page_is_shown(real_data_dir, monkeypatch):
    folder = real_data_dir / "fluxnet"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    monkeypatch.setenv("KGML_DATA_ROOTS", str(real_data_dir))  # server-side loading is off by default
    at = app_test()
    at.run()
    at.switch_page("pages/data.py").run()
    at.text_input(key="data_folder").set_value(str(folder)).run()
    at.button(key="data_folder_btn").click().run()
    assert not at.exception and not at.error
    at.switch_page("pages/sites.py").run()
    assert not at.exception and not at.error
    assert "US-Ne1" in list(at.dataframe[0].value.index)
    at.selectbox(key="si_ts_flux").set_value("NEE").run()
    assert not at.exception and not at.error


def test_sites_page_draws_a_tiny_tamrl_run():
    from components import runtime
    from kgml_core.experiments.tamrl import preset, run_tamrl
    run = run_tamrl(preset("tiny", states=("IA",)), store=runtime.run_store())
    runtime.runs_changed()
    at = app_test()
    at.run()
    at.switch_page("pages/sites.py").run()
    assert not at.exception and not at.error
    assert run.id in [s.value for s in at.selectbox]
    headers = [h.value for h in at.subheader]
    assert headers[:4] == ["Scores at held-out sites", "TAM-RL against the baselines, site by site",
                           "Few-shot skill against the length of the support", "Per vegetation type"]
    assert headers[-2:] == ["Upscaled to counties", "Time series at a site"]
