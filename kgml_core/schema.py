"""The data contract every loader, the simulator and every model speak.

A contract dataset is an :class:`xarray.Dataset` with

* dimension ``unit`` (5-digit county FIPS or flux-site id) and, for daily
  series, ``time`` (daily ``datetime64``); annual variables use ``year``;
* coordinates ``lat``, ``lon`` (degrees north/east), ``state`` (postal code,
  empty string when unknown) and ``unit_kind`` (``"county"`` or ``"site"``)
  along ``unit``;
* variables named as in FLUXNET where a name exists, each with ``units`` and
  ``long_name`` attributes (units exactly as in :data:`VARIABLES`).

:func:`validate` checks all of this at once and raises a single
:class:`ContractError` listing every problem it found.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import xarray as xr

DAILY = ("unit", "time")
ANNUAL = ("unit", "year")
STATIC = ("unit",)

UNIT_KINDS = ("county", "site")
# ``attrs["time_step"]`` of a dataset whose ``time`` is not daily (FLUXNET WW/MM/YY products, for
# validation): ``time`` holds the start of each period and fluxes/precipitation stay mean daily rates.
TIME_STEPS = {"D": "daily", "W": "weekly", "M": "monthly", "Y": "yearly"}


@dataclass(frozen=True)
class VariableSpec:
    """What the contract expects of one variable."""

    name: str
    units: str
    long_name: str
    dims: tuple[str, ...]
    group: str  # "driver", "flux", "soil", "annual", "quality", "static"
    standard_name: str | None = None


def _spec(name, units, long_name, dims, group, standard_name=None):
    return VariableSpec(name, units, long_name, dims, group, standard_name)


_CARBON = "expressed_as_carbon"
VARIABLES: dict[str, VariableSpec] = {s.name: s for s in [
    # daily drivers (FLUXNET names)
    _spec("TA", "degC", "daily mean air temperature", DAILY, "driver", "air_temperature"),
    _spec("TA_MAX", "degC", "daily maximum air temperature", DAILY, "driver"),
    _spec("TA_MIN", "degC", "daily minimum air temperature", DAILY, "driver"),
    _spec("SW_IN", "W m-2", "daily mean incoming shortwave radiation", DAILY, "driver",
          "surface_downwelling_shortwave_flux_in_air"),
    _spec("VPD", "hPa", "daily mean vapour pressure deficit", DAILY, "driver"),
    _spec("P", "mm d-1", "daily precipitation", DAILY, "driver", "precipitation_amount"),
    _spec("RH_AIR", "%", "daily mean relative humidity", DAILY, "driver", "relative_humidity"),
    _spec("RH_MAX", "%", "daily maximum relative humidity", DAILY, "driver"),
    _spec("RH_MIN", "%", "daily minimum relative humidity", DAILY, "driver"),
    _spec("WS", "m s-1", "daily mean wind speed", DAILY, "driver", "wind_speed"),
    _spec("SWC", "%", "volumetric soil water content of the root zone", DAILY, "driver",
          "volume_fraction_of_condensed_water_in_soil"),
    _spec("TS", "degC", "daily mean soil temperature", DAILY, "driver", "soil_temperature"),
    _spec("LAI", "m2 m-2", "leaf area index", DAILY, "driver", "leaf_area_index"),
    # daily carbon fluxes
    _spec("GPP", "g C m-2 d-1", "gross primary production", DAILY, "flux",
          f"gross_primary_productivity_of_biomass_{_CARBON}"),
    _spec("RA", "g C m-2 d-1", "autotrophic respiration", DAILY, "flux",
          f"plant_respiration_carbon_flux"),
    _spec("RH", "g C m-2 d-1", "heterotrophic respiration", DAILY, "flux",
          "heterotrophic_respiration_carbon_flux"),
    _spec("RECO", "g C m-2 d-1", "ecosystem respiration (RA + RH)", DAILY, "flux"),
    _spec("NEE", "g C m-2 d-1", "net ecosystem exchange (RECO - GPP; > 0 is a source)",
          DAILY, "flux"),
    # quality of daily fluxes: fraction of good data, as in FLUXNET daily files
    _spec("GPP_QC", "1", "fraction of good-quality data behind GPP", DAILY, "quality"),
    _spec("RECO_QC", "1", "fraction of good-quality data behind RECO", DAILY, "quality"),
    _spec("NEE_QC", "1", "fraction of good-quality data behind NEE", DAILY, "quality"),
    # annual
    _spec("YIELD", "g C m-2", "annual grain yield as carbon", ANNUAL, "annual"),
    _spec("CROP", "1", "crop grown (0 corn, 1 soybean, -1 other or none)", ANNUAL, "annual"),
    # soil properties, per unit
    _spec("BD", "g cm-3", "soil bulk density", STATIC, "soil"),
    _spec("SAND", "%", "sand fraction of the fine earth", STATIC, "soil"),
    _spec("SILT", "%", "silt fraction of the fine earth", STATIC, "soil"),
    _spec("CLAY", "%", "clay fraction of the fine earth", STATIC, "soil"),
    _spec("FC", "m3 m-3", "volumetric water content at field capacity", STATIC, "soil"),
    _spec("WP", "m3 m-3", "volumetric water content at wilting point", STATIC, "soil"),
    _spec("KSAT", "mm h-1", "saturated hydraulic conductivity", STATIC, "soil"),
    _spec("SOC", "%", "soil organic carbon (mass fraction, topsoil)", STATIC, "soil"),
    _spec("PH", "1", "soil pH in water", STATIC, "soil"),
    _spec("CEC", "cmol kg-1", "cation exchange capacity", STATIC, "soil"),
    # other static site features
    _spec("ELEV", "m", "elevation above sea level", STATIC, "static"),
    _spec("MAT", "degC", "mean annual air temperature", STATIC, "static"),
    _spec("MAP", "mm yr-1", "mean annual precipitation", STATIC, "static"),
]}

DRIVERS = tuple(n for n, s in VARIABLES.items() if s.group == "driver")
FLUXES = ("GPP", "RA", "RH", "RECO", "NEE")
SOIL = tuple(n for n, s in VARIABLES.items() if s.group == "soil")

# Names users bring from FLUXNET, AmeriFlux and elsewhere, and what the contract calls them.
ALIASES: dict[str, str] = {
    "TA_F": "TA", "TA_F_MDS": "TA", "TMEAN": "TA", "TAVG": "TA", "TAIR": "TA",
    "TMAX": "TA_MAX", "TMIN": "TA_MIN", "SW_IN_F": "SW_IN", "SRAD": "SW_IN",
    "VPD_F": "VPD", "P_F": "P", "PRCP": "P", "PRECIP": "P", "WS_F": "WS",
    "SWC_F_MDS_1": "SWC", "TS_F_MDS_1": "TS",
    "GPP_NT_VUT_REF": "GPP", "GPP_DT_VUT_REF": "GPP",
    "RECO_NT_VUT_REF": "RECO", "RECO_DT_VUT_REF": "RECO", "NEE_VUT_REF": "NEE",
    "RA_": "RA", "RH_": "RH", "YLD": "YIELD",
}

# Unit spellings that mean exactly the contract's unit (no conversion needed).
UNIT_SYNONYMS: dict[str, set[str]] = {
    "degC": {"degC", "deg C", "°C", "C", "celsius", "degree_Celsius", "degrees_C"},
    "W m-2": {"W m-2", "W/m2", "W m^-2", "W/m^2"},
    "hPa": {"hPa", "hectopascal"},
    "mm d-1": {"mm d-1", "mm/d", "mm/day", "mm day-1", "kg m-2 d-1"},
    "%": {"%", "percent"},
    "m s-1": {"m s-1", "m/s"},
    "m2 m-2": {"m2 m-2", "m2/m2", "1"},
    "g C m-2 d-1": {"g C m-2 d-1", "gC m-2 d-1", "gC/m2/d", "g C m-2 day-1", "g m-2 d-1"},
    "g C m-2": {"g C m-2", "gC m-2", "gC/m2", "g m-2"},
    "1": {"1", "", "-", "fraction", "dimensionless"},
    "g cm-3": {"g cm-3", "g/cm3"},
    "m3 m-3": {"m3 m-3", "m3/m3"},
    "mm h-1": {"mm h-1", "mm/h", "mm/hr"},
    "cmol kg-1": {"cmol kg-1", "cmolc/kg", "meq/100g", "cmol(+) kg-1"},
    "m": {"m", "meters", "metre"},
    "mm yr-1": {"mm yr-1", "mm/yr", "mm/year", "mm a-1"},
}


class ContractError(ValueError):
    """A dataset does not follow the data contract; the message lists every problem."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f" ({source})" if source else ""
        head = f"dataset{where} does not follow the data contract: {len(problems)} problem(s)"
        super().__init__(head + "\n" + "\n".join(f"  - {p}" for p in problems))


