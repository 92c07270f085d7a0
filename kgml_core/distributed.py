"""Dask under the core: a client, chunks of units, and the core's functions run per chunk or per task.

Nothing here changes the science code. Every helper runs a public function of
the core on a chunk of units (simulator, inference, upscaling, shift features)
or once per region or fold (training), as dask.distributed tasks, and stitches
the results back together along ``unit``.

By default :func:`get_client` starts a local cluster sized to the machine (one
single-threaded worker process per core: torch and NumPy threads inside one
process wait for each other at every GRU step, processes do not). One setting
points at an existing scheduler instead: ``scheduler=`` / the CLI flag
``--scheduler ADDRESS`` / the environment variable ``KGML_DASK_SCHEDULER``
(:func:`kgml_core.settings.dask_scheduler`).
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import settings

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 256


# --------------------------------------------------------------------------- clients
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


@dataclass
class ModelSpec:
    """A registered model as (registry name, config, CPU weights), to ship to workers.

    Dask's own serializer for ``torch.nn.Module`` fails on the weak references
    that GRU modules keep; a spec pickles plainly and rebuilds the model.
    """

    name: str
    config: Any
    state: dict

    @classmethod
    def of(cls, model) -> "ModelSpec":
        from kgml_core.models import MODELS
        names = [k for k, v in MODELS.items() if type(model) is v]
        if not names:
            raise ValueError(f"model of type {type(model).__name__} is not in the model registry")
        return cls(names[0], model.config, {k: v.detach().cpu() for k, v in model.state_dict().items()})

    def build(self):
        """The model in eval mode with the shipped weights."""
        from kgml_core.models import build_model
        model = build_model(self.name, self.config)
        model.load_state_dict(self.state)
        return model.eval()


def _pack(kwargs: dict) -> dict:
    import torch
    return {k: ModelSpec.of(v) if isinstance(v, torch.nn.Module) else v for k, v in kwargs.items()}


def _unpack(kwargs: dict) -> dict:
    return {k: v.build() if isinstance(v, ModelSpec) else v for k, v in kwargs.items()}


# --------------------------------------------------------------------------- chunks
def unit_chunks(n_units: int, chunk_size: int = DEFAULT_CHUNK) -> list[slice]:
    """Consecutive slices of at most ``chunk_size`` units covering ``range(n_units)``."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return [slice(lo, min(lo + chunk_size, n_units)) for lo in range(0, n_units, chunk_size)]


def chunk_units(ds: xr.Dataset, chunk_size: int = DEFAULT_CHUNK) -> xr.Dataset:
    """``ds`` as dask arrays chunked along ``unit`` only (lazy)."""
    return ds.chunk({"unit": chunk_size})


def combine(parts: Sequence[Any]) -> Any:
    """Results of unit chunks joined in order: Datasets along ``unit``, frames and arrays along rows."""
    first = parts[0]
    if isinstance(first, (xr.Dataset, xr.DataArray)):
        return xr.concat(parts, dim="unit", data_vars="minimal", coords="minimal", compat="override",
                         join="outer", combine_attrs="override")
    if isinstance(first, (pd.DataFrame, pd.Series)):
        return pd.concat(parts)
    if isinstance(first, np.ndarray):
        return np.concatenate(parts)
    return list(parts)


def _run_on_chunk(func: Callable, part: xr.Dataset, kwargs: dict) -> Any:
    from kgml_core.inference import set_threads
    set_threads(worker_threads())
    return func(part.load() if hasattr(part, "load") else part, **_unpack(kwargs))


def map_unit_chunks(func: Callable, ds: xr.Dataset, client=None, chunk_size: int | None = None,
                    **kwargs) -> Any:
    """``func(chunk, **kwargs)`` for every unit chunk of ``ds`` as Dask tasks, results combined.

    ``func`` must treat units independently (true of the simulator, inference,
    upscaling and per-unit features). The chunks are those of a dask-backed
    ``ds`` along ``unit``, else ``chunk_size`` (default :data:`DEFAULT_CHUNK`).
    Large keyword arguments (a model) are sent to the workers once.
    """
    if chunk_size is None and ds.chunks and "unit" in ds.chunks:
        bounds = np.cumsum((0,) + tuple(ds.chunks["unit"]))
        slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    else:
        slices = unit_chunks(ds.sizes["unit"], chunk_size or DEFAULT_CHUNK)
    with dask_client(client) as c:
        shared = _scatter(c, _pack(kwargs), broadcast=True) if kwargs else {}
        parts = [_scatter(c, ds.isel(unit=sl)) for sl in slices]  # held until gathered
        futures = [c.submit(_run_on_chunk, func, part, shared, pure=False) for part in parts]
        return combine(c.gather(futures))


