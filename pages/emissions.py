"""Emission maps: county choropleths of RA, RH, RECO, NEE, GPP and YIELD, differences, sites, regions, exports."""
from __future__ import annotations

from components import page

page.enter(__file__)  # before the heavy imports: a cold deep link hands over to app.py at once

import functools

import numpy as np
import pandas as pd
import streamlit as st
import xarray as xr
from streamlit_folium import st_folium

from components import charts, choropleth, data_session, maps, persist, selection, text, theme
from kgml_core import export, geo, labels, report
from kgml_core.experiments import EXPERIMENTS
from kgml_core.experiments.tamrl.results import REAL_PREDICTIONS


OBSERVED = "observed"
VARIABLES = ("NEE", "RA", "RH", "RECO", "GPP", "YIELD")
DIFFS = {"values": "Values", "closer": "Which is closer to the truth",
         "model_minus_truth": "Model − truth"}
YIELD_UNITS = {"bu": "bu/acre", "gc": "g C m-2"}
MAP_KEY = "emission_map"
# The whole map fits in a 1440x900 window: the browser scrolls a frame that reaches below the window's
# edge into view at the first press inside it, and the release then lands on another county (no click).
MAP_HEIGHT = 470
NO_DATA_KEY = "em_county_without_data"  # the grey county clicked last (named, with a note)
SETTINGS = ("em_source", "em_variable", "em_period", "em_diff", "em_model", "em_year", "em_yield_units")


# ------------------------------------------------------------------------------------- data
def _source_dataset(source: str, states: tuple[str, ...]) -> xr.Dataset:
    """The observed world, or the county map of run ``source``."""
    if source == OBSERVED:
        return data_session.observed_world(states)
    return data_session.run_map(source)


def _field(ds: xr.Dataset, variable: str, model: str | None) -> xr.DataArray:
    da = ds[variable]
    return da.sel(model=model) if "model" in da.dims else da


@st.cache_data(max_entries=96, show_spinner=False)
def period_values(source: str, states: tuple[str, ...], variable: str, model: str | None, period: str,
                  diff: str) -> pd.DataFrame:
    """County x year period sums (or differences) of the chosen field."""
    ds = _source_dataset(source, states)
    agg = lambda m: choropleth.aggregate(_field(ds, variable, m), period)  # noqa: E731
    if diff == "closer":  # < 0: the state-specific model is closer to the truth than the global one
        truth = agg("truth")
        return (agg("state_specific") - truth).abs() - (agg("global") - truth).abs()
    if diff == "model_minus_truth":
        return agg(model) - agg("truth")
    return agg(model)


def _sources() -> dict[str, str]:
    out = {OBSERVED: "Observed world (embedded simulator)"}
    for _, row in data_session.runs_table(data_session.map_kinds()).iterrows():
        out[row["run_id"]] = f"{EXPERIMENTS[row['kind']].short_title}: {row['name']} ({row['run_id']})"
    return out


def site_errors(flux: str) -> pd.DataFrame:
    """Real flux sites (loaded on the Data page or in the latest TAM-RL run) with TAM-RL RMSE of ``flux``."""
    frames = []
    real = data_session.real_sites()
    if real is not None:
        frames.append(data_session.site_table(real)[["lat", "lon"]].assign(error=np.nan))
    runs = data_session.runs_table(("tamrl",))
    if len(runs):
        run_id = runs.iloc[0]["run_id"]
        try:
            coords = data_session.site_table(data_session.run_predictions(run_id, REAL_PREDICTIONS))[["lat", "lon"]]
        except FileNotFoundError:
            coords = pd.DataFrame(columns=["lat", "lon"])
        errors = data_session.run_results(run_id).real_site_errors(flux)
        frames.append(coords.assign(error=errors.reindex(coords.index)))
    if not frames:
        return pd.DataFrame(columns=["lat", "lon", "error"])
    out = pd.concat(frames)
    return out[~out.index.duplicated(keep="last")]


