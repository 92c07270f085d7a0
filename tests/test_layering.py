"""The core's layers: the science never imports the app, and a model never imports its trainer's package."""
import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "kgml_core"


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports (absolute names; relative imports resolved against ``kgml_core``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            package = ".".join(path.relative_to(CORE.parent).with_suffix("").parts[:-node.level or None])
            names.add(f"{package}.{node.module}" if node.level else node.module or "")
    return names


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(CORE)))
def test_the_core_does_not_import_streamlit(path):
    assert not {m for m in _imported_modules(path) if m.split(".")[0] in ("streamlit", "components", "pages")}


@pytest.mark.parametrize("path", sorted((CORE / "models").glob("*.py")), ids=lambda p: p.name)
def test_a_model_does_not_import_the_training_package(path):
    assert not {m for m in _imported_modules(path) if m.startswith("kgml_core.training")}
