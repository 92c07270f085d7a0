"""Units and plausibility of every variable a loader reads: both bounds, and a unit guess that says what it assumed.

Each contract variable has a plausible range in the contract's unit (both bounds) and
the units that files are known to use for it, with their conversion
``contract = found * scale + offset``. :func:`to_contract` tries the unit the file
declares (or, when it declares none, the convention of its format) first, then the
others, and takes the first under which the values fit:

* **hard fit**: the 1st and 99th percentiles of the converted values lie inside the
  plausible range (a few outliers are tolerated, then set missing and counted);
* **typical fit** (only with enough values, and only to choose among hard fits): a
  statistic that separates the candidate units, e.g. the 99th percentile of daily
  mean shortwave radiation is at least 60 W m-2 over a season (MJ m-2 d-1 read as
  W m-2 gives about 30) or the ratio to the top-of-atmosphere value when the
  latitude is known.

A variable that fits none of the units is refused with one line naming the column,
the range found and the ranges expected. What was assumed goes into the variable's
``unit_assumption`` attribute and its provenance.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from kgml_core import schema, solar
from kgml_core.loaders.errors import LoaderError



@dataclass(frozen=True)
class Unit:
    """A unit files use for a variable: ``contract = found * scale + offset``.

    ``guess=False``: only taken when the file declares it (too easily confused otherwise).
    """

    label: str
    scale: float = 1.0
    spellings: tuple[str, ...] = ()
    offset: float = 0.0
    guess: bool = True

    def convert(self, values: np.ndarray) -> np.ndarray:
        return values * self.scale + self.offset

    def names(self) -> set[str]:
        return {normalise_unit(s).lower() for s in (self.label, *self.spellings)}


@dataclass(frozen=True)
class Typical:
    """A statistic of the converted values that separates candidate units.

    ``stat``: "p99", "median", "annual_sum" (mean x 365) or "p99_toa" (99th percentile
    of value / top-of-atmosphere daily mean; needs the latitude and day of year).
    """

    stat: str
    lo: float
    hi: float
    min_n: int = 90

    def describe(self) -> str:
        what = {"p99": "99th percentile", "median": "median", "annual_sum": "mean x 365",
                "p99_toa": "99th percentile of value / top-of-atmosphere mean"}[self.stat]
        return f"{what} in {self.lo:g} to {self.hi:g}"


@dataclass(frozen=True)
class Range:
    """Plausible range (contract units) and the known units of one variable."""

    lo: float
    hi: float
    units: tuple[Unit, ...]
    typical: Typical | None = None


_DEG = (Unit("degC", spellings=("deg C", "°C", "C", "celsius", "degree_Celsius", "degrees_C", "degrees Celsius")),
        Unit("K", 1.0, ("kelvin", "degK", "degrees_K"), offset=-273.15),
        Unit("degF", 5 / 9, ("F", "°F", "fahrenheit"), offset=-160 / 9, guess=False))
_PERCENT_OR_FRACTION = (Unit("%", spellings=("percent",)), Unit("1", 100.0, spellings=("fraction", "", "-")))
_SHARE_OF_FINE_EARTH = (Unit("%", spellings=("percent", "%wt")), Unit("g kg-1", 0.1, spellings=("g/kg",)),
                        Unit("1", 100.0, spellings=("fraction",)))
_FLUX = (Unit("g C m-2 d-1", spellings=("gC m-2 d-1", "gC/m2/d", "g C m-2 day-1", "g m-2 d-1")),
         Unit("umol CO2 m-2 s-1", 12.011e-6 * 86400, spellings=("umolCO2 m-2 s-1", "umol m-2 s-1", "µmol m-2 s-1"),
              guess=False))
_TEMPERATURE = Range(-70.0, 60.0, _DEG)

RANGES: dict[str, Range] = {
    "TA": _TEMPERATURE, "TA_MAX": _TEMPERATURE, "TA_MIN": _TEMPERATURE, "TS": _TEMPERATURE,
    "SW_IN": Range(-5.0, 560.0, (
        Unit("W m-2", spellings=("W/m2", "W m^-2", "W/m^2", "W m**-2")),
        Unit("MJ m-2 d-1", 1e6 / 86400, ("MJ/m2/d", "MJ m-2 day-1", "MJ/m2/day", "MJ m-2")),
        Unit("Wh m-2 d-1", 1 / 24, ("Wh/m2/d", "Wh m-2", "Wh m-2 day-1")),
        Unit("J m-2 d-1", 1 / 86400, ("J/m2/d", "J m-2")),
        Unit("kWh m-2 d-1", 1000 / 24, ("kWh/m2/d", "kWh m-2"), guess=False)),
        Typical("p99", 60.0, 560.0)),
    "VPD": Range(-1.0, 100.0, (Unit("hPa", spellings=("hectopascal", "mbar", "mb")), Unit("kPa", 10.0),
                               Unit("Pa", 0.01)), Typical("p99", 3.0, 100.0)),
    "P": Range(0.0, 500.0, (
        Unit("mm d-1", spellings=("mm/d", "mm/day", "mm day-1", "kg m-2 d-1", "mm", "kg m-2")),
        Unit("mm per half hour", 48.0, ("mm 30min-1", "mm/30min")),
        Unit("mm h-1", 24.0, ("mm/h", "mm/hr")),
        Unit("kg m-2 s-1", 86400.0, ("mm s-1", "mm/s")),
        Unit("m d-1", 1000.0, ("m", "m/d"), guess=False)),
        Typical("annual_sum", 50.0, 6000.0)),
    "RH_AIR": Range(0.0, 105.0, _PERCENT_OR_FRACTION, Typical("p99", 10.0, 105.0, min_n=10)),
    "RH_MAX": Range(0.0, 105.0, _PERCENT_OR_FRACTION, Typical("p99", 10.0, 105.0, min_n=10)),
    "RH_MIN": Range(0.0, 105.0, _PERCENT_OR_FRACTION, Typical("p99", 5.0, 105.0, min_n=10)),
    "WS": Range(0.0, 50.0, (Unit("m s-1", spellings=("m/s", "m s**-1")),
                            Unit("km h-1", 1 / 3.6, ("km/h",), guess=False))),
    "SWC": Range(0.0, 100.0, (Unit("%", spellings=("percent",)), Unit("m3 m-3", 100.0, ("m3/m3", "1", "fraction"))),
                 Typical("p99", 2.0, 100.0, min_n=10)),
    "LAI": Range(0.0, 15.0, (Unit("m2 m-2", spellings=("m2/m2", "1")),)),
    "GPP": Range(-10.0, 60.0, _FLUX), "RECO": Range(-10.0, 50.0, _FLUX), "RA": Range(-10.0, 40.0, _FLUX),
    "RH": Range(-10.0, 40.0, _FLUX), "NEE": Range(-50.0, 40.0, _FLUX),
    "GPP_QC": Range(0.0, 1.0, (Unit("1"),)), "RECO_QC": Range(0.0, 1.0, (Unit("1"),)),
    "NEE_QC": Range(0.0, 1.0, (Unit("1"),)),
    # soils
    "SAND": Range(0.0, 100.0, _SHARE_OF_FINE_EARTH, Typical("p99", 2.0, 100.0, min_n=5)),
    "SILT": Range(0.0, 100.0, _SHARE_OF_FINE_EARTH, Typical("p99", 2.0, 100.0, min_n=5)),
    "CLAY": Range(0.0, 100.0, _SHARE_OF_FINE_EARTH, Typical("p99", 2.0, 100.0, min_n=5)),
    "SOC": Range(0.0, 60.0, (Unit("%", spellings=("percent",)), Unit("g kg-1", 0.1, ("g/kg",)),
                             Unit("dg kg-1", 0.01, ("dg/kg",))), Typical("median", 0.05, 12.0, min_n=5)),
    "BD": Range(0.1, 2.3, (Unit("g cm-3", spellings=("g/cm3", "kg dm-3", "t m-3")), Unit("cg cm-3", 0.01, ("cg/cm3",)),
                           Unit("kg m-3", 0.001, ("kg/m3",)))),
    "FC": Range(0.0, 0.8, (Unit("m3 m-3", spellings=("m3/m3", "cm3 cm-3", "1", "fraction")), Unit("%", 0.01),
                           Unit("10-3 m3 m-3", 0.001, ("cm3 dm-3", "10^-3 cm3 cm-3")))),
    "WP": Range(0.0, 0.8, (Unit("m3 m-3", spellings=("m3/m3", "cm3 cm-3", "1", "fraction")), Unit("%", 0.01),
                           Unit("10-3 m3 m-3", 0.001, ("cm3 dm-3", "10^-3 cm3 cm-3")))),
    "KSAT": Range(0.0, 3000.0, (Unit("mm h-1", spellings=("mm/h", "mm/hr")), Unit("um s-1", 3.6, ("µm s-1", "um/s", "µm/s")),
                                Unit("cm h-1", 10.0, ("cm/h", "cm/hr"), guess=False),
                                Unit("cm d-1", 10 / 24, ("cm/d", "cm/day"), guess=False),
                                Unit("m s-1", 3.6e6, ("m/s",), guess=False))),
    "PH": Range(2.5, 11.0, (Unit("1", spellings=("pH", "", "-")), Unit("pH x 10", 0.1, ("pHx10", "pH*10")))),
    "CEC": Range(0.0, 200.0, (Unit("cmol kg-1", spellings=("cmolc/kg", "meq/100g", "cmol(+) kg-1", "cmol(c) kg-1")),
                              Unit("mmol kg-1", 0.1, ("mmol(c)/kg", "mmol(c) kg-1", "mmolc/kg"))),
                 Typical("median", 0.5, 80.0, min_n=5)),
}


def normalise_unit(unit: str) -> str:
    """'kg m**-2' -> 'kg m-2', 'm s^-1' -> 'm s-1', collapsed spaces."""
    return re.sub(r"\s+", " ", str(unit).replace("**", "").replace("^", "")).strip()


def find_unit(name: str, declared: str | None) -> Unit | None:
    """The known unit of ``name`` spelled ``declared`` (None when unknown)."""
    if declared is None:
        return None
    key = normalise_unit(declared).lower()
    spec = RANGES.get(name)
    units = spec.units if spec else ()
    found = next((u for u in units if key in u.names()), None)
    if found is None and schema.units_match(normalise_unit(declared), schema.VARIABLES[name].units):
        found = next((u for u in units if u.scale == 1.0 and u.offset == 0.0), Unit(schema.VARIABLES[name].units))
    return found


def toa_daily_mean(lat_deg: np.ndarray, day_of_year: np.ndarray) -> np.ndarray:
    """Top-of-atmosphere daily mean shortwave flux (W m-2) at latitude and day of year (FAO-56 eq. 21)."""
    return solar.toa_daily_mean(lat_deg, day_of_year)


def _statistic(values: np.ndarray, stat: str, toa: np.ndarray | None) -> float:
    if stat == "p99":
        return float(np.percentile(values, 99))
    if stat == "median":
        return float(np.median(values))
    if stat == "annual_sum":
        return float(np.mean(values) * 365.0)
    raise ValueError(f"unknown statistic {stat!r}")


def _typical_ok(spec: Range, converted: np.ndarray, ok: np.ndarray, toa: np.ndarray | None) -> bool | None:
    """True/False when the typical check applies, None when there are too few values for it."""
    typ = spec.typical
    if typ is None or ok.sum() < typ.min_n:
        return None
    if typ.stat == "p99" and toa is not None:  # latitude known: compare with the top of the atmosphere
        good = ok & np.isfinite(toa) & (toa > 20)
        if good.sum() >= typ.min_n:
            ratio = float(np.percentile(converted[good] / toa[good], 99))
            return 0.25 <= ratio <= 1.3
    stat = _statistic(converted[ok], typ.stat, None)
    return typ.lo <= stat <= typ.hi


def _hard_ok(spec: Range, converted: np.ndarray, ok: np.ndarray) -> bool:
    lo, hi = np.percentile(converted[ok], [1, 99])
    return spec.lo <= lo and hi <= spec.hi


def _expected(name: str, spec: Range) -> str:
    parts = []
    for u in spec.units:
        a, b = (spec.lo - u.offset) / u.scale, (spec.hi - u.offset) / u.scale
        parts.append(f"{min(a, b):.4g} to {max(a, b):.4g} {u.label}")
    return f"{name} in " + " or ".join(parts)


def to_contract(path, column: str, name: str, values: np.ndarray, declared: str | None = None,
                toa: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """Values of ``column`` in the contract unit of ``name``, and what was assumed.

    Parameters
    ----------
    path, column : the file and column (for messages).
    name : contract variable (e.g. ``SW_IN``).
    values : raw values in the file's unit, any shape; NaN where missing.
    declared : the unit the file states (None: the format's convention, the contract unit).
    toa : top-of-atmosphere daily mean (W m-2) of the same shape, for SW_IN when the
        latitude and day are known; days above it are set missing.

    Returns
    -------
    (converted values of the same shape with implausible ones set missing, assumption text).
    Raises :class:`LoaderError` on an unknown declared unit or values that fit no known unit.
    """
    values = np.asarray(values, dtype=float)
    spec = RANGES.get(name)
    target = schema.VARIABLES[name].units if name in schema.VARIABLES else None
    first = find_unit(name, declared) if declared is not None else None
    if declared is not None and first is None:
        known = sorted({u.label for u in spec.units}) if spec else [target]
        raise LoaderError(path, f"column '{column}' is in unknown unit '{declared}'",
                          f"'{target}' or one of {known}")
    if spec is None:
        return values * (first.scale if first else 1.0) + (first.offset if first else 0.0), ""
    first = first or spec.units[0]
    ok = np.isfinite(values)
    if not ok.any():
        return values.copy(), ""
    candidates = [first] + [u for u in spec.units if u is not first and u.guess]
    hard = [u for u in candidates if _hard_ok(spec, u.convert(values), ok)]
    if not hard:
        p1, p99 = np.percentile(values[ok], [1, 99])
        raise LoaderError(path, f"column '{column}' ({name}) has values {p1:.4g} to {p99:.4g} "
                                f"(1st-99th percentile), which fit none of its known units",
                          _expected(name, spec))
    typical = {u.label: _typical_ok(spec, u.convert(values), ok, toa) for u in hard}
    chosen = next((u for u in hard if typical[u.label] is not False), hard[0])
    out = chosen.convert(values)
    note = _assumption(name, spec, first, chosen, declared, values[ok], typical[chosen.label])
    out, dropped = _drop_implausible(spec, out, toa)
    if dropped:
        note += f"; {dropped} value(s) outside {spec.lo:g} to {spec.hi:g} {target}" \
                f"{' or above the top-of-atmosphere daily mean' if toa is not None else ''} set missing"
    return out, note


def _assumption(name, spec, first: Unit, chosen: Unit, declared, raw: np.ndarray, typical: bool | None) -> str:
    p1, p99 = np.percentile(raw, [1, 99])
    source = f"labelled {declared}" if declared is not None else f"{first.label} by convention"
    if chosen is first:
        text = f"{source}; values {p1:.4g} to {p99:.4g} are plausible in {chosen.label}"
        if typical is False:
            text += f" (though not typical: expected {spec.typical.describe()})"
        return text
    why = "out of range" if not _hard_ok(spec, first.convert(raw), np.isfinite(raw)) else \
        f"not typical ({spec.typical.describe()})"
    factor = f"x {chosen.scale:.6g}" + (f" {chosen.offset:+g}" if chosen.offset else "")
    return (f"{source}, but values {p1:.4g} to {p99:.4g} are {why} in {first.label}; "
            f"assumed {chosen.label} and converted ({factor})")


def _drop_implausible(spec: Range, out: np.ndarray, toa: np.ndarray | None) -> tuple[np.ndarray, int]:
    with np.errstate(invalid="ignore"):
        bad = np.isfinite(out) & ((out < spec.lo) | (out > spec.hi))
        if toa is not None:
            bad |= np.isfinite(out) & np.isfinite(toa) & (out > toa)
    if bad.any():
        out = out.copy()
        out[bad] = np.nan
    return out, int(bad.sum())


def notable(assumption: str) -> str:
    """The part of an assumption worth a place in the provenance: a unit guessed or values dropped."""
    return assumption if ("assumed" in assumption or "set missing" in assumption) else ""
