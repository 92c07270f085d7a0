"""A queue of long computations (training experiments) run in background threads.

The dashboard submits jobs here so that pages stay responsive: jobs wait in a
FIFO queue and at most ``max_workers`` run at once (default 1, as one training
job already uses both cores of a small machine). Each job keeps its latest
progress event, a bounded loss history and a :class:`~kgml_core.progress.CancelToken`.
Finished jobs point at their run in the :class:`~kgml_core.runs.RunStore`.

Experiments are looked up in :data:`EXPERIMENTS` (kind -> module and function
names): adding one is a line there. The module must expose ``preset(name,
**overrides)`` returning its config dataclass and a runner
``run(config, store=, progress=, cancel=) -> Run``.
"""
from __future__ import annotations

import importlib
import itertools
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from kgml_core.progress import CancelToken, Cancelled, ProgressEvent
from kgml_core.runs import RunStore

log = logging.getLogger(__name__)

# kind -> (module, runner function)
EXPERIMENTS: dict[str, tuple[str, str]] = {
    "state_vs_global": ("kgml_core.experiments.state_vs_global", "run_state_vs_global"),
    "tamrl": ("kgml_core.experiments.tamrl", "run_tamrl"),
}
HISTORY_LIMIT = 5000
TERMINAL = ("finished", "failed", "cancelled")


@dataclass
class Job:
    """One submitted computation and where it stands."""

    id: str
    kind: str
    name: str
    overrides: dict[str, Any]
    preset: str
    status: str = "queued"  # queued, running, finished, failed, cancelled
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    run_id: str | None = None
    error: str | None = None
    last: ProgressEvent | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    cancel_token: CancelToken = field(default_factory=CancelToken)

    @property
    def seconds(self) -> float:
        """Wall time so far (or in all, once ended), s."""
        if self.started is None:
            return 0.0
        return (self.ended or time.time()) - self.started


def build_config(kind: str, preset: str, overrides: dict[str, Any]):
    """The config dataclass of experiment ``kind`` from a preset and overrides.

    Raises ValueError naming an unknown kind or override.
    """
    if kind not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {kind!r}: expected one of {sorted(EXPERIMENTS)}")
    module = importlib.import_module(EXPERIMENTS[kind][0])
    return module.preset(preset, **overrides)


def available_experiments() -> list[str]:
    """The experiment kinds whose modules import on this installation."""
    kinds = []
    for kind, (module_name, _) in EXPERIMENTS.items():
        try:
            importlib.import_module(module_name)
        except ImportError:
            log.warning("experiment %s unavailable: %s does not import", kind, module_name)
            continue
        kinds.append(kind)
    return kinds


def _runner(kind: str) -> Callable:
    module_name, func_name = EXPERIMENTS[kind]
    return getattr(importlib.import_module(module_name), func_name)


class JobQueue:
    """FIFO job queue with ``max_workers`` worker threads (see module docstring)."""

    def __init__(self, store: RunStore | None = None, max_workers: int | None = None):
        self.store = store or RunStore()
        self.max_workers = max_workers or int(os.environ.get("KGML_JOB_WORKERS", "1"))
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._workers = [threading.Thread(target=self._work, name=f"kgml-job-worker-{i}", daemon=True)
                         for i in range(self.max_workers)]
        for worker in self._workers:
            worker.start()

    def submit(self, kind: str, preset: str = "quick", overrides: dict[str, Any] | None = None,
               name: str | None = None) -> Job:
        """Queue experiment ``kind``; the config is built (and checked) now, run later."""
        overrides = dict(overrides or {})
        build_config(kind, preset, overrides)  # fail fast on bad settings
        with self._lock:
            job_id = f"job-{int(time.time())}-{next(self._ids)}"
            job = Job(job_id, kind, name or f"{kind} ({preset})", overrides, preset)
            self._jobs[job_id] = job
        self._queue.put(job_id)
        log.info("queued %s: %s", job_id, job.name)
        return job

    def jobs(self) -> list[Job]:
        """All jobs of this process, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.submitted, reverse=True)

    def get(self, job_id: str) -> Job:
        with self._lock:
            return self._jobs[job_id]

    def cancel(self, job_id: str) -> None:
        """Stop a running job at its next check point, or drop a queued one."""
        job = self.get(job_id)
        job.cancel_token.cancel()
        if job.status == "queued":
            job.status, job.ended = "cancelled", time.time()

    def position(self, job_id: str) -> int:
        """How many queued jobs are ahead of ``job_id`` (0 when it runs or ended)."""
        job = self.get(job_id)
        if job.status != "queued":
            return 0
        return sum(1 for j in self.jobs() if j.status == "queued" and j.submitted < job.submitted)

    def wait(self, job_id: str, timeout_s: float = 600) -> Job:
        """Block until the job ends (for tests and scripts)."""
        deadline = time.time() + timeout_s
        while self.get(job_id).status not in TERMINAL:
            if time.time() > deadline:
                raise TimeoutError(f"{job_id} still {self.get(job_id).status} after {timeout_s} s")
            time.sleep(0.1)
        return self.get(job_id)

    def _progress(self, job: Job) -> Callable[[ProgressEvent], None]:
        def record(event: ProgressEvent) -> None:
            job.last = event
            if event.losses:
                job.history.append({"t": time.time() - (job.started or time.time()),
                                    "stage": event.stage, "epoch": event.epoch, **event.losses})
                del job.history[:-HISTORY_LIMIT]
        return record

    def _work(self) -> None:
        while True:
            job = self.get(self._queue.get())
            if job.status == "cancelled":
                continue
            self._run(job)

    def _run(self, job: Job) -> None:
        job.status, job.started = "running", time.time()
        try:
            config = build_config(job.kind, job.preset, job.overrides)
            run = _runner(job.kind)(config, store=self.store, progress=self._progress(job),
                                    cancel=job.cancel_token)
            job.run_id = getattr(run, "id", None)
            if job.name and job.run_id:
                self.store.rename(job.run_id, job.name)
            job.status = "cancelled" if job.cancel_token.cancelled else "finished"
        except Cancelled:
            job.status = "cancelled"
        except Exception as err:  # a failed job must not kill the worker
            log.exception("job %s failed", job.id)
            job.status, job.error = "failed", f"{type(err).__name__}: {err}"
        finally:
            job.ended = time.time()
