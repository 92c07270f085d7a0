"""AppTest: the distribution-shift page runs the diagnostic and every view."""
from tests.app.conftest import app_test


def test_shift_page_views():
    at = app_test()
    at.run()
    at.switch_page("pages/shift.py").run()
    assert not at.exception and not at.error
    assert any("Run the diagnostic" in i.value for i in at.info)
    at.toggle(key="sh_run_diag").set_value(True).run(timeout=240)
    assert not at.exception and not at.error
    summary = [m.value for m in at.markdown if "differ most" in m.value]
    assert summary and "MMD²" in summary[0]
    for view in ("Shift matrix", "Response curves", "Error vs distance", "PCA view", "Distributions"):
        at.segmented_control(key="sh_view").set_value(view).run()
        assert not at.exception and not at.error, view
        if view == "Shift matrix":  # tables with words for headers, groups by name
            table = at.dataframe[0].value
            assert "MMD² (0 = same distribution)" in table.columns and "Illinois vs Iowa" in set(table["groups"])
        if view == "Error vs distance":  # without a run: no distance-against-distance plot, a pointer instead
            assert any("Model errors from" in i.value for i in at.info) and not at.get("plotly_chart")
