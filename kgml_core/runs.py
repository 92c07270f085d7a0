"""The run store: one directory per training run, and an index the app can query.

Layout under the store root (default :func:`kgml_core.settings.runs_dir`)::

    index.json              run_id -> summary (name, kind, status, created, ...)
    .index.lock             fcntl lock serialising index updates
    <run_id>/config.json    the configuration the run was started with (incl. seed)
    <run_id>/status.json    status, pid, host, heartbeat, created, finished, seconds
    <run_id>/metrics.json   metrics (written by :meth:`Run.save_metrics`)
    <run_id>/NAME.nc        datasets as NetCDF (:meth:`Run.save_dataset`; ``predictions.nc`` for every experiment)
    <run_id>/weights/*.pt   torch state dicts, loaded with ``weights_only=True``
    <run_id>/log.txt        human-readable log

Every file is written atomically (a temporary file then :func:`os.replace`) and
a new run directory is built under a temporary name and renamed into place, so
a reader never sees half a run. Several processes may create and finish runs at
once: index updates take an exclusive file lock and replace the index
atomically. A run whose process died while ``running`` is reported as
``interrupted`` by :meth:`RunStore.list` (its pid is gone on this host, or its
heartbeat is older than ``stale_after`` seconds).
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd
import xarray as xr

from kgml_core import settings
from kgml_core.atomic import file_lock, pid_alive, read_json, write_atomic, write_json_atomic

STATUSES = ("running", "finished", "failed", "cancelled", "interrupted")
_RUN_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
INDEX_COLUMNS = ["run_id", "name", "kind", "status", "created", "seconds", "states",
                 "headline_name", "headline"]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


def _headline(metrics: dict) -> tuple[str | None, float | None]:
    """A run's headline metric: ``metrics["headline"] = {"name": str, "value": float}``."""
    head = metrics.get("headline") if isinstance(metrics, dict) else None
    if isinstance(head, dict) and "name" in head and "value" in head:
        return str(head["name"]), float(head["value"])
    return None, None


class RunBusy(ValueError):
    """The run is still running: cancel its job before deleting it."""


