"""AppTest: the data page lists the embedded world and reports bad folders/files clearly."""
from tests.app.conftest import app_test


def _open():
    at = app_test()
    at.run()
    return at.switch_page("pages/data.py").run()


def test_data_page_lists_the_embedded_world():
    at = _open()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert table.iloc[0]["name"] == "embedded world"


def test_missing_folder_is_a_short_error():
    at = _open()
    at.text_input(key="data_folder").set_value("/no/such/folder").run()
    at.button(key="data_folder_btn").click().run()
    assert not at.exception
    assert "no such file or folder" in at.error[0].value


def test_unreadable_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_text("foo;bar\n1;2\n")
    at = _open()
    at.text_input(key="data_folder").set_value(str(bad)).run()
    at.button(key="data_folder_btn").click().run()
    assert not at.exception
    assert "broken.csv" in at.error[0].value and "Could not load" in at.error[0].value
