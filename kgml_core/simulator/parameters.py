"""Model parameters: defaults, and their true location-dependent values.

A spatially varying parameter is

    p(x) = p0 + h * (a_state * z_state(x) + a_smooth * f(x)),

with ``p0`` the default, ``h`` the heterogeneity, ``z_state`` a state-level
offset (in standard units), ``f`` a smooth standard-normal field (length scale
200 km) that ignores state borders, and amplitudes ``a_state``, ``a_smooth`` in
the parameter's units. The offsets of the Corn Belt states are fixed (the
"true world" of the SDSA-KGML experiment: every pair of IL, IA and IN differs
by a clearly visible amount in the Rh parameters); other states get offsets
from a hash of their code. Offsets and fields are drawn independently of
weather and soils, so nothing in the model inputs reveals them.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from kgml_core.simulator.fields import rng, smooth_field


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: default, units, meaning, spatial amplitudes and bounds."""

    name: str
    default: float
    units: str
    long_name: str
    state_amp: float = 0.0
    smooth_amp: float = 0.0
    lower: float = -np.inf
    upper: float = np.inf
    relative: bool = False  # amplitudes are fractions of the default


PARAMS: dict[str, ParamSpec] = {p.name: p for p in [
    ParamSpec("LUE", 2.5, "g C MJ-1", "light-use efficiency of maize on absorbed PAR "
              "(soybean: 0.60 x)", 0.08, 0.05, 1.2, 4.0, relative=True),
    ParamSpec("DRAINAGE", 0.25, "d-1", "fraction of root-zone water above field capacity "
              "drained per day at KSAT 15 mm h-1", 0.30, 0.15, 0.02, 0.95, relative=True),
    ParamSpec("RH_Q10", 2.2, "1", "temperature sensitivity (Q10) of heterotrophic respiration",
              0.5, 0.2, 1.2, 4.0),
    ParamSpec("RH_SWC_OPT", 0.80, "1", "soil water (fraction of field capacity) at which "
              "heterotrophic respiration peaks", 0.08, 0.04, 0.4, 1.2),
    ParamSpec("RH_SWC_WIDTH", 0.35, "1", "width of the soil-water response of heterotrophic "
              "respiration (fraction of field capacity)", 0.07, 0.03, 0.12, 0.8),
    ParamSpec("RH_KLIT", 0.006, "d-1", "decay rate of the litter (residue) pool at 20 degC and "
              "optimal water", 0.25, 0.10, 0.001, 0.05, relative=True),
    ParamSpec("RH_KSOM", 8.0e-5, "d-1", "decay rate of soil organic matter at 20 degC and "
              "optimal water", 0.25, 0.10, 1e-5, 1e-3, relative=True),
    ParamSpec("RH_HUMIFICATION", 0.25, "1", "fraction of decomposed litter carbon transferred "
              "to soil organic matter (the rest is respired)"),
    ParamSpec("RA_Q10", 2.0, "1", "temperature sensitivity (Q10) of maintenance respiration"),
    ParamSpec("RA_MAINT", 0.011, "d-1", "maintenance respiration per g C of living biomass at 20 degC"),
    ParamSpec("RA_GROWTH", 0.25, "1", "growth respiration as a fraction of GPP minus maintenance"),
    ParamSpec("HI_CORN", 0.60, "1", "maximum harvest index of maize (grain C / above-ground C)"),
    ParamSpec("HI_SOY", 0.42, "1", "maximum harvest index of soybean"),
]}

SPATIAL = tuple(n for n, p in PARAMS.items() if p.state_amp or p.smooth_amp)
RH_PARAMS = ("RH_Q10", "RH_SWC_OPT", "RH_SWC_WIDTH", "RH_KLIT", "RH_KSOM")

# State offsets in standard units for the Corn Belt; columns follow SPATIAL order:
# LUE, DRAINAGE, RH_Q10, RH_SWC_OPT, RH_SWC_WIDTH, RH_KLIT, RH_KSOM.
STATE_OFFSETS: dict[str, tuple[float, ...]] = {
    "IA": (0.6, -0.8, -1.0, 1.0, -0.6, -1.0, -1.0),
    "IL": (-0.3, 0.4, 1.0, -1.0, 0.8, 0.6, 0.6),
    "IN": (-0.5, 1.0, 0.2, 0.2, -0.8, 1.2, 1.2),
    "NE": (0.3, -0.6, -0.4, 0.6, 0.3, -0.4, -0.4),
    "MN": (0.2, -0.3, 0.6, 0.5, -0.3, -0.7, -0.7),
    "OH": (-0.6, 0.8, -0.6, -0.4, 0.5, 0.8, 0.8),
    "WI": (0.1, -0.2, 0.8, -0.6, -0.5, -0.2, -0.2),
    "MO": (-0.7, 0.2, -0.8, -0.8, 0.2, 0.4, 0.4),
}