def units_match(found: str | None, expected: str) -> bool:
    """True when ``found`` is a spelling of the contract unit ``expected``."""
    if found is None:
        return False
    return found.strip() in UNIT_SYNONYMS.get(expected, {expected})


def variable_attrs(name: str) -> dict[str, str]:
    """The attributes a contract variable carries (units, long_name, standard_name)."""
    spec = VARIABLES[name]
    attrs = {"units": spec.units, "long_name": spec.long_name}
    if spec.standard_name:
        attrs["standard_name"] = spec.standard_name
    return attrs


def with_attrs(ds: xr.Dataset) -> xr.Dataset:
    """Put the contract's attributes back on every known variable (xarray drops them in arithmetic)."""
    for name in ds.data_vars:
        if name in VARIABLES:
            ds[name].attrs.update(variable_attrs(name))
    return ds


def _check_coords(ds: xr.Dataset) -> list[str]:
    problems = []
    if "unit" not in ds.dims:
        problems.append("missing dimension 'unit' (county FIPS or site id)")
        return problems
    for coord in ("lat", "lon", "state", "unit_kind"):
        if coord not in ds.coords:
            problems.append(f"missing coordinate '{coord}' along 'unit'")
        elif ds[coord].dims != ("unit",):
            problems.append(f"coordinate '{coord}' has dims {ds[coord].dims}, expected ('unit',)")
    if "unit_kind" in ds.coords:
        bad = sorted(set(np.asarray(ds["unit_kind"].values, dtype=str)) - set(UNIT_KINDS))
        if bad:
            problems.append(f"coordinate 'unit_kind' has values {bad}, expected one of {list(UNIT_KINDS)}")
    for coord, lo, hi in (("lat", -90, 90), ("lon", -180, 180)):
        if coord in ds.coords:
            vals = np.asarray(ds[coord].values, dtype=float)
            if np.any((vals < lo) | (vals > hi)):
                problems.append(f"coordinate '{coord}' has values outside [{lo}, {hi}] degrees")
    if ds.sizes["unit"] and len(set(map(str, ds["unit"].values))) != ds.sizes["unit"]:
        problems.append("coordinate 'unit' has duplicate ids")
    if "time" in ds.dims:
        if not np.issubdtype(ds["time"].dtype, np.datetime64):
            problems.append(f"coordinate 'time' has dtype {ds['time'].dtype}, expected datetime64")
        elif ds.sizes["time"] > 1:
            step = np.diff(ds["time"].values).astype("timedelta64[D]").astype(int)
            if np.any(step <= 0):
                problems.append("coordinate 'time' is not strictly increasing")
            elif ds.attrs.get("time_step", "D") == "D" and np.any(step != 1):
                problems.append("coordinate 'time' is not daily (gaps or steps other than 1 day)")
        if ds.attrs.get("time_step", "D") not in TIME_STEPS:
            problems.append(f"attribute 'time_step' is {ds.attrs['time_step']!r}, expected one of {list(TIME_STEPS)}")
    return problems


