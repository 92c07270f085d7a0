"""A queue of long computations (training experiments) run in background threads.

The dashboard submits jobs here so that pages stay responsive: jobs wait in a
FIFO queue and at most ``max_workers`` run at once (default 1, as one training
job already uses both cores of a small machine). Each job keeps its latest
progress event, a bounded loss history and a :class:`~kgml_core.progress.CancelToken`.
Finished jobs point at their run in the :class:`~kgml_core.runs.RunStore`.

Jobs survive a restart of the server: every job is also a JSON record in
``<store root>/jobs/<job id>.json`` (written atomically at each change of
status and as soon as its run exists). A new :class:`JobQueue` reads them back:
queued jobs of a dead process are queued again, running ones become
``interrupted`` (with their run id), and :meth:`JobQueue.resume` starts an
interrupted job again, from its run's last checkpoint when the experiment's
runner accepts ``resume=<run id>``, else from scratch.

Experiments are looked up in :data:`kgml_core.experiments.EXPERIMENTS`: a job
builds its experiment's configuration from a preset and overrides (checked at
submission) and runs :meth:`~kgml_core.experiments.base.Experiment.execute`,
with ``resume=`` when the experiment is resumable.

A job whose experiment names a Dask scheduler (its ``scheduler`` setting, or
``auto`` with ``KGML_DASK_SCHEDULER`` set) is not run in this process: the
worker thread hands the whole experiment to the cluster as one task and
follows it (:mod:`kgml_core.distributed.remote`): the worker writes the run
into the same store, its progress events come back through a file under
``jobs/remote/<job id>/``, and cancelling creates a file there that stops it.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kgml_core.distributed import remote
from kgml_core.experiments import EXPERIMENTS, get
from kgml_core.progress import CancelToken, Cancelled, ProgressEvent, Timeline
from kgml_core.atomic import file_lock, pid_alive, write_json_atomic
from kgml_core.runs import Run, RunStore

log = logging.getLogger(__name__)

HISTORY_LIMIT = 5000
TERMINAL = ("finished", "failed", "cancelled", "interrupted")
# queued jobs allowed at once: on the whole server, and per owner (a signed-in user or a browser session)
MAX_QUEUED = int(os.environ.get("KGML_MAX_QUEUED", "10"))
MAX_QUEUED_PER_OWNER = int(os.environ.get("KGML_MAX_QUEUED_PER_USER", "3"))
JOBS_FOLDER = "jobs"
KEEP_ENDED = 200  # ended job records kept on disk (older ones are pruned at start-up)
_RECORD_FIELDS = ("id", "kind", "name", "overrides", "preset", "status", "submitted", "started",
                  "ended", "run_id", "error", "resume_from", "resumed_by", "pid", "host", "owner", "notes")


class QueueFull(ValueError):
    """Too many queued jobs (on the server, or of one owner): the job was not queued."""


@dataclass
class Job:
    """One submitted computation and where it stands.

    ``status`` is queued, running, finished, failed, cancelled or interrupted
    (its process died while it ran). ``resume_from`` is the run id a resumed
    job continues; ``resumed_by`` the id of the job that resumed this one;
    ``owner`` who submitted it (a user id, or a browser session's id);
    ``notes`` what the run said worth keeping (stages reused from earlier runs).

    ``history`` is an immutable tuple replaced whole at every event, so a reader
    (the live loss chart) always holds a consistent snapshot while training appends.
    """

    id: str
    kind: str
    name: str
    overrides: dict[str, Any]
    preset: str
    status: str = "queued"
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    run_id: str | None = None
    error: str | None = None
    resume_from: str | None = None
    resumed_by: str | None = None
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    owner: str | None = None
    last: ProgressEvent | None = None
    history: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()
    cancel_token: CancelToken = field(default_factory=CancelToken)
    timeline: Timeline = field(default_factory=Timeline)

    @property
    def cancelling(self) -> bool:
        """Cancel was asked for and the job has not stopped yet (it stops at its next check point)."""
        return self.status == "running" and self.cancel_token.cancelled

    @property
    def seconds(self) -> float:
        """Wall time so far (or in all, once ended), s."""
        if self.started is None:
            return 0.0
        return (self.ended or time.time()) - self.started

    @property
    def resumable(self) -> bool:
        """True for an interrupted job nobody has resumed yet."""
        return self.status == "interrupted" and self.resumed_by is None

    def record(self) -> dict[str, Any]:
        """The JSON-able part of the job (what :class:`JobQueue` writes to disk)."""
        return {k: getattr(self, k) for k in _RECORD_FIELDS}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> "Job":
        """A job from :meth:`record` (JSON lists in the overrides become tuples again)."""
        rec = {k: rec[k] for k in _RECORD_FIELDS if k in rec}
        rec["overrides"] = {k: tuple(v) if isinstance(v, list) else v
                            for k, v in (rec.get("overrides") or {}).items()}
        rec["notes"] = tuple(rec.get("notes") or ())
        return cls(**rec)


def build_config(kind: str, preset: str, overrides: dict[str, Any]):
    """The checked configuration of experiment ``kind`` from a preset and overrides.

    Raises ValueError naming an unknown kind, an unknown setting, an unknown
    state, years out of range or a non-finite number, so that a bad setting is
    refused at submission and no run is created for it.
    """
    return get(kind).config(preset, **overrides)


def can_resume(kind: str) -> bool:
    """Whether experiment ``kind`` continues an interrupted run from its checkpoints."""
    return kind in EXPERIMENTS and EXPERIMENTS[kind].resumable


class JobQueue:
    """FIFO job queue with ``max_workers`` worker threads, persisted under the store root.

    Parameters
    ----------
    store : the run store jobs write into (its root also holds ``jobs/``).
    max_workers : worker threads (default ``$KGML_JOB_WORKERS`` or 1).
    restore : read the job records of earlier processes (see the module docstring).
    """

    def __init__(self, store: RunStore | None = None, max_workers: int | None = None,
                 restore: bool = True):
        self.store = store or RunStore()
        self.max_workers = max_workers or int(os.environ.get("KGML_JOB_WORKERS", "1"))
        self.folder = self.store.root / JOBS_FOLDER
        self.folder.mkdir(exist_ok=True)
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        if restore:
            self._repair_index()
            self._restore()
        self._workers = [threading.Thread(target=self._work, name=f"kgml-job-worker-{i}", daemon=True)
                         for i in range(self.max_workers)]
        for worker in self._workers:
            worker.start()

    # -- persistence ---------------------------------------------------------
    def _path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def _save(self, job: Job, **changes: Any) -> None:
        try:
            write_json_atomic(self._path(job.id), {**job.record(), **changes})
        except OSError:  # a full disk must not kill the worker; the job still runs in memory
            log.exception("could not save job record %s", job.id)

    def _repair_index(self) -> None:
        """Rebuild the run index when a run directory is missing from it (a kill between the two)."""
        index = self.store._read_index()
        on_disk = {p.name for p in self.store.root.iterdir() if p.is_dir() and not p.name.startswith(".")
                   and p.name != JOBS_FOLDER and (p / "status.json").exists()}
        if on_disk - set(index):
            log.warning("run index misses %d run(s): rebuilding it", len(on_disk - set(index)))
            self.store.rebuild_index()

    def _read_records(self) -> list[dict]:
        records = []
        for path in self.folder.glob("job-*.json"):
            try:
                rec = json.loads(path.read_text())
            except (OSError, ValueError) as err:
                log.warning("ignoring unreadable job record %s (%s)", path.name, err)
                continue
            if isinstance(rec, dict) and rec.get("id") == path.stem:
                records.append(rec)
        return sorted(records, key=lambda r: r.get("submitted", 0))

    def _restore(self) -> None:
        """Take over the jobs of dead processes: re-queue queued ones, mark running ones interrupted."""
        with file_lock(self.folder / ".lock"):
            records = self._read_records()
            ended = [r.get("id") for r in records if r.get("status") in TERMINAL]
            pruned = set(ended[:-KEEP_ENDED])
            for job_id in pruned:
                self._path(str(job_id)).unlink(missing_ok=True)
            for rec in records:
                if rec.get("id") in pruned:
                    continue
                try:
                    job = Job.from_record(rec)
                except (TypeError, KeyError) as err:
                    log.warning("ignoring malformed job record %s (%s)", rec.get("id"), err)
                    continue
                if job.status not in TERMINAL and pid_alive(job.pid, job.host):
                    continue  # another live server owns it
                self._take_over(job)

    def _take_over(self, job: Job) -> None:
        if job.status == "running":
            job.status, job.ended = self._status_after_death(job), job.ended or time.time()
        if job.status not in TERMINAL:
            job.pid, job.host = os.getpid(), socket.gethostname()
        self._jobs[job.id] = job
        if job.status == "queued":
            self._queue.put(job.id)
            log.info("re-queued %s from an earlier server: %s", job.id, job.name)
        self._save(job)

    def _status_after_death(self, job: Job) -> str:
        """``interrupted``, unless the run itself got to the end before the process died."""
        if job.run_id:
            try:
                status = self.store.get(job.run_id).status
            except KeyError:
                return "interrupted"
            if status in ("finished", "failed", "cancelled"):
                return status
        return "interrupted"

    # -- public API ----------------------------------------------------------
    def submit(self, kind: str, preset: str = "quick", overrides: dict[str, Any] | None = None,
               name: str | None = None, resume_from: str | None = None, owner: str | None = None) -> Job:
        """Queue experiment ``kind``; the config is built (and checked) now, run later.

        ``resume_from`` is the id of an interrupted run to continue (experiments
        that cannot resume start from scratch; see :func:`can_resume`). ``owner``
        is recorded with the job (and its run). Raises :class:`QueueFull` when
        :data:`MAX_QUEUED` jobs wait already, or ``owner`` has
        :data:`MAX_QUEUED_PER_OWNER` jobs waiting or running.
        """
        overrides = dict(overrides or {})
        build_config(kind, preset, overrides)  # fail fast on bad settings
        json.dumps(overrides, default=list)  # the record must be JSON (raises TypeError otherwise)
        with self._lock:
            self._check_caps(owner)
            job_id = f"job-{int(time.time())}-{next(self._ids)}-{secrets.token_hex(2)}"
            job = Job(job_id, kind, name or f"{kind} ({preset})", overrides, preset,
                      resume_from=resume_from if can_resume(kind) else None, owner=owner)
            self._jobs[job_id] = job
        self._save(job)
        self._queue.put(job_id)
        log.info("queued %s: %s", job_id, job.name)
        return job

    def _check_caps(self, owner: str | None) -> None:
        """Raise :class:`QueueFull` when the server's or ``owner``'s share of the queue is used up (lock held)."""
        waiting = [j for j in self._jobs.values() if j.status == "queued"]
        if len(waiting) >= MAX_QUEUED:
            raise QueueFull(f"{len(waiting)} jobs are already waiting on this server (at most {MAX_QUEUED}): "
                            "try again when some have run")
        if owner is not None:
            mine = [j for j in self._jobs.values() if j.owner == owner and j.status in ("queued", "running")]
            if len(mine) >= MAX_QUEUED_PER_OWNER:
                raise QueueFull(f"you already have {len(mine)} jobs waiting or running (at most "
                                f"{MAX_QUEUED_PER_OWNER} each): cancel one or wait for it to end")

    def resume(self, job_id: str, owner: str | None = None) -> Job:
        """Start interrupted job ``job_id`` again as a new job (from its run's checkpoints if possible).

        The new job belongs to ``owner`` (default: the interrupted job's owner).

        Raises ValueError when the job is not interrupted or was already resumed.
        """
        old = self.get(job_id)
        if not old.resumable:
            raise ValueError(f"job {job_id} is {old.status}"
                             + (f" and was resumed by {old.resumed_by}" if old.resumed_by else "")
                             + ": only an interrupted job can be resumed")
        new = self.submit(old.kind, old.preset, old.overrides, name=old.name, resume_from=old.run_id,
                          owner=owner if owner is not None else old.owner)
        old.resumed_by = new.id
        self._save(old)
        return new

    def jobs(self) -> list[Job]:
        """All known jobs (this process's and those taken over), newest first."""
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
            self._save(job)

    def position(self, job_id: str) -> int:
        """How many jobs must end before ``job_id`` starts: queued ones submitted earlier, plus the running
        ones when they hold every worker (0 when it runs or ended)."""
        job = self.get(job_id)
        if job.status != "queued":
            return 0
        jobs = self.jobs()
        earlier = sum(1 for j in jobs if j.status == "queued" and j.submitted < job.submitted)
        running = sum(1 for j in jobs if j.status == "running")
        return earlier + (running if running >= self.max_workers else 0)

    def wait(self, job_id: str, timeout_s: float = 600) -> Job:
        """Block until the job ends (for tests and scripts)."""
        deadline = time.time() + timeout_s
        while self.get(job_id).status not in TERMINAL:
            if time.time() > deadline:
                raise TimeoutError(f"{job_id} still {self.get(job_id).status} after {timeout_s} s")
            time.sleep(0.1)
        return self.get(job_id)

    # -- workers -------------------------------------------------------------
    def _progress(self, job: Job) -> Callable[[ProgressEvent], None]:
        def record(event: ProgressEvent) -> None:
            if event.note:
                job.notes = (*job.notes, event.message)     # e.g. "pretraining reused from run X"
                return
            job.last = event
            job.timeline.update(event, time.time())
            if event.losses:
                point = {"t": time.time() - (job.started or time.time()),
                         "stage": event.stage, "epoch": event.epoch, **event.losses}
                # publish a new tuple: readers never see a list that grows under them
                job.history = (*job.history[-(HISTORY_LIMIT - 1):], point)
        return record

    def _work(self) -> None:
        while True:
            job = self.get(self._queue.get())
            if job.status != "queued":  # cancelled while it waited
                continue
            self._run(job)

    def _created(self, job: Job) -> Callable[[Run], None]:
        def created(run: Run) -> None:
            if job.run_id is None:
                if job.owner:
                    self.store.set_owner(run.id, job.owner)
                self._save(job, run_id=run.id)  # on disk before readers of the job see it
                job.run_id = run.id
        return created

    def _run(self, job: Job) -> None:
        job.status, job.started = "running", time.time()
        self._save(job)
        job.last = ProgressEvent("preparing", 0, 0, 0, 0, message="simulating the world and preparing the data")
        try:
            experiment = get(job.kind)
            config = experiment.config(job.preset, **job.overrides)
            job.timeline = Timeline(experiment.stage_plan(config))
            address = remote.job_scheduler(config)
            if address:            # the whole job runs on the Dask cluster, into the same run store
                job.run_id = remote.run_on_cluster(address, job, config, self.store, self.folder,
                                                   self._progress(job), self._created(job))
            else:
                job.run_id = experiment.execute(config, self.store.observed(self._created(job)), self._progress(job),
                                                job.cancel_token, name=job.name,
                                                resume=job.resume_from if experiment.resumable else None).id
            job.status = "cancelled" if job.cancel_token.cancelled else "finished"
        except Cancelled:
            job.status = "cancelled"
        except Exception as err:  # a failed job must not kill the worker
            log.exception("job %s failed", job.id)
            job.status, job.error = "failed", f"{type(err).__name__}: {err}"
        finally:
            job.ended = time.time()
            self._save(job)
