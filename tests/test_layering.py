"""The core's layers: the science never imports the app, and a model never imports its trainer's package."""
import ast
from pathlib import Path

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


def _offenders(paths, forbidden) -> dict[str, list[str]]:
    """File (relative to kgml_core) -> the modules it imports that ``forbidden(name)`` refuses."""
    found = {str(p.relative_to(CORE)): sorted(m for m in _imported_modules(p) if forbidden(m)) for p in paths}
    return {path: modules for path, modules in found.items() if modules}


def test_the_core_does_not_import_the_app():
    assert _offenders(CORE.rglob("*.py"), lambda m: m.split(".")[0] in ("streamlit", "components", "pages")) == {}


def test_a_model_does_not_import_the_training_package():
    assert _offenders((CORE / "models").glob("*.py"), lambda m: m.startswith("kgml_core.training")) == {}
