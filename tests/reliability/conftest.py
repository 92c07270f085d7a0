"""Helpers of the reliability tests: subprocesses of this interpreter with an isolated KGML_HOME."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def python(code: str, home: Path, **kwargs) -> subprocess.Popen:
    """Start ``python -c code`` from the repository root with ``KGML_HOME=home`` and one torch thread."""
    env = dict(os.environ, KGML_HOME=str(home), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("KGML_RUNS_DIR", None)
    env.pop("KGML_CACHE_DIR", None)
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, text=True, **kwargs)
