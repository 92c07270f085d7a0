"""Deterministic random numbers and smooth spatial random fields.

Every random quantity is keyed by ``(seed, name)`` so that a county's weather,
soil and parameters depend only on its location and the seed, never on which
other counties are simulated with it. Spatial fields are random Fourier
features (Rahimi & Recht 2007): a sum of plane waves whose wave vectors are
drawn from a Gaussian, which approximates a Gaussian process with a
squared-exponential covariance of the chosen length scale.
"""
from __future__ import annotations

import zlib

import numpy as np

KM_PER_DEG = 111.2
REF_LAT, REF_LON = 38.0, -96.0


def rng(seed: int, name: str) -> np.random.Generator:
    """A generator keyed by the world seed and a name (stable across runs and platforms)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode())])


def to_km(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Approximate planar coordinates in km, shape (n, 2) (equirectangular at 38 N)."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    x = (lon - REF_LON) * KM_PER_DEG * np.cos(np.deg2rad(REF_LAT))
    y = (lat - REF_LAT) * KM_PER_DEG
    return np.stack([x, y], axis=1)


def fourier_basis(lat, lon, seed: int, name: str, length_km: float, n_features: int) -> np.ndarray:
    """Random Fourier features at the points, shape (n, n_features), float32.

    ``basis @ w`` with ``w ~ N(0, 1)`` is a field of unit variance and length scale
    ``length_km``.
    """
    g = rng(seed, name)
    omega = g.normal(0.0, 1.0 / length_km, size=(2, n_features))
    phase = g.uniform(0.0, 2 * np.pi, size=n_features)
    xy = to_km(lat, lon)
    return (np.sqrt(2.0 / n_features) * np.cos(xy @ omega + phase)).astype(np.float32)


def smooth_field(lat, lon, seed: int, name: str, length_km: float, n_features: int = 96) -> np.ndarray:
    """One smooth standard-normal-like field at the points, shape (n,), float64."""
    basis = fourier_basis(lat, lon, seed, name, length_km, n_features).astype(np.float64)
    weights = rng(seed, name + "/w").normal(size=n_features)
    return basis @ weights
