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

Modules: :mod:`~kgml_core.distributed.cluster` (clients, where an experiment's parts
run), :mod:`~kgml_core.distributed.tasks` (unit chunks and per-item tasks),
:mod:`~kgml_core.distributed.chunked` (the core's functions, chunked) and
:mod:`~kgml_core.distributed.memory` (peak memory of a run and its workers).
"""
from __future__ import annotations

from kgml_core.distributed.chunked import (predict_counties_chunked, simulate_world_chunked,
                                           train_region_models, unit_features_chunked, upscale_chunked,
                                           upscale_world_annual)
from kgml_core.distributed.cluster import (SCHEDULER_CHOICES, ExperimentCluster, check_scheduler, dask_client,
                                           free_cores, get_client, machine_cores, second_process, share, warm_up,
                                           worker_threads)
from kgml_core.distributed.memory import PeakRSS
from kgml_core.distributed.tasks import (DEFAULT_CHUNK, ModelSpec, chunk_units, combine, map_tasks,
                                         map_unit_chunks, unit_chunks)

__all__ = ["DEFAULT_CHUNK", "SCHEDULER_CHOICES", "ExperimentCluster", "ModelSpec", "PeakRSS", "check_scheduler",
           "chunk_units", "combine", "dask_client", "free_cores", "get_client", "machine_cores", "map_tasks",
           "map_unit_chunks", "predict_counties_chunked", "second_process", "share", "simulate_world_chunked",
           "train_region_models",
           "unit_features_chunked", "unit_chunks", "upscale_chunked", "upscale_world_annual", "warm_up",
           "worker_threads"]
