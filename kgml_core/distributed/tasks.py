"""Shipping the core's work to Dask: unit chunks, one task per item, models as picklable specs, results joined.

Large keyword arguments (a model, normalisation statistics) are scattered to the workers
once, under fresh keys (see :func:`_scatter` for why); a ``torch.nn.Module`` travels as a
:class:`ModelSpec` and is rebuilt on the worker.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core.distributed.cluster import dask_client, worker_threads

DEFAULT_CHUNK = 256


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
