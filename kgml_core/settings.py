"""Where things live on disk, each set by one environment variable with a working default.

* ``KGML_HOME``: root for the cache and the run store (default ``~/.kgml``).
* ``KGML_CACHE_DIR``: cached simulator worlds and other derived files.
* ``KGML_RUNS_DIR``: the run store.
* ``KGML_DATA_DIR``: real data shipped beside the project (default ``../shared/data``
  relative to the repository root); tests that need it skip when it is absent.
* ``KGML_DASK_SCHEDULER``: address of an existing dask.distributed scheduler.
* ``KGML_DATA_ROOTS``: folders (separated by ``:``) whose files the web app may load from
  the server; unset (the default) turns server-side loading off.
* ``KGML_LOAD_MEMORY_MB``: memory one data load may use (default: half of what is available).
* ``KGML_STAGE_CACHE_MB``: size cap of the store of trained stages reused across runs (default 2048;
  0 keeps none).
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def home_dir() -> Path:
    """Root directory for the cache and runs."""
    return Path(os.environ.get("KGML_HOME", Path.home() / ".kgml")).expanduser()


def cache_dir() -> Path:
    """Directory for cached simulator worlds and derived files (created on demand)."""
    path = Path(os.environ.get("KGML_CACHE_DIR", home_dir() / "cache")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """Directory of the run store (created on demand)."""
    path = Path(os.environ.get("KGML_RUNS_DIR", home_dir() / "runs")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Directory of the real test data (may not exist)."""
    return Path(os.environ.get("KGML_DATA_DIR", REPO_ROOT.parent / "shared" / "data")).expanduser()


def dask_scheduler() -> str | None:
    """Address of an existing dask scheduler, or None for a local cluster."""
    return os.environ.get("KGML_DASK_SCHEDULER") or None


def data_roots() -> list[Path]:
    """Folders the web app may read server files from (symlinks resolved); [] when loading is off."""
    raw = os.environ.get("KGML_DATA_ROOTS", "")
    return [Path(os.path.realpath(Path(part).expanduser())) for part in raw.split(os.pathsep) if part.strip()]


def load_memory_bytes() -> int | None:
    """``KGML_LOAD_MEMORY_MB`` in bytes, or None when unset (then half the available memory)."""
    raw = os.environ.get("KGML_LOAD_MEMORY_MB", "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"KGML_LOAD_MEMORY_MB={raw!r}: expected a number of megabytes") from None
    if not value > 0:
        raise ValueError(f"KGML_LOAD_MEMORY_MB={raw!r}: expected a positive number of megabytes")
    return int(value * 2**20)


def stage_cache_bytes() -> int:
    """``KGML_STAGE_CACHE_MB`` in bytes (default 2048 MB): the cap of :class:`kgml_core.stages.StageStore`."""
    raw = os.environ.get("KGML_STAGE_CACHE_MB", "").strip() or "2048"
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"KGML_STAGE_CACHE_MB={raw!r}: expected a number of megabytes") from None
    if value < 0:
        raise ValueError(f"KGML_STAGE_CACHE_MB={raw!r}: expected zero or a positive number of megabytes")
    return int(value * 2**20)