def map_tasks(func: Callable, items: Iterable[Any], client=None, **kwargs) -> list[Any]:
    """``[func(item, **kwargs) for item in items]``, one Dask task per item (a region, a fold)."""
    items = list(items)
    with dask_client(client) as c:
        shared = _scatter(c, _pack(kwargs), broadcast=True) if kwargs else {}
        futures = [c.submit(_run_task, func, item, shared, pure=False) for item in items]
        return c.gather(futures)


def _scatter(client, data: Any, broadcast: bool = False) -> Any:
    """``client.scatter`` under fresh keys; a dict's values are scattered and the dict rebuilt around them.

    ``client.scatter(dict)`` uses the dict's own keys as task keys ("model", "norm"),
    and content-hashed keys repeat too: every call then scatters under the key of the
    previous call while that call's release may still be on its way to the scheduler
    (releases travel on the batched stream, scatters as a separate RPC). The scheduler
    forgets the new data and the tasks needing it fail with ``FutureCancelledError:
    ... lost dependencies`` (test_chunked_inference_equals_whole predicts twice with
    the same model). Fresh keys (``hash=False``, lists) cannot meet a release in flight.
    """
    if isinstance(data, dict):
        futures = client.scatter(list(data.values()), broadcast=broadcast, hash=False)
        return dict(zip(data.keys(), futures))
    return client.scatter(data, broadcast=broadcast, hash=False)


def _run_task(func: Callable, item: Any, kwargs: dict) -> Any:
    from kgml_core.inference import set_threads
    set_threads(worker_threads())
    return func(item, **_unpack(kwargs))


# --------------------------------------------------------------------------- the core, chunked
def _simulate_chunk(counties: tuple[str, ...], cfg) -> xr.Dataset:
    from kgml_core.simulator import simulate_world
    return simulate_world(replace(cfg, counties=counties))


def simulate_world_chunked(cfg, client=None, chunk_size: int = DEFAULT_CHUNK) -> xr.Dataset:
    """:func:`kgml_core.simulator.simulate_world` with one Dask task per chunk of counties.

    The simulator draws weather, soils and parameters from smooth fields of
    location and seed, so a county's series do not depend on the chunking.
    """
    from kgml_core.simulator.world import county_units

    fips = county_units(cfg).index.values.astype(str)
    chunks = [tuple(fips[sl]) for sl in unit_chunks(len(fips), chunk_size)]
    ds = combine(map_tasks(_simulate_chunk, chunks, client, cfg=cfg))
    ds = ds.sel(unit=fips)
    ds.attrs["config"] = cfg.to_json()
    return ds


def predict_counties_chunked(model, ds: xr.Dataset, norm, client=None, chunk_size: int | None = None,
                             **kwargs) -> xr.Dataset:
    """:func:`kgml_core.inference.predict_counties` per unit chunk as Dask tasks."""
    return map_unit_chunks(_predict_chunk, ds, client, chunk_size, model=model, norm=norm, **kwargs)


def _predict_chunk(ds: xr.Dataset, model, norm, **kwargs) -> xr.Dataset:
    from kgml_core.inference import predict_counties
    kwargs.setdefault("threads", worker_threads())
    return predict_counties(model, ds, norm, **kwargs)


def unit_features_chunked(ds: xr.Dataset, client=None, chunk_size: int | None = None,
                          standardize: bool = False, **kwargs) -> pd.DataFrame:
    """:func:`kgml_core.shift.unit_features` per unit chunk; z-scores taken over all units afterwards."""
    from kgml_core.shift import standardize_features, unit_features
    weights = kwargs.pop("weights", None)
    raw = map_unit_chunks(unit_features, ds, client, chunk_size, **kwargs)
    return standardize_features(raw, weights) if standardize else raw


