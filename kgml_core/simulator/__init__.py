"""The embedded default world: a process-based simulator of weather, soils, crops and carbon fluxes.

Public API::

    from kgml_core.simulator import (WorldConfig, TowerConfig, simulate_world, load_world,
                                     simulate_observations, simulate_tower_network)

See ``docs/simulator.md`` for every equation and parameter.
"""
from __future__ import annotations

ENGINE_VERSION = "4"

from kgml_core.simulator.config import TowerConfig, WorldConfig  # noqa: E402
from kgml_core.simulator.observations import simulate_observations  # noqa: E402
from kgml_core.simulator.towers import load_tower_network, simulate_tower_network  # noqa: E402
from kgml_core.simulator.world import load_world, simulate_world  # noqa: E402

__all__ = ["WorldConfig", "TowerConfig", "simulate_world", "load_world", "simulate_observations",
           "simulate_tower_network", "load_tower_network", "ENGINE_VERSION"]
