from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch):
    # page files declared in app.py are resolved relative to the working directory
    monkeypatch.chdir(REPO)


def app_test(timeout: float = 90) -> AppTest:
    """An AppTest of the dashboard's entry point."""
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=timeout)
