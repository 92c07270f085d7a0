"""AppTest: the data page lists the embedded world, reports bad files clearly, reads no server file outside its roots."""
import os

import pytest

from tests.app.conftest import app_test


def _open():
    at = app_test()
    at.run()
    return at.switch_page("pages/data.py").run()


def _load(at, typed: str):
    at.text_input(key="data_folder").set_value(typed).run()
    at.button(key="data_folder_btn").click().run()
    assert not at.exception
    return at


@pytest.fixture()
def root(tmp_path, monkeypatch):
    """One shared data root holding a broken CSV, a FIFO and a symlink to /etc/passwd; a secret beside it."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "broken.csv").write_text("foo;bar\n1;2\n")
    os.mkfifo(shared / "pipe.csv")
    (shared / "passwd.csv").symlink_to("/etc/passwd")
    (tmp_path / "secret.csv").write_text("TIMESTAMP,NEE\n20010101,1\n")
    monkeypatch.setenv("KGML_DATA_ROOTS", str(shared))
    return shared


def test_data_page_lists_the_embedded_world():
    at = _open()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert table.iloc[0]["name"] == "embedded world"


def test_server_loading_is_off_by_default(monkeypatch):
    monkeypatch.delenv("KGML_DATA_ROOTS", raising=False)
    at = _open()
    assert not at.exception and not at.text_input and "off on this server" in " ".join(c.value for c in at.caption)


def test_missing_file_inside_the_root_is_a_short_error(root):
    at = _load(_open(), str(root / "nothing.csv"))
    assert "no such file or folder in the shared folders" in at.error[0].value


def test_unreadable_file_names_the_file(root):
    at = _load(_open(), str(root / "broken.csv"))
    assert "broken.csv" in at.error[0].value and "Could not load" in at.error[0].value
    assert str(root) not in at.error[0].value


@pytest.mark.parametrize("probe", ["/etc/passwd", "/proc/self/environ", "/dev/zero", "/etc", "/no/such/file",
                                   "../secret.csv", "{root}/../secret.csv", "{root}/passwd.csv"])
def test_paths_outside_the_root_are_refused_alike(root, probe):
    at = _load(_open(), probe.format(root=root))
    message = at.error[0].value
    assert "inside the folders this server shares" in message
    assert "root:" not in message and "Errno" not in message and "exist" not in message
    assert str(root) not in message


def test_a_pipe_inside_the_root_is_not_read(root):
    at = _load(_open(), "pipe.csv")  # relative to the root; opening it would block the page
    assert "not a regular file" in at.error[0].value