@st.cache_resource(max_entries=8, show_spinner="Detecting regions...")
def _regions(source: str, states: tuple[str, ...]) -> tuple[pd.Series, dict]:
    ds = _source_dataset(source, states)
    if "region" in ds.coords:
        labels = pd.Series(ds["region"].values.astype(int), index=ds["unit"].values.astype(str))
        return labels, {}
    from kgml_core.regions import detect_regions
    res = detect_regions(data_session.observed_world(states))
    return res.labels, res.region_names


# ------------------------------------------------------------------------------------- UI
def _select(column, label: str, options: list, key: str, **kw):
    """A selectbox whose choice is kept across pages and in the URL."""
    persist.restore(key, options)
    return column.selectbox(label, options, key=key, **kw)


def _controls(cols, ds: xr.Dataset) -> dict:
    have = [v for v in VARIABLES if v in ds.data_vars]
    variable = _select(cols[1], "Flux", have, "em_variable", format_func=labels.flux_name,
                       help="; ".join(f"{labels.flux_name(v, short=True)}: {labels.FLUX_HELP[v]}" for v in have))
    periods = list(choropleth.PERIODS) if variable != "YIELD" else ["year"]
    period = _select(cols[2], "Period", periods, "em_period", format_func=choropleth.period_label,
                     help="Sum of the daily flux over the whole year, one season or one month.")
    models = [str(m) for m in ds["model"].values] if "model" in ds.coords else []
    diffs = ["values"]
    if {"state_specific", "global", "truth"} <= set(models):
        diffs.append("closer")
    if "truth" in models:
        diffs.append("model_minus_truth")
    diff = _select(cols[3], "Show", diffs, "em_diff", format_func=DIFFS.get,
                   help="Values of one model; which of the state-specific and global models is closer to the "
                        "truth in each county (|state-specific − truth| − |global − truth|, negative: the "
                        "state-specific model is closer); or one model minus the truth.")
    model = None
    if models and diff != "closer":
        choices = [m for m in models if not (diff == "model_minus_truth" and m == "truth")]
        preferred = [m for m in ("state_specific", "global", "tamrl") if m in choices]
        if preferred and "em_model" not in st.session_state and persist._kept().get("em_model") is None:
            st.session_state["em_model"] = preferred[0]  # a model by default, not the truth
        model = _select(cols[4], "Model", choices, "em_model", format_func=labels.model_name,
                        help="'Truth' is the simulated observed world the models were scored on.")
    return {"variable": variable, "period": period, "model": model, "diff": diff}


def _title(c: dict) -> str:
    flux = labels.flux_name(c["variable"], short=True)
    if c["diff"] == "closer":
        return f"{flux}: state-specific error − global error"
    name = flux if c["diff"] == "values" else f"{flux} {DIFFS[c['diff']].lower()}"
    return f"{name} ({labels.model_name(c['model'], short=True)})" if c["model"] else name


def _legend_note(c: dict) -> str:
    if c["diff"] == "closer":
        return "negative (blue): the state-specific model is closer to the truth; positive (red): the global one is"
    if c["diff"] == "model_minus_truth":
        return "negative: the model is below the truth; positive: above it"
    return choropleth.NEE_SIGN if c["variable"] == "NEE" else ""


def _yield_in_bushels(table: pd.DataFrame, ds: xr.Dataset, c: dict, column) -> tuple[pd.DataFrame, str | None]:
    """Yield maps in bu/acre of the crop grown that year (corn or soybean) unless g C m-2 is chosen."""
    if c["variable"] != "YIELD":
        return table, None
    persist.restore("em_yield_units", list(YIELD_UNITS))
    unit = column.radio("Yield in", list(YIELD_UNITS), key="em_yield_units", format_func=YIELD_UNITS.get,
                        horizontal=True, help="Bushels per acre of the crop grown (corn: 25.4 kg/bu at 15.5 % "
                                              "moisture; soybean: 27.2 kg/bu at 13 %; 45 % carbon), or grain carbon.")
    if unit != "bu":
        return table, None
    factor = pd.DataFrame(labels.yield_bu_per_acre_factor("CORN"), index=table.index, columns=table.columns)
    if "CROP" in ds and set(ds["CROP"].dims) == {"unit", "year"}:
        crop = ds["CROP"].transpose("unit", "year").to_pandas()
        crop.index, crop.columns = crop.index.astype(str), crop.columns.astype(int)
        soy = crop.reindex(index=table.index, columns=table.columns) == 1
        factor = factor.mask(soy, labels.yield_bu_per_acre_factor("SOYBEANS"))
    return table * factor, "bu/acre"


