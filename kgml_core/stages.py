"""Content-addressed reuse of trained stages: what was trained once is not trained again.

A *stage* is one trained model of an experiment (process-world pretraining,
the global model, one region's model, the level-1 model). Its *key* is a hash
of everything its weights depend on: the stage name, the settings that affect
it, a digest of the data it is trained on, the key of the stage it starts from,
the seed and device, and the code version of the models and the trainer
(:func:`code_version`). Two runs that would train the same weights share the
key, so the second loads them (:meth:`StageStore.get`) and says which run
trained them; any change to the settings, the data or the code gives a new key.

The store is a folder (:func:`kgml_core.settings.stage_dir`; one sub-folder per
key with ``weights.pt`` and ``meta.json``) capped in size
(``KGML_STAGE_CACHE_MB``, :func:`kgml_core.settings.stage_cache_bytes`):
after each :meth:`StageStore.put` the least recently used entries go first,
but never an entry that a live run holds a lease on (:meth:`StageStore.lease`;
a lease of a process that died is ignored).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from kgml_core import settings
from kgml_core.atomic import file_lock, pid_alive, read_json, write_json_atomic

# the code that decides what a stage's weights are: the models, the trainer, losses, protocol, sample building
CODE_FOLDERS = ("models", "training")


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the source of the models and the trainer (``kgml_core/models``, ``kgml_core/training``)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for folder in CODE_FOLDERS:
        for path in sorted((root / folder).glob("*.py")):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def array_digest(*arrays: Any) -> str:
    """Hash of arrays' dtypes, shapes and bytes (dicts: their sorted items)."""
    h = hashlib.sha256()

    def feed(a: Any) -> None:
        if isinstance(a, dict):
            for k in sorted(a):
                h.update(str(k).encode())
                feed(a[k])
            return
        arr = np.ascontiguousarray(np.asarray(a))
        if arr.dtype.kind in "OU":
            arr = arr.astype(str).astype("U")
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    for a in arrays:
        feed(a)
    return h.hexdigest()[:16]


def samples_digest(samples) -> str:
    """Hash of a :class:`~kgml_core.training.data.Samples`: inputs, targets, weights and which unit-years."""
    parts = (samples.x, samples.gpp, samples.daily, samples.yield_, samples.residue,
             samples.season, samples.weight, samples.unit, samples.year)
    return array_digest(*parts, samples.warm) if samples.warmup else array_digest(*parts)


def stage_key(stage: str, parts: dict) -> str:
    """The key of ``stage`` trained from ``parts`` (JSON-able settings, digests, parent keys, seed)."""
    text = json.dumps({"stage": stage, "code": code_version(), **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class StageEntry:
    """A stored stage: its key, weights (CPU state dict) and metadata (``run_id``, ``run_name``, ``stage``)."""

    key: str
    weights: dict
    meta: dict

    @property
    def source(self) -> str:
        """``run ID (NAME)`` of the run that trained it."""
        name = self.meta.get("run_name")
        return f"run {self.meta.get('run_id')}" + (f" ({name})" if name else "")


class StageStore:
    """The content-addressed folder of trained stages (see the module docstring).

    Parameters
    ----------
    root : folder (default :func:`kgml_core.settings.stage_dir`).
    max_bytes : size cap (default :func:`kgml_core.settings.stage_cache_bytes`); 0 keeps nothing.
    """

    def __init__(self, root: Path | None = None, max_bytes: int | None = None):
        self.root = Path(root) if root is not None else settings.stage_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = settings.stage_cache_bytes() if max_bytes is None else int(max_bytes)

    # -- entries -------------------------------------------------------------
    def _dir(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError(f"stage key {key!r} must be letters and digits")
        return self.root / key

    def get(self, key: str, holder: str | None = None) -> StageEntry | None:
        """The entry ``key`` (leased to ``holder`` when given), or None when absent or unreadable."""
        import torch

        with self._locked():
            folder = self._dir(key)
            meta = read_json(folder / "meta.json")
            if meta is None or not (folder / "weights.pt").exists():
                return None
            if holder:
                self._lease(folder, holder)
            os.utime(folder / "meta.json")                       # last used
        try:
            weights = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError):
            return None
        return StageEntry(key, weights, meta)

    def put(self, key: str, weights: dict, meta: dict, holder: str | None = None) -> None:
        """Store ``weights`` under ``key`` (kept if another run stored it first), then evict to the cap."""
        import torch

        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=".tmp-"))
        try:
            torch.save(weights, tmp / "weights.pt")
            write_json_atomic(tmp / "meta.json", {**meta, "key": key, "created": time.time()})
            with self._locked():
                folder = self._dir(key)
                if not folder.exists():
                    os.rename(tmp, folder)
                if holder:
                    self._lease(folder, holder)
                self._evict()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def has(self, key: str) -> bool:
        """Whether a complete entry ``key`` exists."""
        folder = self._dir(key)
        return (folder / "meta.json").exists() and (folder / "weights.pt").exists()

    def keys(self) -> list[str]:
        """Keys of the complete entries."""
        return sorted(p.name for p in self.root.iterdir() if (p / "meta.json").exists())

    def size_bytes(self) -> int:
        """Bytes of all entries."""
        return sum(_folder_bytes(self.root / k) for k in self.keys())

    # -- leases and eviction ---------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with file_lock(self.root / ".lock"):
            yield

    @staticmethod
    def _lease(folder: Path, holder: str) -> None:
        write_json_atomic(folder / f"lease-{_safe(holder)}", {"pid": os.getpid(), "host": socket.gethostname()})

    def release(self, holder: str) -> None:
        """Drop every lease of ``holder`` (a run that ended)."""
        with self._locked():
            for lease in self.root.glob(f"*/lease-{_safe(holder)}"):
                lease.unlink(missing_ok=True)

    def leased(self, key: str) -> bool:
        """Whether a live process holds a lease on ``key``."""
        return any(_lease_alive(p) for p in self._dir(key).glob("lease-*"))

    def _evict(self) -> list[str]:
        """Remove least recently used, unleased entries until the store fits ``max_bytes`` (lock held)."""
        entries = [(self.root / k / "meta.json").stat().st_mtime for k in self.keys()]
        by_age = [k for _, k in sorted(zip(entries, self.keys()))]
        total = sum(_folder_bytes(self.root / k) for k in by_age)
        removed = []
        for key in by_age:
            if total <= self.max_bytes:
                break
            if self.leased(key):
                continue
            size = _folder_bytes(self.root / key)
            shutil.rmtree(self.root / key, ignore_errors=True)
            total -= size
            removed.append(key)
        return removed

    def evict(self) -> list[str]:
        """Evict to the size cap now; returns the keys removed."""
        with self._locked():
            return self._evict()


