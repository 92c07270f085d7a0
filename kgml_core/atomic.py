"""Files written whole or not at all, a cross-process lock, and whether a process lives: one copy for the core.

Every writer of the run store, the job records, the stage store and the
simulator's cache goes through :func:`write_atomic` (a temporary file in the
target's folder, then :func:`os.replace`), so a reader never sees half a file
and a crash leaves no partial one.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np


def write_atomic(path: Path, write: Callable[[str], None]) -> None:
    """Create ``path`` whole: ``write(tmp)`` fills a temporary file beside it, which then replaces ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def json_default(obj: Any) -> Any:
    """JSON form of NumPy scalars and arrays, paths, tuples and sets."""
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (Path,)):
        return str(obj)
    if isinstance(obj, (tuple, set)):
        return list(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (:func:`write_atomic`)."""
    def dump(tmp: str) -> None:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=1, default=json_default, allow_nan=True)
    write_atomic(path, dump)


def read_json(path: Path, default: Any = None) -> Any:
    """The JSON in ``path``, or ``default`` when the file does not exist."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        return default


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``path`` (created if missing) for the block.

    Serialises writers across threads and processes on one host.
    """
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def pid_alive(pid: int | None, host: str | None = None) -> bool:
    """Whether process ``pid`` runs (on ``host`` when given: another host's process cannot be checked, False)."""
    if not pid or (host is not None and host != socket.gethostname()):
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
