"""Where Dask work runs: a client to an existing scheduler or a local cluster, and an experiment's choice of one.

:func:`get_client` starts a local cluster sized to the machine (one single-threaded worker
process per core) unless a scheduler address is given or set (``KGML_DASK_SCHEDULER``);
:class:`ExperimentCluster` decides, per experiment, whether its independent parts run on
Dask, in a second process beside the experiment's own (:func:`second_process`,
:func:`share`), or one after another in it.
"""
from __future__ import annotations

import collections
import contextlib
import logging
import os
import queue
import sys
import threading
import types
from typing import Any, Callable, Iterator, Sequence

from kgml_core import settings

log = logging.getLogger(__name__)


def machine_cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def get_client(scheduler: str | None = None, n_workers: int | None = None, threads_per_worker: int = 1,
               processes: bool = True, memory_limit: str | float | None = "auto"):
    """A dask.distributed client: to ``scheduler`` (or ``KGML_DASK_SCHEDULER``), else a new local cluster.

    Parameters
    ----------
    scheduler : address of an existing scheduler (``tcp://host:8786``); None reads the setting.
    n_workers : local workers (default: one per core).
    threads_per_worker : threads of each local worker (torch uses as many).
    processes : local workers as processes (True) or threads of this process (False, for tests).
    memory_limit : per local worker ("auto" splits the machine's memory).

    The caller closes it; :func:`dask_client` does that for you.
    """
    from distributed import Client, LocalCluster

    address = scheduler or settings.dask_scheduler()
    if address:
        log.info("connecting to the dask scheduler at %s", address)
        return Client(address)
    n = int(n_workers or max(1, machine_cores() // max(1, threads_per_worker)))
    cluster = LocalCluster(n_workers=n, threads_per_worker=threads_per_worker, processes=processes,
                           memory_limit=memory_limit, dashboard_address=":0")
    return Client(cluster)


@contextlib.contextmanager
def dask_client(client=None, **kwargs) -> Iterator[Any]:
    """Use ``client`` if given, else open one with :func:`get_client` (closed on exit, local cluster too)."""
    if client is not None:
        yield client
        return
    own = get_client(**kwargs)
    try:
        yield own
    finally:
        cluster = own.cluster
        own.close()
        if cluster is not None:
            cluster.close()


SCHEDULER_CHOICES = ("auto", "sequential", "local")


def check_scheduler(setting: str) -> str:
    """``setting`` if it is "auto", "sequential", "local" or a scheduler address (``tcp://host:8786``)."""
    value = str(setting or "auto").strip()
    if value in SCHEDULER_CHOICES or "://" in value or (":" in value and value.rsplit(":", 1)[1].isdigit()):
        return value
    raise ValueError(f"scheduler {setting!r}: expected auto, sequential, local or a scheduler address "
                     f"such as tcp://host:8786")


def free_cores() -> float:
    """Cores not used by other processes right now (cores minus the 1-minute load average)."""
    return machine_cores() - os.getloadavg()[0]


class ExperimentCluster:
    """Where an experiment's independent parts run: a Dask client, opened on first need, a second process, or None.

    ``setting`` (an experiment's ``scheduler``): "sequential" (always in this
    process), "local" (a local cluster), a scheduler address, or "auto":
    ``KGML_DASK_SCHEDULER`` when set, else a local cluster when it helps (at least
    two parts and two idle cores: :func:`free_cores`), else in this process.
    :meth:`client` is called with the number of parts about to run; the client
    (and a local cluster) is closed by :meth:`close` or at the end of a ``with`` block.
    :meth:`beside` gives, with "auto" and no scheduler set, a second process that takes
    parts while this one trains others (:func:`share`); once it runs, :meth:`client`
    gives None (one mechanism at a time).
    """

    def __init__(self, setting: str = "auto"):
        self.setting = check_scheduler(setting)
        self._client = None
        self._beside = None
        self.used = "sequential"

    def client(self, n_tasks: int):
        """A client for ``n_tasks`` independent parts, or None to run them here."""
        if self._client is not None or self._beside is not None:
            return self._client
        address = self.setting if self.setting not in SCHEDULER_CHOICES else None
        if self.setting == "auto":
            address = settings.dask_scheduler()
        if address:
            self._client, self.used = get_client(scheduler=address), address
        elif n_tasks >= 2 and (self.setting == "local" or (self.setting == "auto" and free_cores() >= 2)):
            workers = max(1, min(n_tasks, machine_cores() if self.setting == "local" else int(free_cores())))
            self._client, self.used = get_client(n_workers=workers), f"local cluster of {workers} workers"
        return self._client

    def beside(self):
        """A one-process pool (:func:`second_process`) for parts that run while this process trains others, or None.

        Only with the "auto" setting, no scheduler set (``KGML_DASK_SCHEDULER``), no
        Dask client opened, at most two idle cores (with more, a local cluster uses them
        better) and where :func:`second_process` can start one. Started once, closed by
        :meth:`close`.
        """
        if self._beside is None and self._client is None and self.setting == "auto" \
                and not settings.dask_scheduler() and free_cores() < 3:
            self._beside = second_process()
            if self._beside is not None:
                self.used = "a second process beside this one"
        return self._beside

    def close(self) -> None:
        if self._beside is not None:
            self._beside.terminate()
            self._beside.join()
            self._beside = None
        if self._client is None:
            return
        cluster = self._client.cluster
        self._client.close()
        if cluster is not None and self.used.startswith("local"):
            cluster.close()
        self._client = None

    def __enter__(self) -> "ExperimentCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def second_process():
    """A one-process pool (spawned, torch on one thread) beside this process, or None where it cannot run.

    Why: the models are small, so two torch threads in one process mostly wait for each
    other (a profile of TAM-RL ``quick`` at load 5-9: 66 % of its CPU time in OpenMP's
    barrier spin); two single-threaded processes on independent models do not. None on
    one core and inside a daemonic process (a Dask worker's task, which cannot have
    children). The process ends with this one (Linux). The caller terminates the pool.
    """
    import multiprocessing
    if machine_cores() < 2 or multiprocessing.current_process().daemon:
        return None
    with _bare_main():
        return multiprocessing.get_context("spawn").Pool(1, initializer=_beside_init)


@contextlib.contextmanager
def _bare_main() -> Iterator[None]:
    """``__main__`` replaced by an empty module while a process is spawned.

    A spawned child runs the parent's ``__main__`` file again when it has no module
    name: a script without a ``__main__`` guard would start its work again in the
    child (and that child's child), and the Streamlit app, whose script runner installs
    each page run as ``__main__`` with ``__file__`` = app.py, would run its pages there.
    The second process runs functions of importable modules only, so it needs none.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _beside_init() -> None:
    """In the second process: end when the parent does (Linux), torch on one thread (imported now, while
    the parent works)."""
    import ctypes
    import signal

    import torch
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)    # PR_SET_PDEATHSIG
    except OSError:
        pass
    torch.set_num_threads(1)


def share(pool, items: Sequence, here: Callable[[Any], None], task: Callable[[Any], tuple[Callable, dict]],
          done: Callable[[Any, Any], None], pending: Sequence = (), check: Callable[[], None] | None = None,
          poll_s: float = 0.2) -> None:
    """Run ``items`` in this process and in ``pool``'s one process, each taking the next item when it is free.

    ``here(item)`` runs an item in this process; ``task(item)`` gives ``(function, kwargs)``
    running it in the pool (a module-level function: it is pickled), whose result
    goes to ``done(item, result)``, called in this process between items (never while
    ``here`` runs), then at the end. ``pending``: ``(item, AsyncResult)`` already
    running in the pool (it takes nothing else before they end). Put the largest items
    first. ``check()`` (e.g. a cancel token's) is called while waiting for the pool;
    what it raises, or an error of an item in either process, stops the sharing (the
    item the pool is on is left to it) and is raised.
    """
    todo = collections.deque(items)
    lock, stop = threading.Lock(), threading.Event()
    finished: queue.Queue = queue.Queue()

    def take():
        with lock:
            return todo.popleft() if todo else None

    def wait(item, result) -> bool:
        while not result.ready():
            if stop.is_set():
                return False
            result.wait(poll_s)
        try:
            finished.put((item, result.get(), None))
        except BaseException as error:            # noqa: BLE001 (raised in this process by the loop below)
            finished.put((item, None, error))
            return False
        return True

    def feed() -> None:
        if not all(wait(item, result) for item, result in pending):
            return
        while not stop.is_set():
            item = take()
            if item is None or not wait(item, pool.apply_async(*_call(task(item)))):
                return

    def drain(block: bool) -> None:
        while True:
            try:
                item, result, error = finished.get(timeout=poll_s) if block else finished.get_nowait()
            except queue.Empty:
                return
            if error is not None:
                raise error
            done(item, result)

    feeder = threading.Thread(target=feed, name="kgml-share", daemon=True)
    feeder.start()
    try:
        while (item := take()) is not None:
            drain(False)
            here(item)
        while feeder.is_alive() or not finished.empty():
            if check is not None:
                check()
            drain(True)
    finally:
        stop.set()


def _call(task: tuple[Callable, dict]) -> tuple[Callable, tuple, dict]:
    func, kwargs = task
    return func, (), kwargs


def _warm() -> bool:
    from kgml_core import geo
    import kgml_core.inference  # noqa: F401  (torch and the models)
    import kgml_core.simulator  # noqa: F401
    geo.load_counties(None)     # cached per process: the county table every simulation task reads
    return True


def warm_up(client) -> None:
    """Import the core and read the county table on every worker, so timings exclude start-up."""
    client.run(_warm)


def worker_threads() -> int:
    """Threads of the Dask worker running this task (1 outside a worker)."""
    try:
        from distributed import get_worker
        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return 1