def _safe(holder: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in holder)


def _lease_alive(path: Path) -> bool:
    info = read_json(path, {}) or {}
    if info.get("host") != socket.gethostname():
        return True                        # another host's run: assume it is alive
    pid = int(info.get("pid", 0) or 0)
    return pid > 0 and pid_alive(pid)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*") if p.is_file())


class StageReuse:
    """One run's use of the :class:`StageStore`: look stages up, store new ones, log and record reuse.

    ``reused`` maps a stage name to ``{"run_id", "run_name", "key"}`` of each stage loaded
    from the store; ``note(message)`` (optional) is told every reuse, as is the run's log.
    Use as a context manager (or call :meth:`close`) to drop the run's leases at the end.
    """

    def __init__(self, store: StageStore, run, note=None):
        self.store, self.run, self.note = store, run, note
        self.reused: dict[str, dict] = {}

    @classmethod
    def for_run(cls, run, note=None, store: StageStore | None = None) -> "StageReuse | None":
        """Reuse for ``run``, or None when the store is capped at 0 bytes (reuse off)."""
        store = store if store is not None else StageStore()
        return cls(store, run, note) if store.max_bytes > 0 else None

    def load(self, stage: str, key: str) -> dict | None:
        """The weights stored under ``key`` (said in the run's log), or None."""
        entry = self.store.get(key, holder=self.run.id)
        if entry is None or entry.meta.get("run_id") == self.run.id:
            return None if entry is None else entry.weights
        message = f"{describe(stage)} reused from {entry.source} (stage key {key})"
        self.run.log(message)
        if self.note is not None:
            self.note(message)
        self.reused[stage] = {"run_id": entry.meta.get("run_id"), "run_name": entry.meta.get("run_name"),
                              "key": key}
        return entry.weights

    def save(self, stage: str, key: str, weights: dict) -> None:
        """Store a newly trained stage under ``key``."""
        self.store.put(key, weights, {"stage": stage, "run_id": self.run.id, "run_name": self.run.name},
                       holder=self.run.id)

    def close(self) -> None:
        self.store.release(self.run.id)

    def __enter__(self) -> "StageReuse":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


STAGE_NAMES = {"pretrained": "pretraining", "global": "global model", "no_knowledge": "level-1 model"}


def describe(stage: str) -> str:
    """A stage's name for people: ``pretraining``, ``global model``, ``IA model``, ``region 2 model``..."""
    if stage in STAGE_NAMES:
        return STAGE_NAMES[stage]
    prefix, _, group = stage.partition("_")
    if prefix == "state" and group:
        return f"{group} model"
    if prefix == "region" and group:
        return f"region {group} model"
    return f"{stage} model"