def _draw(sel, source: str, ds: xr.Dataset, c: dict) -> None:
    states = tuple(sorted(set(ds["state"].values.astype(str))))
    table = period_values(source, tuple(sel.states), c["variable"], c["model"], c["period"], c["diff"])
    years = [int(y) for y in table.columns]
    row = st.columns([2.2, 1.4, 1.4, 1.6])
    if len(years) > 1:
        persist.restore("em_year", years)
        if st.session_state.get("em_year") not in years:
            st.session_state["em_year"] = max(years)
        year = row[0].slider("Year", min(years), max(years), key="em_year",
                             help="Calendar year of the map; the colour scale is fixed across years.")
    else:
        year = years[0]
    units = choropleth.period_units(ds[c["variable"]].attrs.get("units", ""), c["period"],
                                    annual=c["variable"] == "YIELD")
    table, yield_units = _yield_in_bushels(table, ds, c, row[3])
    units = yield_units or units
    vmin, vmax, cmap = choropleth.scale(table, c["variable"], c["diff"] != "values")
    show_sites = row[1].toggle("Flux sites", value=True, key="em_sites",
                               help="Real sites loaded on the Data page and the real sites of the latest TAM-RL "
                                    "run, coloured by TAM-RL's RMSE where it was scored.")
    show_regions = row[2].toggle("Detected regions", value=False, key="em_regions",
                                 help="Regions of the Auto Region Detector (from the run, or detected on the world).")
    values = table[year]
    sites = site_errors(c["variable"]) if show_sites and c["variable"] in ("GPP", "RECO", "NEE") else \
        (site_errors("NEE").assign(error=np.nan) if show_sites else None)
    regions, names = _regions(source, tuple(sel.states)) if show_regions else (None, None)
    title = _title(c)
    counties = geo.county_table(states)
    with_data = set(table.index[table.notna().any(axis=1)])
    options = [""] + [f for f in counties.index if f in with_data]
    if st.session_state.get("em_county") not in options:
        st.session_state["em_county"] = ""
    clicked = st.session_state.get("em_county") or None
    # The base map never changes for a region, so st_folium updates the layers in place
    # instead of re-mounting the map: a change of flux or year redraws only the colours.
    layers = choropleth.choropleth_layers(states, values, title, units, vmin, vmax, cmap, sites=sites,
                                          regions=regions, region_names=names,
                                          highlight=list(sel.counties) + ([clicked] if clicked else []))
    caption = f"{choropleth.period_label(c['period'])} {year}"
    legend, picked = st.columns([1.25, 1])
    with legend:
        st.html(choropleth.legend_html(f"{title}, {caption}", units, vmin, vmax, cmap, floating=False,
                                       note=_legend_note(c)))
    if clicked:  # the click's answer above the fold; the charts are under the map
        info = counties.loc[clicked]
        picked.markdown(text.fmt("**{} County, {}**: {} {} in {}", info["name"], info["state"],
                                 choropleth.format_value(values.get(clicked, np.nan)), units, year))
        picked.caption("By year and daily: under the map. Click the county again to clear.")
    elif (empty := st.session_state.get(NO_DATA_KEY)) in counties.index:  # a grey county was clicked
        info = counties.loc[empty]
        picked.markdown(text.fmt("**{} County, {}**: no {} values in this source (it was not predicted).",
                                 info["name"], info["state"], labels.flux_name(c["variable"], short=True)))
    else:
        picked.caption("Click a county for its values by year and its daily series.")
    covered = int(values.reindex(counties.index).notna().sum())
    if covered < len(counties):  # a small run predicts some counties only: say so, not an empty-looking map
        picked.caption(f"{c['variable']} values for {covered} of the {len(counties)} counties; grey: none.")
    if regions is not None:
        st.html(choropleth.region_legend_html(regions, names))
    # The click is handled in on_change, before the next run draws the map, so that run already
    # outlines the county and shows its details; the click counter in the returned value makes a
    # second click on the same county a change too (it toggles the county off).
    st_folium(maps.base_map(maps._bounds(states), context_states=states), feature_group_to_add=layers,
              height=MAP_HEIGHT, use_container_width=True, key=MAP_KEY,
              returned_objects=["last_object_clicked_count", "last_active_drawing"],
              on_change=functools.partial(_county_clicked, frozenset(options[1:]), frozenset(counties.index)))
    st.caption(f"Colour scale {vmin:,.1f} to {vmax:,.1f} {units} for every year "
               "(2nd–98th percentile of all years); grey: no data. Hover a county for its value; click it (or pick "
               "it below) for its values by year and its daily series.")
    clicked = st.selectbox("County details", options, key="em_county",
                           format_func=lambda f: "— pick a county —" if not f else
                           f"{counties.loc[f, 'name']}, {counties.loc[f, 'state']} ({f})",
                           help="A county's values in every year and its daily series (or click it on the map).")
    if clicked:
        _county_panel(ds, table, clicked, c, units, year)
    s1, s2, s3 = st.columns(3)
    s1.metric("Mean over counties", f"{np.nanmean(values):,.1f}", help=units)
    s2.metric("Lowest county", f"{np.nanmin(values):,.1f}", help=units)
    s3.metric("Highest county", f"{np.nanmax(values):,.1f}", help=units)
    _exports(sel, source, ds, c, table, year, title, units, (vmin, vmax, cmap), states, sites)


