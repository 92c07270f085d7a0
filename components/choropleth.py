"""County choropleths: period aggregation, colour scales and the folium map (pure, no Streamlit).

The map is a folium GeoJson whose fill colours are computed here in Python and
written into each feature, so the browser only draws; the county geometry is
parsed once per set of states and reused.
"""
from __future__ import annotations

import copy
import html
import json
from functools import lru_cache
from typing import Iterable

import folium
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib import colormaps
from matplotlib.colors import to_hex

from components import maps, text
from kgml_core import geo, labels

SEASONS = {"DJF": (12, 1, 2), "MAM": (3, 4, 5), "JJA": (6, 7, 8), "SON": (9, 10, 11)}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PERIODS = ("year", *SEASONS, *MONTHS)
DIVERGING = ("NEE",)
CMAPS = {"GPP": "YlGn", "YIELD": "YlOrBr", "RA": "OrRd", "RH": "OrRd", "RECO": "OrRd",
         "NEE": "RdBu_r", "diff": "RdBu_r", "std": "Purples", "error": "magma_r"}
NO_DATA = "#D9D9D9"


NEE_SIGN = "negative: the land takes up carbon (a sink); positive: it releases carbon (a source)"


def period_label(period: str) -> str:
    """Human label of a period code ("year", a season "JJA" or a month "Jul"): "summer (June-August) sum"."""
    if period == "year":
        return "annual sum"
    return f"{labels.period_name(period)} sum"


def _months(period: str) -> tuple[int, ...]:
    if period == "year":
        return tuple(range(1, 13))
    if period in SEASONS:
        return SEASONS[period]
    if period in MONTHS:
        return (MONTHS.index(period) + 1,)
    raise ValueError(f"period must be one of {list(PERIODS)}, got {period!r}")


def aggregate(da: xr.DataArray, period: str = "year") -> pd.DataFrame:
    """Per-unit sums of a daily flux over a period of each calendar year.

    Parameters
    ----------
    da : (unit, time) daily values in g C m-2 d-1, or (unit, year) annual values
        (returned as they are: the period does not apply).
    period : "year", a season ("DJF" takes December, January and February of the
        same calendar year) or a month abbreviation ("Jul").

    Returns
    -------
    DataFrame (unit x year) of sums in g C m-2 per period; a year with missing
    days in the period gives NaN.
    """
    if "year" in da.dims:
        frame = da.transpose("unit", "year").to_pandas()
    else:
        months = _months(period)
        sel = da.isel(time=np.isin(da["time"].dt.month.values, months))
        # min_count: a period with any missing day is not a sum
        n_days = sel["time"].groupby("time.year").count()
        sums = sel.groupby("time.year").sum("time", min_count=1)
        full = (sel.notnull().groupby("time.year").sum("time") == n_days)
        frame = sums.where(full).transpose("unit", "year").to_pandas()
    frame.index = frame.index.astype(str)
    frame.columns = frame.columns.astype(int)
    return frame.astype(float)


def period_units(units: str, period: str, annual: bool = False) -> str:
    """Units of a period sum of a daily flux in ``units`` (``g C m-2 d-1`` -> ``g C m-2 yr-1``)."""
    if annual:
        return units
    base = units.replace(" d-1", "").strip()
    return f"{base} yr-1" if period == "year" else f"{base} per {period}"


def colour_range(values: pd.DataFrame | pd.Series | np.ndarray, diverging: bool = False,
                 quantiles: tuple[float, float] = (0.02, 0.98)) -> tuple[float, float]:
    """A robust (vmin, vmax) over all values (every year, so the scale does not jump).

    Diverging scales are symmetric about zero.
    """
    arr = np.asarray(values, dtype=float).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return (-1.0, 1.0) if diverging else (0.0, 1.0)
    lo, hi = np.quantile(arr, quantiles)
    if diverging:
        m = float(max(abs(lo), abs(hi))) or 1.0
        return -m, m
    if hi <= lo:
        hi = lo + (abs(lo) * 0.01 or 1.0)
    return float(lo), float(hi)


def scale(values: pd.DataFrame | pd.Series | np.ndarray, variable: str, difference: bool = False
          ) -> tuple[float, float, str]:
    """(vmin, vmax, colour map) for a map of ``variable`` (or a difference map).

    A diverging scale centred on zero only when the values (2nd-98th percentile) cross zero;
    an all-negative NEE (uptake everywhere) or difference gets a one-sided blue scale, darker
    for more negative, and an all-positive one a red scale, darker for more positive.
    """
    signed = difference or variable in DIVERGING
    if not signed:
        return (*colour_range(values), CMAPS.get(variable, "viridis"))
    lo, hi = colour_range(values)
    if lo < 0 < hi:
        return (*colour_range(values, diverging=True), CMAPS["diff"])
    return (lo, hi, "Blues_r") if hi <= 0 else (lo, hi, "Reds")


