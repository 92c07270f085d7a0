"""Emission maps: county choropleths of RA, RH, RECO, NEE, GPP and YIELD, differences, sites, regions, exports."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import xarray as xr
from streamlit_folium import st_folium

from components import charts, choropleth, data_session, maps, page, selection, theme
from kgml_core import export, report
from kgml_core.experiments import EXPERIMENTS
from kgml_core.experiments.tamrl.results import REAL_PREDICTIONS

page.enter(__file__)

OBSERVED = "observed"
VARIABLES = ("NEE", "RA", "RH", "RECO", "GPP", "YIELD")
DIFFS = {"values": "Values", "state_minus_global": "State-specific − global",
         "model_minus_truth": "Model − truth"}


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
    if diff == "state_minus_global":
        return agg("state_specific") - agg("global")
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
def _controls(sources: dict[str, str], ds: xr.Dataset, source: str) -> dict:
    have = [v for v in VARIABLES if v in ds.data_vars]
    c1, c2, c3 = st.columns([1, 1, 1])
    variable = c1.selectbox("Flux", have, key="em_variable",
                            help="RA autotrophic and RH heterotrophic respiration, RECO = RA + RH, "
                                 "NEE = RECO − GPP (> 0 is a source), GPP uptake, YIELD grain carbon.")
    periods = list(choropleth.PERIODS) if variable != "YIELD" else ["year"]
    period = c2.selectbox("Period", periods, key="em_period", format_func=choropleth.period_label,
                          help="Sum of the daily flux over the whole year, one season or one month.")
    models = [str(m) for m in ds["model"].values] if "model" in ds.coords else []
    diffs = ["values"]
    if {"state_specific", "global"} <= set(models):
        diffs.append("state_minus_global")
    if "truth" in models:
        diffs.append("model_minus_truth")
    diff = c3.radio("Show", diffs, key="em_diff", format_func=DIFFS.get, horizontal=True,
                    help="Values of one model, or a difference map (diverging colours, 0 = no difference).")
    model = None
    if models and diff != "state_minus_global":
        choices = [m for m in models if not (diff == "model_minus_truth" and m == "truth")]
        model = st.selectbox("Model", choices, key="em_model",
                             help="'truth' is the simulated observed world the models were scored on.")
    return {"variable": variable, "period": period, "model": model, "diff": diff}


def _title(c: dict) -> str:
    name = c["variable"] if c["diff"] == "values" else f"{c['variable']} {DIFFS[c['diff']].lower()}"
    return name if not c["model"] or c["diff"] == "state_minus_global" else f"{name} ({c['model']})"


def _draw(sel, source: str, ds: xr.Dataset, c: dict) -> None:
    states = tuple(sorted(set(ds["state"].values.astype(str))))
    table = period_values(source, tuple(sel.states), c["variable"], c["model"], c["period"], c["diff"])
    years = [int(y) for y in table.columns]
    year = st.slider("Year", min(years), max(years), max(years), key="em_year",
                     help="Calendar year of the map; the colour scale is fixed across years.") \
        if len(years) > 1 else years[0]
    diverging = c["variable"] in choropleth.DIVERGING or c["diff"] != "values"
    vmin, vmax = choropleth.colour_range(table, diverging)
    cmap = choropleth.CMAPS["diff" if c["diff"] != "values" else c["variable"]]
    units = choropleth.period_units(ds[c["variable"]].attrs.get("units", ""), c["period"],
                                    annual=c["variable"] == "YIELD")
    l1, l2 = st.columns(2)
    show_sites = l1.toggle("Flux sites (coloured by TAM-RL RMSE)", value=True, key="em_sites",
                           help="Real sites loaded on the Data page and the real sites of the latest TAM-RL run.")
    show_regions = l2.toggle("Detected regions", value=False, key="em_regions",
                             help="Regions of the Auto Region Detector (from the run, or detected on the world).")
    values = table[year]
    sites = site_errors(c["variable"]) if show_sites and c["variable"] in ("GPP", "RECO", "NEE") else \
        (site_errors("NEE").assign(error=np.nan) if show_sites else None)
    regions, names = _regions(source, tuple(sel.states)) if show_regions else (None, None)
    title = _title(c)
    # The base map never changes for a region, so st_folium updates the layers in place
    # instead of re-mounting the map: a change of flux or year redraws only the colours.
    layers = choropleth.choropleth_layers(states, values, title, units, vmin, vmax, cmap, sites=sites,
                                          regions=regions, region_names=names, highlight=sel.counties)
    caption = f"{choropleth.period_label(c['period'])} {year}"
    st.markdown(f"**{title}**, {caption} ({units})")
    st.html(choropleth.legend_html(f"{title} {caption}", units, vmin, vmax, cmap, floating=False))
    st_folium(maps.base_map(maps._bounds(states)), feature_group_to_add=layers, height=540,
              use_container_width=True, returned_objects=[], key="emission_map")
    st.caption(f"Colour scale {vmin:,.1f} to {vmax:,.1f} {units} for every year "
               "(2nd–98th percentile of all years); grey: no data. Hover a county for its value.")
    s1, s2, s3 = st.columns(3)
    s1.metric("Mean over counties", f"{np.nanmean(values):,.1f}", help=units)
    s2.metric("Lowest county", f"{np.nanmin(values):,.1f}", help=units)
    s3.metric("Highest county", f"{np.nanmax(values):,.1f}", help=units)
    _exports(sel, source, ds, c, table, year, title, units, (vmin, vmax, cmap), states, sites)


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
    st.caption("County sums of daily carbon fluxes, from a trained model's predictions or from the "
               "embedded observed world. Train models on the **Train** page; load real files on the **Data** page.")
    sel = selection.current()
    sources = _sources()
    source = st.selectbox("Source", list(sources), format_func=sources.get, key="em_source",
                          help="The observed world of the simulator, or a finished run's predictions.")
    if len(sources) == 1:
        st.info("No trained run yet: the maps show the simulated observed world. "
                "Start a state-vs-global or TAM-RL run on the **Train** page to map model predictions.",
                icon=":material/info:")
    ds = _source_dataset(source, tuple(sel.states))
    _draw(sel, source, ds, _controls(sources, ds, source))


try:
    main()
except Exception as err:  # the page boundary: a short message, details in the log
    theme.show_error("The emission maps could not be drawn", err)