def clicked_county(result: dict | None) -> str:
    """FIPS of the county polygon a map click hit ("" for a site, the background or no click)."""
    feature = ((result or {}).get("last_active_drawing") or {}).get("properties") or {}
    fips = str(feature.get("id", ""))
    return fips if len(fips) == 5 and fips.isdigit() else ""


def _county_clicked(with_data: frozenset[str], in_states: frozenset[str]) -> None:
    """A click on the choropleth picks that county for the details panel, or drops it when already picked.

    A county without values (grey) is not picked, but is named with a note that it has no data.
    """
    fips = clicked_county(st.session_state.get(MAP_KEY))
    if fips in with_data:
        st.session_state["em_county"] = "" if st.session_state.get("em_county") == fips else fips
        st.session_state[NO_DATA_KEY] = ""
    elif fips in in_states:
        st.session_state["em_county"] = ""
        st.session_state[NO_DATA_KEY] = "" if st.session_state.get(NO_DATA_KEY) == fips else fips


def _county_panel(ds: xr.Dataset, table: pd.DataFrame, fips: str, c: dict, units: str, year: int) -> None:
    """The clicked county: its value in every year (the map's quantity) and its daily series in the year shown."""
    info = geo.county_table([geo.FIPS_TO_POSTAL[fips[:2]]]).loc[fips]
    name = f"{info['name']} County, {info['state']}"
    with st.container(border=True):
        st.markdown(text.fmt("**{}** ({}): {} {} in {}", name, fips, f"{table.loc[fips, year]:,.1f}", units, year))
        left, right = st.columns(2)
        by_year = table.loc[fips].rename("value").rename_axis("year").reset_index()
        left.plotly_chart(charts.yearly_bars(by_year, f"{_title(c)} by year", units,
                                             labels.flux_colour(c["variable"])), key="em_county_years")
        da = ds[c["variable"]]
        if "time" in da.dims and fips in set(ds["unit"].values.astype(str)):
            part = da.sel(unit=fips).sel(time=str(year))
            if "model" in part.dims:
                shown = [m for m in ("truth", c["model"] or "state_specific", "global") if m in part["model"].values]
                series = {str(m): part.sel(model=m).values for m in dict.fromkeys(shown)}
            else:
                series = {"observed": part.values}
            right.plotly_chart(charts.timeseries_figure(part["time"].values, series, c["variable"],
                                                        da.attrs.get("units", ""),
                                                        f"Daily {labels.flux_name(c['variable'], short=True)}, {year}"),
                               key="em_county_series")


