"""Configuration of the simulated worlds (frozen dataclasses, JSON-serialisable)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

WORLDS = ("observed", "process", "ensemble", "state_mean", "domain_mean", "towers_mean")


@dataclass(frozen=True)
class WorldConfig:
    """A simulated county world.

    Attributes
    ----------
    states : postal codes (anything :func:`kgml_core.geo.resolve_states` accepts).
    years : first and last year, inclusive.
    seed : seed of weather and of the smooth parameter fields.
    world : "observed" (true location-dependent parameters, noise-free truth),
        "process" (default parameters everywhere: the process-model world),
        "ensemble" (parameters drawn per county from their prior: the process-model
        ensemble an emulator is pretrained on), "state_mean" (every county runs
        with its state's mean true parameters: the oracle of state-specific
        parameters) or "domain_mean" (one parameter set, the mean of the true
        parameters over all counties: the oracle of one global parameter set) or
        "towers_mean" (every county runs with the mean true parameters of its
        state's ``hosts``, the flux-tower host counties: the best a state-specific
        model that learns from its state's towers alone can recover, if it
        recovered their parameters exactly).
    heterogeneity : scale of the spatial parameter variation (0 one parameter set
        everywhere, 1 default, more allowed).
    counties : optional subset of 5-digit FIPS codes.
    replicas : copies of every county in an "ensemble" world, each with its own
        prior draw of the parameters and the county's own weather, soils and
        rotation (units ``FIPS`` for the first, ``FIPS-rK`` for copy K >= 1), so
        an emulator sees the parameters' effect with everything else held fixed.
    hosts : 5-digit FIPS codes of the flux-tower host counties, for a "towers_mean"
        world only (every state of the world needs at least one).
    """

    states: tuple[str, ...] = ("IL", "IA", "IN")
    years: tuple[int, int] = (2000, 2019)
    seed: int = 0
    world: str = "observed"
    heterogeneity: float = 1.0
    counties: tuple[str, ...] | None = None
    replicas: int = 1
    hosts: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check_years(self.years)
        if (self.world == "towers_mean") != bool(self.hosts):
            raise ValueError(f"hosts (tower host counties) are needed for a 'towers_mean' world and for no other, "
                             f"got hosts={self.hosts!r} for world {self.world!r}")
        if int(self.replicas) < 1 or (int(self.replicas) > 1 and self.world != "ensemble"):
            raise ValueError(f"replicas must be 1, or more for an 'ensemble' world only, got {self.replicas!r} "
                             f"for world {self.world!r}")
        if self.world not in WORLDS:
            raise ValueError(f"world must be one of {list(WORLDS)}, got {self.world!r}")
        if not float(self.heterogeneity) >= 0:
            raise ValueError(f"heterogeneity must be >= 0, got {self.heterogeneity!r}")
        if not self.states and not self.counties:
            raise ValueError("a world needs at least one state or county")

    def to_json(self) -> str:
        """The configuration as a canonical JSON string (``replicas`` only when not 1, ``hosts``
        only when set, so the worlds cached before they existed keep their keys)."""
        d = asdict(self)
        if d["replicas"] == 1:
            del d["replicas"]
        if d["hosts"] is None:
            del d["hosts"]
        return json.dumps(d, sort_keys=True)

    def key(self) -> str:
        """Short hash of the configuration, for cache file names."""
        return config_hash(self.to_json())


@dataclass(frozen=True)
class TowerConfig:
    """A virtual flux-tower network across the conterminous US.

    Attributes
    ----------
    n_sites, years, seed : size, period (inclusive) and seed.
    heterogeneity : scale of the hidden between-site differences (within-type
        light-use efficiency, land-use and disturbance history, management);
        1 = the sizes argued in docs/tamrl.md, 0 = none.
    drivers : "observed" (LAI from a MODIS-like 8-day product, soil water from a
        shallow probe) or "model" (the simulator's exact leaf area and root-zone water).
    """

    n_sites: int = 160
    years: tuple[int, int] = (2005, 2016)
    seed: int = 0
    heterogeneity: float = 1.0
    drivers: str = "observed"

    def __post_init__(self) -> None:
        check_years(self.years)
        if int(self.n_sites) < 1:
            raise ValueError(f"n_sites must be >= 1, got {self.n_sites!r}")
        if not float(self.heterogeneity) >= 0:
            raise ValueError(f"heterogeneity must be >= 0, got {self.heterogeneity!r}")
        if self.drivers not in ("observed", "model"):
            raise ValueError(f"drivers must be 'observed' or 'model', got {self.drivers!r}")

    def to_json(self) -> str:
        """The configuration as a canonical JSON string."""
        return json.dumps(asdict(self), sort_keys=True)

    def key(self) -> str:
        """Short hash of the configuration, for cache file names."""
        return config_hash(self.to_json())


MIN_YEAR, MAX_YEAR = 1951, 2100


def check_years(years: tuple[int, int]) -> None:
    """Raise ValueError unless ``years`` is (first, last) with first <= last in range."""
    if len(years) != 2 or int(years[0]) > int(years[1]):
        raise ValueError(f"years must be (first, last) with first <= last, got {years!r}")
    if int(years[0]) < MIN_YEAR or int(years[1]) > MAX_YEAR:
        raise ValueError(f"years must lie within {MIN_YEAR}-{MAX_YEAR}, got {years!r}")


def config_hash(text: str) -> str:
    """First 16 hex digits of the SHA-256 of ``text`` (plus the engine version)."""
    from kgml_core.simulator import ENGINE_VERSION
    return hashlib.sha256(f"{ENGINE_VERSION}|{text}".encode()).hexdigest()[:16]