def upscale_chunked(members, counties: xr.Dataset, client=None, chunk_size: int | None = None,
                    **kwargs) -> xr.Dataset:
    """:func:`kgml_core.tamrl.upscale.upscale` (TAM-RL ensemble) per unit chunk as Dask tasks."""
    return map_unit_chunks(_upscale_chunk, counties, client, chunk_size, members=members, **kwargs)


def _upscale_chunk(counties: xr.Dataset, members, **kwargs) -> xr.Dataset:
    from kgml_core.tamrl.upscale import upscale
    return upscale(members, counties, **kwargs)


def _annual_chunk(counties: tuple[str, ...], world_cfg, model, norm, batch_size: int) -> xr.Dataset:
    from kgml_core.inference import predict_counties
    ds = _simulate_chunk(counties, world_cfg)
    return predict_counties(model, ds, norm, batch_size=batch_size, annual=True,
                            threads=worker_threads())


def upscale_world_annual(world_cfg, model, norm, client=None, chunk_size: int = DEFAULT_CHUNK,
                         batch_size: int = 256) -> xr.Dataset:
    """Simulate drivers and predict annual sums for every county of ``world_cfg``, chunk by chunk.

    Each task simulates one chunk of counties, runs the model on it and returns
    only the annual sums (unit, year), so no process ever holds the daily
    outputs of more than one chunk.
    """
    from kgml_core.simulator.world import county_units

    fips = county_units(world_cfg).index.values.astype(str)
    chunks = [tuple(fips[sl]) for sl in unit_chunks(len(fips), chunk_size)]
    out = combine(map_tasks(_annual_chunk, chunks, client, world_cfg=world_cfg, model=model,
                            norm=norm, batch_size=batch_size))
    return out.sel(unit=fips)


def _train_region(group: str, model_name: str, model_config: dict, norm, anchor: dict, yields,
                  sites, yield_groups, site_groups, protocol, seed: int) -> tuple[str, dict]:
    from kgml_core.models import build_model
    from kgml_core.training.protocol import finetune_group
    from kgml_core.training.trainer import KGMLTrainer

    model = build_model(model_name, model_config)
    model.load_state_dict(anchor)
    trainer = KGMLTrainer(model, norm, seed=seed)
    finetune_group(trainer, group, yields, sites, yield_groups, site_groups, protocol, anchor, f"region_{group}")
    return group, trainer.state_dict()


def train_region_models(anchor: dict, norm, yields, sites, yield_groups: np.ndarray,
                        site_groups: np.ndarray, protocol, client=None, model_name: str = "kgml_ag",
                        model_config: dict | None = None, seed: int = 0) -> dict[str, dict]:
    """SDSA-KGML: one fine-tuned model per region (or state), one Dask task each.

    Runs :func:`kgml_core.training.protocol.finetune_group` (what the
    state-vs-global harness runs per group, in process) from the global
    weights ``anchor``. Returns group -> state dict.
    """
    from kgml_core.training.protocol import region_groups

    results = map_tasks(_train_region, region_groups(yield_groups, site_groups), client, model_name=model_name,
                        model_config=model_config or {}, norm=norm, anchor=anchor, yields=yields,
                        sites=sites, yield_groups=np.asarray(yield_groups),
                        site_groups=np.asarray(site_groups), protocol=protocol, seed=seed)
    return dict(results)


# --------------------------------------------------------------------------- memory
class PeakRSS:
    """Samples the resident memory of this process and its children (Dask workers) in a thread.

    ``with PeakRSS() as peak: ...`` then ``peak.gib`` is the largest total seen (GiB) and
    ``peak.children_gib`` the largest total of the children alone.
    """

    def __init__(self, interval: float = 0.1):
        self.interval, self.peak, self.children_peak, self._stop = interval, 0, 0, threading.Event()

    def _total(self) -> int:
        import psutil
        me = psutil.Process()
        children = 0
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                children += child.memory_info().rss
        self.children_peak = max(self.children_peak, children)
        return me.memory_info().rss + children

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._total())
            time.sleep(self.interval)

    def __enter__(self) -> "PeakRSS":
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._total())

    @property
    def gib(self) -> float:
        return self.peak / 2 ** 30

    @property
    def children_gib(self) -> float:
        return self.children_peak / 2 ** 30