def colours(values: Iterable[float], vmin: float, vmax: float, cmap: str) -> list[str]:
    """Hex colours of ``values`` on ``cmap`` between vmin and vmax (NaN -> grey)."""
    arr = np.asarray(list(values), dtype=float)
    scale = colormaps[cmap]
    frac = np.clip((arr - vmin) / (vmax - vmin if vmax > vmin else 1.0), 0, 1)
    rgba = scale(np.nan_to_num(frac))
    return [to_hex(c) if np.isfinite(v) else NO_DATA for c, v in zip(rgba, arr)]


@lru_cache(maxsize=16)
def _county_features(states: tuple[str, ...]) -> dict:
    return json.loads(geo.geojson("county", states))


def format_value(value: float) -> str:
    """A map value as shown in tooltips and legends ("no data" for NaN; three significant digits below 1)."""
    if not np.isfinite(value):
        return "no data"
    if 0 < abs(value) < 1:              # small values (daily fluxes, RMSE) keep three significant digits
        return f"{value:.3g}"
    return f"{value:,.1f}" if abs(value) < 1e4 else f"{value:,.0f}"


def county_geojson(states: Iterable[str], values: pd.Series, vmin: float, vmax: float, cmap: str,
                   extra: dict[str, pd.Series] | None = None) -> dict:
    """County GeoJSON with ``fill`` and formatted ``value`` (plus ``extra`` columns) per feature."""
    base = _county_features(tuple(geo.resolve_states(states)))
    vals = values.reindex([f["properties"]["id"] for f in base["features"]]).to_numpy(float)
    fills = colours(vals, vmin, vmax, cmap)
    out = {"type": "FeatureCollection", "features": []}
    for feat, val, fill in zip(base["features"], vals, fills):
        props = dict(feat["properties"], fill=fill, value=format_value(val))
        for name, series in (extra or {}).items():
            props[name] = format_value(float(series.get(props["id"], np.nan)))
        out["features"].append({"type": "Feature", "geometry": feat["geometry"], "properties": props})
    return out


def legend_html(title: str, units: str, vmin: float, vmax: float, cmap: str, floating: bool = True,
                note: str = "") -> str:
    """A small CSS gradient legend (no external library): in the map's corner, or inline above it.

    Floating legends sit at the bottom right, so they never cover the scale bar (bottom left).
    ``note`` is a line under the scale (e.g. what the sign of NEE means).
    """
    stops = ", ".join(colours(np.linspace(vmin, vmax, 7), vmin, vmax, cmap))
    place = "position:absolute;bottom:22px;right:12px;z-index:9999;" if floating else "display:inline-block;"
    units_text = f" ({html.escape(units)})" if units and units not in ("-", "–", "1") else ""
    return (
        f'<div class="kgml-legend" style="{place}'
        'background:rgba(255,255,255,.92);padding:6px 8px;border-radius:4px;font:12px sans-serif;'
        'box-shadow:0 1px 4px rgba(0,0,0,.3)">'
        f'<div><b>{html.escape(title)}</b>{units_text}</div>'
        f'<div style="width:260px;height:10px;margin:4px 0;background:linear-gradient(to right, {stops})"></div>'
        f'<div style="display:flex;justify-content:space-between;width:260px">'
        f'<span>{format_value(vmin)}</span><span>{format_value((vmin + vmax) / 2)}</span><span>{format_value(vmax)}</span></div>'
        + (f'<div style="max-width:420px;color:#444;margin-top:2px">{html.escape(note)}</div>' if note else "")
        + '</div>')


def site_layer(sites: pd.DataFrame, cmap: str = "magma_r", label: str = "error") -> folium.FeatureGroup:
    """Flux sites as circles coloured by ``sites["error"]`` (grey when NaN).

    ``sites`` has index site id and columns lat, lon, error (and optional units).
    """
    layer = folium.FeatureGroup(name="flux sites")
    err = sites["error"].astype(float) if "error" in sites else pd.Series(np.nan, index=sites.index)
    lo, hi = colour_range(err) if err.notna().any() else (0.0, 1.0)
    fills = colours(err.values, lo, hi, cmap)
    for (sid, row), fill, e in zip(sites.iterrows(), fills, err.values):
        if not (np.isfinite(row["lat"]) and np.isfinite(row["lon"])):
            continue
        tip = f"{sid}: {label} {format_value(e)}" if np.isfinite(e) else f"{sid} (flux site; no score for it in this view)"
        folium.CircleMarker([row["lat"], row["lon"]], radius=7, color="#0D2B45", weight=1.5,
                            fill=True, fill_color=fill, fill_opacity=0.95, tooltip=text.tooltip(tip)).add_to(layer)
    return layer