class Run:
    """One run directory. Create it with :meth:`RunStore.create`; open it with :meth:`RunStore.get`."""

    def __init__(self, store: "RunStore", run_id: str):
        self.store = store
        self.id = run_id
        self.path = store.root / run_id
        if not self.path.is_dir():
            raise KeyError(f"run '{run_id}' not found in {store.root}")

    def __repr__(self) -> str:
        return f"Run({self.id!r}, status={self.status!r})"

    @property
    def config(self) -> dict:
        """The configuration the run was created with."""
        return read_json(self.path / "config.json", {})

    @property
    def name(self) -> str:
        return self._status().get("name") or self.id

    @property
    def kind(self) -> str:
        return self._status().get("kind", "")

    @property
    def owner(self) -> str | None:
        """Who started the run (recorded by the job queue; None for runs made outside it)."""
        return self._status().get("owner")

    @property
    def status(self) -> str:
        """``running``, ``finished``, ``failed``, ``cancelled`` or ``interrupted``."""
        return self.store._effective_status(self._status())

    def _status(self) -> dict:
        return read_json(self.path / "status.json", {})

    def _update_status(self, **changes: Any) -> dict:
        state = self._status()
        state.update(changes)
        write_json_atomic(self.path / "status.json", state)
        return state

    def heartbeat(self) -> None:
        """Record that the run's process is alive (called by trainers and :meth:`log`)."""
        self._update_status(heartbeat=time.time())

    def log(self, msg: str) -> None:
        """Append a time-stamped line to ``log.txt`` and beat the heart."""
        with open(self.path / "log.txt", "a") as fh:
            fh.write(f"{_iso(time.time())} {msg}\n")
        self.heartbeat()

    def read_log(self) -> str:
        """The whole log text ('' when nothing was logged)."""
        path = self.path / "log.txt"
        return path.read_text() if path.exists() else ""

    def save_metrics(self, metrics: dict) -> None:
        """Write ``metrics.json`` and put its headline metric in the index."""
        write_json_atomic(self.path / "metrics.json", metrics)
        name, value = _headline(metrics)
        self.store._update_index(self.id, headline_name=name, headline=value)
        self.heartbeat()

    def metrics(self) -> dict:
        """The saved metrics ({} when none were saved)."""
        return read_json(self.path / "metrics.json", {})

    def _file(self, name: str, suffix: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise ValueError(f"file name '{name}' must use letters, digits, '_' and '-'")
        return self.path / f"{name}{suffix}"

    def _existing(self, path: Path, what: str) -> Path:
        if not path.exists():
            raise FileNotFoundError(f"run '{self.id}' has no {what}")
        return path

    def save_json(self, name: str, data: Any) -> None:
        """Write an extra JSON file ``NAME.json`` (normalizer, region table, ...)."""
        write_json_atomic(self._file(name, ".json"), data)

    def load_json(self, name: str) -> Any:
        """Read ``NAME.json`` written by :meth:`save_json`."""
        return read_json(self._existing(self._file(name, ".json"), f"file {name}.json"))

    def save_dataset(self, name: str, ds: xr.Dataset) -> None:
        """Write ``NAME.nc`` (NetCDF) atomically."""
        write_atomic(self._file(name, ".nc"), ds.to_netcdf)

    def dataset(self, name: str) -> xr.Dataset:
        """The saved ``NAME.nc``, loaded into memory (FileNotFoundError naming the run when absent)."""
        return xr.load_dataset(self._existing(self._file(name, ".nc"), f"{name} ({name}.nc)"))

    def has_dataset(self, name: str) -> bool:
        """Whether ``NAME.nc`` was saved."""
        return self._file(name, ".nc").exists()

    def save_predictions(self, ds: xr.Dataset) -> None:
        """Write ``predictions.nc`` (NetCDF) atomically."""
        self.save_dataset("predictions", ds)

    def predictions(self) -> xr.Dataset:
        """The saved predictions, loaded into memory."""
        return self.dataset("predictions")

    def _weights_path(self, name: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
            raise ValueError(f"weights name '{name}' must use letters, digits, '_', '-', '.'")
        return self.path / "weights" / f"{name}.pt"

    def save_weights(self, name: str, state_dict: dict) -> None:
        """Save a torch state dict (tensors, plain numbers, strings) as ``weights/NAME.pt``."""
        import torch

        path = self._weights_path(name)
        path.parent.mkdir(exist_ok=True)
        write_atomic(path, lambda tmp: torch.save(state_dict, tmp))

    def load_weights(self, name: str) -> dict:
        """Load ``weights/NAME.pt`` with ``torch.load(..., weights_only=True)`` onto the CPU."""
        import torch

        path = self._existing(self._weights_path(name), f"weights '{name}'")
        return torch.load(path, map_location="cpu", weights_only=True)

    def weight_names(self) -> list[str]:
        """Names of the saved state dicts."""
        folder = self.path / "weights"
        return sorted(p.stem for p in folder.glob("*.pt")) if folder.is_dir() else []

    def finish(self, status: str = "finished") -> None:
        """Mark the run ``finished``, ``failed`` or ``cancelled`` and record its duration."""
        if status not in ("finished", "failed", "cancelled"):
            raise ValueError(f"finish status '{status}' must be finished, failed or cancelled")
        state = self._status()
        end = time.time()
        seconds = end - float(state.get("created_ts", end))
        self._update_status(status=status, finished=_iso(end), seconds=seconds, heartbeat=end)
        self.store._update_index(self.id, status=status, seconds=seconds)

    @contextlib.contextmanager
    def recording(self) -> Iterator["Run"]:
        """Run a computation into this run and record how it ended.

        The run is marked ``finished`` when the block completes; ``cancelled``
        when it raises :class:`~kgml_core.progress.Cancelled` (which is not
        re-raised: a cancelled run is a normal outcome) or KeyboardInterrupt;
        ``failed`` on any other error, which is logged and re-raised.
        """
        from kgml_core.progress import Cancelled
        try:
            yield self
        except Cancelled:
            self.log("cancelled")
            self.finish("cancelled")
        except BaseException as err:
            self.log(f"failed: {type(err).__name__}: {err}")
            self.finish("cancelled" if isinstance(err, KeyboardInterrupt) else "failed")
            raise
        else:
            self.finish("finished")


class RunStore:
    """All runs under one root directory (default :func:`kgml_core.settings.runs_dir`).

    Parameters
    ----------
    root : the store directory (created when missing).
    stale_after : seconds without a heartbeat after which a ``running`` run
        counts as ``interrupted`` even if its pid cannot be checked.
    """

    def __init__(self, root: Path | None = None, stale_after: float = 900.0):
        self.root = Path(root) if root is not None else settings.runs_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.stale_after = stale_after
        self._hooks: list[Callable[[Run], None]] = []

    # -- index -------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with file_lock(self.root / ".index.lock"):
            yield

    def _read_index(self) -> dict[str, dict]:
        return read_json(self.root / "index.json", {}) or {}

    def _update_index(self, run_id: str, remove: bool = False, **changes: Any) -> None:
        with self._locked():
            index = self._read_index()
            if remove:
                index.pop(run_id, None)
            else:
                index.setdefault(run_id, {"run_id": run_id}).update(changes)
            write_json_atomic(self.root / "index.json", index)

    def rebuild_index(self) -> None:
        """Rewrite the index from the run directories (repairs a lost or stale index)."""
        with self._locked():
            index = {}
            for path in sorted(self.root.iterdir()):
                if path.is_dir() and _RUN_ID.match(path.name):
                    index[path.name] = self._summary(path)
            write_json_atomic(self.root / "index.json", index)

    def _summary(self, path: Path) -> dict:
        state = read_json(path / "status.json", {})
        config = read_json(path / "config.json", {})
        name, value = _headline(read_json(path / "metrics.json", {}))
        return {"run_id": path.name, "name": state.get("name", path.name),
                "kind": state.get("kind", ""), "status": state.get("status", "running"),
                "created": state.get("created", ""), "seconds": state.get("seconds"),
                "states": _states_of(config), "headline_name": name, "headline": value}

    def _effective_status(self, state: dict) -> str:
        status = state.get("status", "running")
        if status != "running":
            return status
        pid, host = state.get("pid"), state.get("host")
        if host == socket.gethostname() and pid and not pid_alive(int(pid)):
            return "interrupted"
        beat = float(state.get("heartbeat", state.get("created_ts", time.time())))
        return "interrupted" if time.time() - beat > self.stale_after else "running"

    # -- public API ----------------------------------------------------------
    def create(self, kind: str, config: dict, name: str | None = None) -> Run:
        """Create a run directory in status ``running`` holding ``config``.

        The directory is built under a temporary name and renamed into place.
        """
        now = time.time()
        run_id = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y%m%d-%H%M%S") \
            + "-" + secrets.token_hex(3)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".tmp-{run_id}-"))
        state = {"run_id": run_id, "name": name or run_id, "kind": kind, "status": "running",
                 "created": _iso(now), "created_ts": now, "heartbeat": now,
                 "pid": os.getpid(), "host": socket.gethostname(), "seconds": None}
        try:
            write_json_atomic(tmp / "config.json", config)
            write_json_atomic(tmp / "status.json", state)
            (tmp / "log.txt").write_text(f"{_iso(now)} created {kind} run {run_id}\n")
            os.replace(tmp, self.root / run_id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        summary = self._summary(self.root / run_id)
        summary.pop("run_id")
        self._update_index(run_id, **summary)
        run = Run(self, run_id)
        self._created(run)
        return run

    def reopen(self, run_id: str, kind: str) -> Run:
        """Mark the cancelled, failed or interrupted run ``run_id`` of ``kind`` running again, in this process.

        Raises ValueError for a run of another kind, or one that runs or finished.
        """
        run = self.get(run_id)
        if run.kind != kind:
            raise ValueError(f"run '{run_id}' is a {run.kind!r} run, not {kind!r}; cannot resume it")
        if run.status in ("running", "finished"):
            raise ValueError(f"run '{run_id}' is {run.status}; only cancelled, failed or interrupted "
                             f"runs can be resumed")
        run._update_status(status="running", pid=os.getpid(), host=socket.gethostname(), heartbeat=time.time(),
                           finished=None, seconds=None)
        self._update_index(run.id, status="running", seconds=None)
        self._created(run)
        return run

    def observed(self, on_create: Callable[[Run], None]) -> "RunStore":
        """This store, seen through a hook called with every run it creates or reopens."""
        view = RunStore(self.root, stale_after=self.stale_after)
        view._hooks = [*self._hooks, on_create]
        return view

    def _created(self, run: Run) -> None:
        for hook in self._hooks:
            hook(run)

    def get(self, run_id: str) -> Run:
        """The run ``run_id``; KeyError when it does not exist."""
        if not _RUN_ID.match(str(run_id)):
            raise KeyError(f"'{run_id}' is not a run id (expected YYYYMMDD-HHMMSS-xxxxxx)")
        return Run(self, run_id)

    def list(self) -> pd.DataFrame:
        """One row per run, newest first, with columns :data:`INDEX_COLUMNS`.

        ``status`` is ``interrupted`` for a ``running`` run whose process is gone.
        """
        index = self._read_index()
        rows = []
        for run_id, row in index.items():
            row = {c: row.get(c) for c in INDEX_COLUMNS}
            if row["status"] == "running":
                row["status"] = self._effective_status(
                    read_json(self.root / run_id / "status.json", {"status": "interrupted"}))
            rows.append(row)
        frame = pd.DataFrame(rows, columns=INDEX_COLUMNS)
        return frame.sort_values("created", ascending=False, ignore_index=True)

    def rename(self, run_id: str, name: str) -> None:
        """Give run ``run_id`` the display name ``name``."""
        if not name or not name.strip():
            raise ValueError("a run name must not be empty")
        run = self.get(run_id)
        run._update_status(name=name.strip())
        self._update_index(run_id, name=name.strip())

    def set_owner(self, run_id: str, owner: str) -> None:
        """Record who started run ``run_id``."""
        self.get(run_id)._update_status(owner=owner)

    def delete(self, run_id: str) -> None:
        """Remove run ``run_id`` and its index entry.

        Raises KeyError when it no longer exists (someone else deleted it) and
        :class:`RunBusy` while it is running (its job still writes into it).
        """
        run = self.get(run_id)
        if run.status == "running":
            raise RunBusy(f"run '{run_id}' is still running: cancel its job first, then delete it")
        trash = self.root / f".trash-{run_id}-{secrets.token_hex(2)}"
        os.replace(run.path, trash)
        self._update_index(run_id, remove=True)
        shutil.rmtree(trash, ignore_errors=True)


def _states_of(config: dict) -> str:
    states = config.get("states") if isinstance(config, dict) else None
    return " ".join(str(s) for s in states) if isinstance(states, (list, tuple)) else str(states or "")
