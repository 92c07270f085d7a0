"""Whole jobs on a Dask cluster: the job queue hands an experiment to a worker, which writes into the shared run store.

When a job's experiment names a scheduler address (its ``scheduler`` setting,
or ``auto`` with ``KGML_DASK_SCHEDULER`` set: :func:`job_scheduler`), the queue
submits :func:`run_job` as one Dask task instead of running the experiment in
the server. The worker opens the same run store (its root must be on storage
both machines see) and runs the experiment there; the experiment's own
independent parts (regions, folds, sweep points) go to the same cluster, the
job's task leaving its worker slot (``secede``) while they run.

The server and the worker talk through two files in a :class:`JobChannel`
folder under the store's ``jobs/remote/<job id>/``: ``events.jsonl`` (the
worker appends one JSON line per progress event, and the run id as soon as the
run exists) and ``cancel`` (the server creates it; the worker's
:class:`FileCancelToken` sees it at the next check point and the experiment
stops as it does in the server). Files rather than Dask events, so that a job
can be followed by any server process that sees the store.
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from kgml_core import settings
from kgml_core.distributed.cluster import SCHEDULER_CHOICES
from kgml_core.progress import Cancelled, CancelToken, ProgressEvent

log = logging.getLogger(__name__)

POLL_S = 0.25  # how often the server looks at a remote job's events and its cancel button


def job_scheduler(config: Any) -> str | None:
    """The Dask scheduler address a job of ``config`` is handed to, or None to run it in the server.

    ``scheduler`` "sequential" or "local" keep it here; an address sends it there;
    "auto" (and configurations without the setting) use ``KGML_DASK_SCHEDULER``.
    """
    setting = str(getattr(config, "scheduler", "auto") or "auto")
    if setting == "auto":
        return settings.dask_scheduler()
    return None if setting in SCHEDULER_CHOICES else setting


class FileCancelToken(CancelToken):
    """A cancel token that is also set by the existence of a file (written by another process)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)

    @property
    def cancelled(self) -> bool:
        if not self._event.is_set() and self.path.exists():
            self._event.set()
        return self._event.is_set()

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled("computation cancelled")


class JobChannel:
    """The folder through which a remote job reports (``events.jsonl``) and is told to stop (``cancel``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.events = self.folder / "events.jsonl"
        self.cancel_file = self.folder / "cancel"
        self._offset = 0
        self._out = None

    # -- the server's side ----------------------------------------------------
    def open(self) -> "JobChannel":
        """Create an empty channel (a leftover of an earlier attempt is cleared)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.events.touch()
        return self

    def ask_cancel(self) -> None:
        self.cancel_file.touch()

    def receive(self) -> list[dict]:
        """The messages appended since the last call (complete lines only)."""
        try:
            with open(self.events, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self._offset += end
        return [json.loads(line) for line in data[:end].splitlines() if line.strip()]

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- the worker's side ----------------------------------------------------
    def send(self, message: dict) -> None:
        if self._out is None:
            self._out = open(self.events, "a", buffering=1)   # line-buffered: each event is visible at once
        self._out.write(json.dumps(message) + "\n")

    def progress(self, event: ProgressEvent) -> None:
        self.send({"event": asdict(event)})

    def created(self, run) -> None:
        self.send({"run_id": run.id})

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def run_job(kind: str, preset: str, overrides: dict, name: str, store_root: str, channel: str,
            resume: str | None) -> str:
    """The Dask task of one job: run experiment ``kind`` into the run store at ``store_root``; return the run id.

    Progress and the run id go to the :class:`JobChannel` at ``channel``; its
    cancel file stops the experiment (:class:`~kgml_core.progress.Cancelled`
    propagates to the server like any error of the task).
    """
    from kgml_core.experiments import get
    from kgml_core.runs import RunStore
    experiment = get(kind)
    config = experiment.config(preset, **overrides)
    if job_scheduler(config):
        from distributed import secede
        secede()           # the experiment's parts run on this cluster too: free this worker's slot for them
    pipe = JobChannel(Path(channel))
    try:
        run = experiment.execute(config, RunStore(Path(store_root)).observed(pipe.created), pipe.progress,
                                 FileCancelToken(pipe.cancel_file), name=name,
                                 resume=resume if experiment.resumable else None)
    finally:
        pipe.close()
    return run.id


def follow(future, pipe: JobChannel, on_message: Callable[[dict], None], cancelled: Callable[[], bool]) -> str:
    """Wait for a remote job's ``future``, passing its messages to ``on_message`` and a cancel on to the worker.

    Returns the run id (raises what the task raised: ``Cancelled`` when it stopped on request).
    """
    from distributed import wait
    asked = False
    while not future.done():
        for message in pipe.receive():
            on_message(message)
        if cancelled() and not asked:
            pipe.ask_cancel()
            asked = True
        try:
            wait(future, timeout=POLL_S)
        except TimeoutError:  # distributed raises the builtin (dask.utils.TimeoutError is the same class)
            pass
    for message in pipe.receive():
        on_message(message)
    return future.result()


def run_on_cluster(address: str, job, config: Any, store, jobs_folder: Path,
                   progress: Callable[[ProgressEvent], None], created: Callable[[Any], None]) -> str:
    """Run ``job`` (a :class:`kgml_core.jobs.Job`) as one task on the cluster at ``address``; return its run id.

    ``progress`` gets the worker's events (and a note saying where the job went),
    ``created`` the run as soon as it exists in ``store``; the job's cancel token
    is passed on through the channel. An experiment with a ``scheduler`` setting
    runs its parts on the same cluster.
    """
    from distributed import Client
    overrides = {**job.overrides, "scheduler": address} if hasattr(config, "scheduler") else dict(job.overrides)
    pipe = JobChannel(Path(jobs_folder) / "remote" / job.id).open()

    def on_message(message: dict) -> None:
        if "run_id" in message:
            created(store.get(message["run_id"]))
        else:
            progress(event_of(message))
    try:
        try:
            client = Client(address)
        except (OSError, TimeoutError) as err:
            raise ConnectionError(f"could not reach the Dask scheduler at {address}: {err}") from err
        progress(ProgressEvent("preparing", 0, 0, 0, 0, message=f"handed to the Dask cluster at {address}",
                               note=True))
        with client:
            future = client.submit(run_job, job.kind, job.preset, overrides, job.name, str(store.root),
                                   str(pipe.folder), job.resume_from, key=f"kgml-job-{job.id}", pure=False)
            return follow(future, pipe, on_message, lambda: job.cancel_token.cancelled)
    finally:
        pipe.remove()


def event_of(message: dict) -> ProgressEvent:
    """The :class:`ProgressEvent` of an ``{"event": ...}`` message."""
    return ProgressEvent(**message["event"])