# ------------------------------------------------------------------------------------- exports
def _metrics_table(source: str, ds: xr.Dataset, values: pd.Series, title: str, units: str) -> pd.DataFrame:
    if source != OBSERVED:
        table = data_session.run_results(source).summary_table()
        if len(table):
            return table
    states = pd.Series(ds["state"].values.astype(str), index=ds["unit"].values.astype(str))
    frame = pd.DataFrame({"value": values, "state": states.reindex(values.index)})
    out = frame.groupby("state")["value"].agg(["mean", "min", "max", "count"])
    return out.rename(columns={"mean": f"mean ({units})", "min": f"min ({units})", "max": f"max ({units})",
                               "count": "counties"})


def _exports(sel, source, ds, c, table, year, title, units, scale, states, sites) -> None:
    values = table[year]
    st.subheader("Exports")
    if not st.toggle("Prepare downloads", key="em_exports",
                     help="Builds NetCDF, CSV, GeoJSON, PNG and the HTML report of this view."):
        st.caption("Turn on to build the downloads (predictions, map files and a one-page report).")
        return
    vmin, vmax, cmap = scale
    stem = f"{c['variable']}_{c['period']}_{year}".replace(" ", "_")
    png = export.map_png(values, f"{title}, {choropleth.period_label(c['period'])} {year}", units, states,
                         cmap=cmap, vmin=vmin, vmax=vmax, sites=sites)
    field = ds[[c["variable"]]]
    csv = table.rename_axis("fips").reset_index().melt(id_vars="fips", var_name="year",
                                                       value_name=f"{title} [{units}]").to_csv(index=False)
    b = st.columns(5)
    b[0].download_button("Predictions (NetCDF)", export.predictions_netcdf(field), f"{c['variable']}.nc",
                         "application/x-netcdf", help="The daily (or annual) field of this source, all models.")
    b[1].download_button("Map values (CSV)", csv.encode(), f"{stem}.csv", "text/csv",
                         help="Per county and year, the values drawn on the map.")
    b[2].download_button("Map (GeoJSON)", export.map_geojson(values, title, units, states).encode(),
                         f"{stem}.geojson", "application/geo+json", help="County polygons with the values.")
    b[3].download_button("Map (PNG)", png, f"{stem}.png", "image/png", help="The map as an image.")
    metrics = _metrics_table(source, ds, values, title, units)
    content = report.ReportContent(
        title=f"Land carbon emissions: {title}",
        region=report.region_text(sel.states, len(values), len(sel.counties)),
        metrics=metrics, source=_sources().get(source, source),
        maps=[report.ReportMap(f"{title} {year}", png, f"{choropleth.period_label(c['period'])}, {units}")],
        figures=[("County values", charts.histogram_figure(values, title, units, f"{title}: counties, {year}"))],
        notes=[f"Mean over the {values.notna().sum()} counties: {np.nanmean(values):,.1f} {units}; "
               f"range {np.nanmin(values):,.1f} to {np.nanmax(values):,.1f}."])
    b[4].download_button("Report (HTML)", report.build_report(content).encode(), "kgml_report.html", "text/html",
                         key="em_report", help="One self-contained page: region, metrics table, map and chart.")
    st.dataframe(metrics, width="stretch")


def main() -> None:
    st.title("Emission maps")
    sel = selection.current()
    sources = _sources()
    cols = st.columns([1.6, 2.4, 1.4, 1.5, 2.0])  # flux and model names readable at 1440 px
    source = _select(cols[0], "Source", list(sources), "em_source", format_func=sources.get,
                     help="The observed world of the simulator, or a finished run's predictions.")
    ds = _source_dataset(source, tuple(sel.states))
    _draw(sel, source, ds, _controls(cols, ds))
    persist.remember(*SETTINGS)
    if len(sources) == 1:
        st.info("No trained run yet: the maps show the simulated observed world. "
                "Start a state-vs-global or TAM-RL run on the **Train** page (or open the example results on "
                "**Home**) to map model predictions.", icon=":material/info:")
    st.caption("County sums of daily carbon fluxes, from a trained model's predictions or from the "
               "embedded observed world. Load real files on the **Data** page.")


try:
    main()
except Exception as err:  # the page boundary: a short message, details in the log
    theme.show_error("The emission maps could not be drawn", err)