def _check_variable(name: str, da: xr.DataArray) -> list[str]:
    if name not in VARIABLES:
        alias = ALIASES.get(name.upper())
        if alias:
            return [f"variable '{name}' should be named '{alias}'"]
        if name.upper() in VARIABLES:
            return [f"variable '{name}' should be named '{name.upper()}'"]
        missing = [a for a in ("units", "long_name") if a not in da.attrs]
        return [f"variable '{name}' has no '{a}' attribute" for a in missing]
    spec = VARIABLES[name]
    problems = []
    if da.dims != spec.dims:
        problems.append(f"variable '{name}' has dims {da.dims}, expected {spec.dims}")
    if "units" not in da.attrs:
        problems.append(f"variable '{name}' has no 'units' attribute, expected '{spec.units}'")
    elif not units_match(str(da.attrs["units"]), spec.units):
        problems.append(f"variable '{name}' is in '{da.attrs['units']}', expected '{spec.units}'")
    if "long_name" not in da.attrs:
        problems.append(f"variable '{name}' has no 'long_name' attribute")
    return problems


def validate(ds: xr.Dataset, required: Iterable[str] = (), source: str | None = None) -> xr.Dataset:
    """Check ``ds`` against the contract and return it unchanged.

    Parameters
    ----------
    ds : the dataset to check.
    required : variable names that must be present (for example :data:`FLUXES`).
    source : where the dataset came from (a file name), quoted in the error.

    Raises
    ------
    ContractError listing every missing, misnamed, mis-shaped or mis-unit variable.
    """
    problems = _check_coords(ds)
    for name in ds.data_vars:
        problems += _check_variable(str(name), ds[name])
    for name in required:
        if name not in ds.data_vars:
            problems.append(f"missing required variable '{name}' ({VARIABLES[name].long_name}, "
                            f"{VARIABLES[name].units})" if name in VARIABLES else
                            f"missing required variable '{name}'")
    if problems:
        raise ContractError(problems, source)
    return ds


def empty_units(units: Iterable[str], lat, lon, state, unit_kind) -> xr.Dataset:
    """A contract dataset with only the ``unit`` coordinates, to which variables are added.

    ``lat``/``lon`` in degrees, ``state`` postal codes, ``unit_kind`` "county" or "site"
    (a single string applies to every unit).
    """
    units = [str(u) for u in units]
    n = len(units)
    kinds = [unit_kind] * n if isinstance(unit_kind, str) else list(unit_kind)
    states = [state] * n if isinstance(state, str) else list(state)
    return xr.Dataset(coords={
        "unit": ("unit", np.array(units, dtype=object)),
        "lat": ("unit", np.asarray(lat, dtype=float)),
        "lon": ("unit", np.asarray(lon, dtype=float)),
        "state": ("unit", np.array(states, dtype=object)),
        "unit_kind": ("unit", np.array(kinds, dtype=object)),
    })


def set_variable(ds: xr.Dataset, name: str, values, dims: tuple[str, ...] | None = None,
                 provenance: str | None = None, extra_attrs: Mapping[str, str] | None = None) -> None:
    """Add contract variable ``name`` to ``ds`` in place, with its units and long name."""
    spec = VARIABLES[name]
    attrs = variable_attrs(name)
    if provenance:
        attrs["provenance"] = provenance
    attrs.update(extra_attrs or {})
    ds[name] = (dims or spec.dims, np.asarray(values), attrs)