def state_offset(state: str, name: str) -> float:
    """State-level offset of parameter ``name`` in standard units (hash-based outside the Corn Belt)."""
    col = SPATIAL.index(name)
    if state in STATE_OFFSETS:
        return STATE_OFFSETS[state][col]
    u = (zlib.crc32(f"{state}/{name}".encode()) % 10007 + 0.5) / 10007
    return float(np.clip(ndtri(u), -1.5, 1.5))


def default_parameters(n: int) -> dict[str, np.ndarray]:
    """Every parameter at its default, float32 arrays of shape (n,)."""
    return {k: np.full(n, p.default, dtype=np.float32) for k, p in PARAMS.items()}


def spatial_parameters(lat, lon, states, seed: int, heterogeneity: float) -> dict[str, np.ndarray]:
    """True parameters of points in states ``states`` (postal codes), float32 arrays (n,)."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    states = np.asarray(states, dtype=object)
    out = default_parameters(len(lat))
    if heterogeneity == 0:
        return out
    uniq, inverse = np.unique(states.astype(str), return_inverse=True)
    for name in SPATIAL:
        spec = PARAMS[name]
        z_state = np.array([state_offset(s, name) for s in uniq])[inverse]
        field = smooth_field(lat, lon, seed, f"param/{name}", 200.0)
        delta = heterogeneity * (spec.state_amp * z_state + spec.smooth_amp * field)
        value = spec.default * (1 + delta) if spec.relative else spec.default + delta
        out[name] = np.clip(value, spec.lower, spec.upper).astype(np.float32)
    return out


PRIOR_TRUNCATION = 2.5  # prior draws beyond this many standard deviations are redrawn


def prior_sd(name: str) -> float:
    """Standard deviation of the prior of a spatial parameter, in its units.

    The prior is the spread the spatial model allows at heterogeneity 1 (state
    offset and smooth field together), so an emulator trained on prior draws
    covers the observed world's parameters.
    """
    spec = PARAMS[name]
    amp = float(np.hypot(spec.state_amp, spec.smooth_amp))
    return amp * spec.default if spec.relative else amp


def prior_parameters(units, seed: int) -> dict[str, np.ndarray]:
    """Parameters drawn independently per unit from the prior, float32 arrays (n,).

    units : unit identifiers (FIPS); a unit's draw depends only on its id and
    ``seed``, not on which other units are simulated. Spatial parameters are
    normal around the default with :func:`prior_sd`, truncated at
    :data:`PRIOR_TRUNCATION` standard deviations and at the parameter bounds;
    the others keep their defaults.
    """
    units = [str(u) for u in units]
    out = default_parameters(len(units))
    for name in SPATIAL:
        spec = PARAMS[name]
        z = np.array([_truncated_normal(rng(seed, f"prior/{name}/{u}")) for u in units])
        out[name] = np.clip(spec.default + prior_sd(name) * z, spec.lower, spec.upper).astype(np.float32)
    return out


def _truncated_normal(g: np.random.Generator) -> float:
    while True:
        z = g.standard_normal()
        if abs(z) <= PRIOR_TRUNCATION:
            return float(z)


def group_mean_parameters(params: dict[str, np.ndarray], groups) -> dict[str, np.ndarray]:
    """Each unit's parameters replaced by the mean over its group (e.g. its state), arrays (n,)."""
    return host_mean_parameters(params, groups, np.ones(len(np.asarray(groups)), bool))


def host_mean_parameters(params: dict[str, np.ndarray], groups, hosts) -> dict[str, np.ndarray]:
    """Each unit's parameters replaced by the mean over the host units of its group, arrays (n,).

    groups : (n,) labels (e.g. the state); hosts : (n,) bool, the units averaged (e.g. the
    flux-tower host counties). Raises ValueError for a group without a host.
    """
    groups = np.asarray(groups).astype(str)
    hosts = np.asarray(hosts, bool)
    missing = sorted(str(g) for g in set(groups) - set(groups[hosts]))
    if missing:
        raise ValueError(f"no host unit in group(s) {missing}: every group needs at least one host")
    out = {}
    for name, values in params.items():
        v = np.asarray(values, np.float64)
        means = {g: v[hosts & (groups == g)].mean() for g in np.unique(groups)}
        out[name] = np.array([means[g] for g in groups], np.float32)
    return out
