"""Optional sign-in: who may cancel and delete, and a proxy deployment without its header."""
import pytest

from components import auth
from tests.app.conftest import app_test


def test_without_sign_in_everyone_manages_everything(monkeypatch):
    monkeypatch.delenv("KGML_AUTH", raising=False)
    assert auth.mode() == "" and auth.may_manage("session:x") and auth.may_manage(None)


def test_with_sign_in_only_the_owner_or_an_admin_manages(monkeypatch):
    monkeypatch.setenv("KGML_AUTH", "proxy")
    monkeypatch.setenv("KGML_ADMINS", "Boss@lab.org, ")
    monkeypatch.setattr(auth, "current_user", lambda: "ann@lab.org")
    assert auth.may_manage("ann@lab.org") and not auth.may_manage("bob@lab.org") and not auth.may_manage(None)
    monkeypatch.setattr(auth, "current_user", lambda: "boss@lab.org")
    assert auth.may_manage("bob@lab.org")
    monkeypatch.setattr(auth, "current_user", lambda: None)
    assert not auth.may_manage("bob@lab.org")


def test_unknown_mode_is_refused(monkeypatch):
    monkeypatch.setenv("KGML_AUTH", "magic")
    with pytest.raises(ValueError, match="KGML_AUTH"):
        auth.mode()


def test_proxy_mode_without_the_header_shows_no_page(monkeypatch):
    monkeypatch.setenv("KGML_AUTH", "proxy")
    at = app_test()
    at.run()
    assert not at.exception
    assert any("signed-in user" in e.value for e in at.error) and not at.get("plotly_chart")
