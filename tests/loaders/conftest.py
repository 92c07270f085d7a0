"""Real-file fixtures of the loader tests (skipped with a reason when ../shared/data is absent)."""
from __future__ import annotations

from pathlib import Path

import pytest


def need(real_data_dir: Path, relative: str) -> Path:
    path = real_data_dir / relative
    if not path.exists():
        pytest.skip(f"real file {relative} not found under {real_data_dir}")
    return path


@pytest.fixture
def site_list(real_data_dir) -> Path:
    return need(real_data_dir, "sites/fluxnet2015_site_list.csv")
