"""Where Dask work runs: a client to an existing scheduler or a local cluster, and an experiment's choice of one.

:func:`get_client` starts a local cluster sized to the machine (one single-threaded worker
process per core) unless a scheduler address is given or set (``KGML_DASK_SCHEDULER``);
:class:`ExperimentCluster` decides, per experiment, whether its independent parts run on
Dask at all.
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Iterator

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
    """Where an experiment's independent parts run: a Dask client, opened on first need, or None.

    ``setting`` (an experiment's ``scheduler``): "sequential" (always in this
    process), "local" (a local cluster), a scheduler address, or "auto":
    ``KGML_DASK_SCHEDULER`` when set, else a local cluster when it helps (at least
    two parts and two idle cores: :func:`free_cores`), else in this process.
    :meth:`client` is called with the number of parts about to run; the client
    (and a local cluster) is closed by :meth:`close` or at the end of a ``with`` block.
    """

    def __init__(self, setting: str = "auto"):
        self.setting = check_scheduler(setting)
        self._client = None
        self.used = "sequential"

    def client(self, n_tasks: int):
        """A client for ``n_tasks`` independent parts, or None to run them here."""
        if self._client is not None:
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

    def close(self) -> None:
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
