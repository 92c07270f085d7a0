"""What a loaded dataset can be used for in this tool, said in one line per use (the Data page shows them)."""
from __future__ import annotations

import xarray as xr

from kgml_core import schema

WEATHER = ("TA", "TA_MAX", "TA_MIN", "SW_IN", "VPD", "P")
FLUX = ("GPP", "RECO", "NEE")
STEP_WORDS = {"W": "weekly", "M": "monthly", "Y": "yearly"}


def _kinds(ds: xr.Dataset) -> set[str]:
    return set(ds["unit_kind"].values.astype(str)) if "unit_kind" in ds.coords else set()


def uses(ds: xr.Dataset) -> list[str]:
    """Plain-language uses of a contract dataset; the first line says when it cannot train anything.

    Looks at what the dataset holds: daily or coarser time steps, sites or counties,
    drivers, fluxes, yields, soils, coordinates.
    """
    kinds, names = _kinds(ds), set(map(str, ds.data_vars))
    step = ds.attrs.get("time_step", "D")
    out: list[str] = []
    if "time" in ds.dims and step != "D":
        out.append(f"validation only: {STEP_WORDS.get(step, step)} means of "
                   f"{', '.join(sorted(names & set(FLUX))) or 'the drivers'} to compare with model sums "
                   "(the models train on daily series)")
        return out
    daily = "time" in ds.dims
    if "site" in kinds and daily and names & set(FLUX):
        out.append("flux towers: TAM-RL few-shot training and per-site evaluation (Flux sites page), "
                   "and daily GPP/RECO/NEE to check any model at these sites")
    if "site" in kinds and daily and not names & set(FLUX) and names & set(WEATHER):
        out.append("site drivers: weather at the sites (no fluxes to train on)")
    if "county" in kinds and daily and len(names & set(WEATHER)) >= 3:
        out.append("county weather: drives the process model (the real-data world) for pretraining, "
                   "and the real-yields experiment on the Train page ('real data')")
    if "county" in kinds and "YIELD" in names:
        out.append("county yields: fine-tuning and held-out scoring in the real-yields experiment "
                   "(needs county weather of the same counties: loaded, or the HRRR Iowa file)")
    if names & set(schema.SOIL):
        where = "counties" if "county" in kinds else "sites"
        out.append(f"soils ({', '.join(sorted(names & set(schema.SOIL)))}) at {where}: replace the simulated "
                   "soils of the real-data world where they have values")
    if "site" in kinds and not daily and {"lat", "lon"} <= set(ds.coords):
        out.append("site list: coordinates, state and IGBP class for flux-tower files")
    if "coordinates_unknown" in ds.attrs:
        out.append(f"no coordinates for {ds.attrs['coordinates_unknown']}: add a site list to map them")
    return out or ["nothing the models use yet: no daily drivers, fluxes, yields or soils were recognised"]