def region_tints(regions: pd.Series) -> dict:
    """Region id -> outline colour (the same ones the region layer and its legend use)."""
    ids = sorted(pd.unique(regions.dropna()))
    return {r: labels.CATEGORICAL[i % len(labels.CATEGORICAL)] for i, r in enumerate(ids)}


def region_legend_html(regions: pd.Series, names: dict | None = None) -> str:
    """A one-line legend of the detected regions' outline colours."""
    chips = "".join(
        f'<span style="display:inline-flex;align-items:center;margin-right:14px">'
        f'<span style="width:18px;height:0;border-top:3px dashed {c};margin-right:5px"></span>'
        f'{html.escape(str((names or {}).get(r, f"region {r}")))}</span>' for r, c in region_tints(regions).items())
    return f'<div class="kgml-region-legend" style="font:13px sans-serif;margin:2px 0">Detected regions: {chips}</div>'


def region_layer(states: Iterable[str], regions: pd.Series, names: dict | None = None) -> folium.FeatureGroup:
    """Counties outlined and tinted by their detected region (``regions``: FIPS -> region id)."""
    states = tuple(geo.resolve_states(states))
    base = copy.deepcopy(_county_features(states))
    tint = region_tints(regions)
    for feat in base["features"]:
        r = regions.get(feat["properties"]["id"])
        feat["properties"]["region"] = text.tooltip((names or {}).get(r, f"region {r}") if r is not None else "none")
        feat["properties"]["tint"] = tint.get(r, NO_DATA)
    layer = folium.FeatureGroup(name="detected regions", show=True)
    folium.GeoJson(base, name="regions",
                   style_function=lambda f: {"color": f["properties"]["tint"], "weight": 2.2,
                                             "fillOpacity": 0.0, "dashArray": "4 3"},
                   tooltip=folium.GeoJsonTooltip(["name", "region"], aliases=["County", "Region"])).add_to(layer)
    return layer


def choropleth_layers(states: Iterable[str], values: pd.Series, title: str, units: str, vmin: float,
                      vmax: float, cmap: str, extra: dict[str, pd.Series] | None = None,
                      sites: pd.DataFrame | None = None, regions: pd.Series | None = None,
                      region_names: dict | None = None, highlight: Iterable[str] = ()) -> list[folium.FeatureGroup]:
    """The layers of a county choropleth (hover: county, state, value with units), bottom first.

    Parameters
    ----------
    values : FIPS -> value in ``units``.
    extra : more per-county values shown on hover (name -> series).
    sites : flux sites (index id; lat, lon, error) drawn on top.
    regions : FIPS -> region id, drawn as dashed outlines.
    highlight : FIPS outlined in black (e.g. a county clicked in a chart).
    """
    states = geo.resolve_states(states)
    data = county_geojson(states, values, vmin, vmax, cmap, extra)
    fields = ["name", "state", "value", *(extra or {})]
    aliases = [text.tooltip(a) for a in ("County", "State", f"{title} ({units})", *(extra or {}))]
    chosen = set(highlight)
    counties = folium.FeatureGroup(name=title)
    folium.GeoJson(
        data, name=title,
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "fillOpacity": 0.85,
                                  "color": "#000000" if f["properties"]["id"] in chosen else "#5F6B63",
                                  "weight": 3 if f["properties"]["id"] in chosen else 0.5},
        highlight_function=lambda f: {"weight": 2.5, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(fields, aliases=aliases, sticky=True),
    ).add_to(counties)
    layers = [counties]
    if regions is not None and len(regions):
        layers.append(region_layer(states, regions, region_names))
    if sites is not None and len(sites):
        layers.append(site_layer(sites))
    return layers


def choropleth_map(states: Iterable[str], values: pd.Series, title: str, units: str, vmin: float, vmax: float,
                   cmap: str, extra: dict[str, pd.Series] | None = None, sites: pd.DataFrame | None = None,
                   regions: pd.Series | None = None, region_names: dict | None = None,
                   highlight: Iterable[str] = (), caption: str = "") -> folium.Map:
    """A whole choropleth map: :func:`choropleth_layers` on a base map, with a legend in its corner.

    ``caption`` is appended to the legend title (e.g. the period and year).
    """
    states = geo.resolve_states(states)
    fmap = maps.base_map(maps._bounds(states))
    layers = choropleth_layers(states, values, title, units, vmin, vmax, cmap, extra, sites, regions,
                               region_names, highlight)
    for layer in layers:
        layer.add_to(fmap)
    if len(layers) > 1:
        folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.get_root().html.add_child(folium.Element(legend_html(f"{title} {caption}".strip(), units, vmin, vmax, cmap)))
    return fmap
