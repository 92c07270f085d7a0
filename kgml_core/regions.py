"""Auto Region Detector: partition counties into regions whose data distributions differ.

SDSA-KGML fine-tunes one model per region; the article does not publish how
its regions are found, so this is our design:

* features per county: climate means of the drivers, growing-season and
  annual soil water (SWC), and the soil properties, standardised;
  soil-water features get ``swc_weight`` times the weight of the others,
  because spatial differences in soil moisture are what a global model misses;
* ``method="kmeans"``: k-means on those features; ``"contiguous"``: Ward
  agglomerative clustering constrained to a k-nearest-neighbour graph of the
  county centroids, so every region is spatially connected; ``"states"``:
  the states themselves;
* the number of regions, when not given, maximises the silhouette score over
  ``k_range`` (a stated, reproducible criterion; scores kept in ``scores_``);
* the features that separate the regions are ranked by their one-way ANOVA F
  statistic across regions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.feature_selection import f_classif
from sklearn.metrics import silhouette_score
from sklearn.neighbors import kneighbors_graph

METHODS = ("kmeans", "contiguous", "states")
CLIMATE = ("TA", "P", "SW_IN", "VPD", "WS")
SOILS = ("BD", "SAND", "SILT", "CLAY", "FC", "WP", "KSAT", "SOC", "PH", "CEC")


def county_features(ds: xr.Dataset) -> pd.DataFrame:
    """Features of each unit that describe its distribution of drivers and soils.

    Parameters
    ----------
    ds : contract dataset with daily drivers (``TA``, ``P``, ``SW_IN``, ``VPD``,
        ``WS``, ``SWC``; those missing are skipped) and soils.

    Returns
    -------
    DataFrame indexed by unit: ``<driver>_mean`` (P as ``P_annual`` in mm yr-1),
    ``SWC_mean``, ``SWC_summer`` (June-August mean), ``SWC_std`` (% volumetric)
    and the soil properties in their contract units.
    """
    cols: dict[str, np.ndarray] = {}
    n_years = max(1.0, ds.sizes.get("time", 365) / 365.25)
    for name in CLIMATE:
        if name in ds:
            if name == "P":
                cols["P_annual"] = ds[name].sum("time").values / n_years
            else:
                cols[f"{name}_mean"] = ds[name].mean("time").values
    if "SWC" in ds:
        summer = ds["time"].dt.month.isin([6, 7, 8])
        cols["SWC_mean"] = ds["SWC"].mean("time").values
        cols["SWC_summer"] = ds["SWC"].isel(time=summer.values).mean("time").values
        cols["SWC_std"] = ds["SWC"].std("time").values
    for name in SOILS:
        if name in ds:
            cols[name] = ds[name].values
    if not cols:
        raise ValueError("dataset has none of the drivers or soils the region detector uses")
    return pd.DataFrame(cols, index=pd.Index(ds["unit"].values.astype(str), name="unit"))


@dataclass
class RegionResult:
    """What the detector found: ``labels`` (unit -> region id, int), ``separating_features``
    (one row per feature: F statistic, p-value, region means), ``scores`` (silhouette per k;
    empty when k was given or method is "states"), ``features`` (the inputs) and ``method``."""

    labels: pd.Series
    separating_features: pd.DataFrame
    scores: dict[int, float]
    features: pd.DataFrame
    method: str
    region_names: dict[int, str]


class AutoRegionDetector:
    """sklearn-shaped region detector (see the module docstring).

    Parameters
    ----------
    method : "kmeans", "contiguous" or "states".
    n_regions : fixed number of regions, or None to choose by silhouette.
    k_range : (smallest, largest) k tried when choosing.
    swc_weight : weight of the soil-water features relative to the others.
    n_neighbors : neighbours in the contiguity graph of ``"contiguous"``.
    seed : seed of k-means.
    """

    def __init__(self, method: str = "kmeans", n_regions: int | None = None,
                 k_range: tuple[int, int] = (2, 8), swc_weight: float = 3.0,
                 n_neighbors: int = 6, seed: int = 0):
        self.method = method
        self.n_regions = n_regions
        self.k_range = k_range
        self.swc_weight = swc_weight
        self.n_neighbors = n_neighbors
        self.seed = seed

    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        values = features.to_numpy(dtype=float)
        std = values.std(0)
        z = (values - values.mean(0)) / np.where(std > 0, std, 1.0)
        weights = np.array([self.swc_weight if c.startswith("SWC") else 1.0 for c in features.columns])
        return z * weights

    def _cluster(self, z: np.ndarray, k: int, coords: np.ndarray | None) -> np.ndarray:
        if self.method == "kmeans":
            return KMeans(n_clusters=k, n_init=10, random_state=self.seed).fit_predict(z)
        graph = kneighbors_graph(coords, min(self.n_neighbors, len(z) - 1), include_self=False)
        return AgglomerativeClustering(n_clusters=k, connectivity=graph, linkage="ward").fit_predict(z)

    def fit(self, features: pd.DataFrame, lat=None, lon=None, states=None) -> "AutoRegionDetector":
        """Find regions of the units (rows) of ``features``.

        ``lat``/``lon`` (degrees) are needed for "contiguous", ``states`` for "states".
        """
        if self.method not in METHODS:
            raise ValueError(f"region method '{self.method}' is not one of {list(METHODS)}")
        if features.isna().any().any():
            bad = list(features.columns[features.isna().any()])
            raise ValueError(f"region features contain NaN in columns {bad}")
        n = len(features)
        self.scores_: dict[int, float] = {}
        if self.method == "states":
            if states is None:
                raise ValueError("method 'states' needs the state of every unit")
            names = sorted(set(map(str, states)))
            labels = np.array([names.index(str(s)) for s in states])
            self.region_names_ = dict(enumerate(names))
        else:
            z = self._matrix(features)
            coords = None
            if self.method == "contiguous":
                if lat is None or lon is None:
                    raise ValueError("method 'contiguous' needs lat and lon of every unit")
                coords = np.column_stack([np.asarray(lat, float), np.asarray(lon, float)])
            if self.n_regions is not None:
                if not 1 <= int(self.n_regions) <= n:
                    raise ValueError(f"n_regions must be between 1 and {n}, got {self.n_regions}")
                labels = self._cluster(z, int(self.n_regions), coords) if self.n_regions > 1 \
                    else np.zeros(n, int)
            else:
                lo, hi = self.k_range[0], min(self.k_range[1], n - 1)
                if hi < lo:
                    raise ValueError(f"too few units ({n}) to choose between {self.k_range} regions")
                candidates = {k: self._cluster(z, k, coords) for k in range(lo, hi + 1)}
                self.scores_ = {k: float(silhouette_score(z, lab)) for k, lab in candidates.items()}
                labels = candidates[max(self.scores_, key=self.scores_.get)]
            self.region_names_ = {int(r): f"region {int(r) + 1}" for r in np.unique(labels)}
        self.labels_ = pd.Series(labels.astype(int), index=features.index, name="region")
        self.n_regions_ = int(self.labels_.nunique())
        self.separating_features_ = separating_features(features, self.labels_)
        return self


def separating_features(features: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """Rank features by how much they differ between regions (one-way ANOVA).

    Returns a DataFrame indexed by feature with ``f_stat``, ``p_value`` and the
    mean of the feature in each region (columns ``mean_region_<id>``), sorted
    by decreasing F.
    """
    frame = pd.DataFrame(index=pd.Index(features.columns, name="feature"))
    if labels.nunique() > 1:
        f_stat, p_value = f_classif(features.to_numpy(float), labels.to_numpy())
        frame["f_stat"], frame["p_value"] = f_stat, p_value
    else:
        frame["f_stat"], frame["p_value"] = np.nan, np.nan
    means = features.groupby(labels.to_numpy()).mean()
    for region, row in means.iterrows():
        frame[f"mean_region_{region}"] = row.values
    return frame.sort_values("f_stat", ascending=False)


def detect_regions(ds: xr.Dataset, method: str = "kmeans", n_regions: int | None = None,
                   seed: int = 0, **kwargs) -> RegionResult:
    """Regions of the units of a contract dataset (counties); see :class:`AutoRegionDetector`.

    Returns a :class:`RegionResult` whose ``labels`` map unit (FIPS) to region id.
    """
    features = county_features(ds)
    det = AutoRegionDetector(method=method, n_regions=n_regions, seed=seed, **kwargs).fit(
        features, lat=ds["lat"].values, lon=ds["lon"].values, states=ds["state"].values.astype(str))
    return RegionResult(det.labels_, det.separating_features_, det.scores_, features, method,
                        det.region_names_)
