"""Data: what is loaded (embedded world or real files, with provenance), uploads and folders."""
from __future__ import annotations

from components import page

page.enter(__file__)  # before the heavy imports: a cold deep link hands over to app.py at once

from pathlib import Path

import pandas as pd
import streamlit as st
import xarray as xr

from components import charts, data_session, selection, server_files, text, theme
from kgml_core import settings
from kgml_core.loaders import LOADERS, LoaderError, load_any
from kgml_core.loaders.uses import uses


KINDS = ("auto", *LOADERS)
KIND_HELP = ("auto: detected from the content. fluxnet: FLUXNET2015/ONEFlux/ICOS/AmeriFlux-FLUXNET files at any "
             "resolution (HH to YY), ONEFlux output, long tables with a site column, or their zips; "
             "ameriflux: AmeriFlux BASE (BASE-BADM zips give coordinates, IGBP and crop); nass: NASS county yields "
             "(Quick Stats or tidy); netcdf: gridded or contract NetCDF; sites: a site list; hrrr: county daily "
             "weather; soil: soil grids (GeoTIFF, ESRI ASCII, NetCDF without time).")


def _load(paths: list[Path], kind: str, name: str) -> None:
    """Load files/folders with the official loaders and keep them in the session."""
    site_list = data_session.default_site_list()
    options = {"site_list": site_list} if site_list is not None else {}
    ds = load_any(paths, None if kind == "auto" else kind, **options)
    detected = ds.attrs.get("source_format") or kind
    data_session.add(data_session.Loaded(name=name, kind=str(detected), ds=ds, files=[p.name for p in paths]))


def _describe(item: data_session.Loaded) -> dict:
    ds = item.ds
    period = ""
    if "time" in ds.dims:
        t = pd.DatetimeIndex(ds["time"].values)
        period = f"{t[0].date()} to {t[-1].date()} (daily)"
    elif "year" in ds.dims:
        period = f"{int(ds['year'].min())}-{int(ds['year'].max())} (annual)"
    kinds = sorted(set(ds["unit_kind"].values.astype(str))) if "unit_kind" in ds.coords else []
    return {"name": item.name, "format": item.kind, "units": f"{ds.sizes.get('unit', 0)} {'/'.join(kinds)}",
            "period": period, "variables": ", ".join(list(ds.data_vars)[:12]),
            "can be used for": "; ".join(uses(ds)), "provenance": item.provenance()}


def _loaded_section(sel) -> None:
    st.subheader("What is loaded")
    rows = [{"name": "embedded world", "format": "simulator (observed world)",
             "units": f"counties of {', '.join(sel.states)}",
             "period": f"{data_session.WORLD_YEARS[0]}-{data_session.WORLD_YEARS[1]} (daily)",
             "variables": "drivers, soils, GPP, RA, RH, RECO, NEE, YIELD",
             "can be used for": "every experiment on the simulated world (Train page: 'simulated world')",
             "provenance": "kgml_core.simulator on US Census 2016 county boundaries (always available)"}]
    rows += [_describe(item) for item in data_session.loaded().values()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if data_session.loaded():
        st.markdown("**What each loaded source can be used for**")
        for item in data_session.loaded().values():
            st.markdown(text.fmt("- **{}**: ", item.name) + "; ".join(text.plain(u, 1000) for u in uses(item.ds)))
    if data_session.loaded():
        # a widget's own key is dropped on other pages, so the choice lives in a plain key
        st.toggle("Use the real data in the other pages", value=st.session_state.get("use_real_data", True),
                  key="data_use_real", on_change=lambda: st.session_state.update(
                      use_real_data=st.session_state["data_use_real"]),
                  help="Real sites appear on the Flux sites page and on the emission maps.")
        gone = st.selectbox("Forget a loaded dataset", ["—", *data_session.loaded()], key="data_forget",
                            help="Removes it from this session (files you uploaded are deleted with the session).")
        if gone != "—" and st.button("Forget", key="data_forget_btn", help="Remove the chosen dataset."):
            data_session.remove(gone)
            st.rerun()
        with st.expander("Provenance of every variable"):
            for item in data_session.loaded().values():
                prov = {v: item.ds[v].attrs.get("provenance", "") for v in item.ds.data_vars}
                st.dataframe(pd.Series(prov, name="provenance").rename_axis(item.name), width="stretch")


def _upload_section(kind: str) -> None:
    st.subheader("Upload files")
    for level, message in st.session_state.pop("data_upload_messages", []):
        getattr(st, level)(message, icon=":material/error:" if level == "error" else ":material/check_circle:")
    # A refused file must not stay in the uploader looking loaded: after a refusal the uploader is
    # replaced by a fresh, empty one (a new key) and the messages are shown above it.
    round_ = st.session_state.setdefault("data_upload_round", 0)
    files = st.file_uploader("FLUXNET, AmeriFlux, NASS, NetCDF or soil grid files",
                             type=["csv", "nc", "zip", "tif", "tiff", "asc"],
                             accept_multiple_files=True, key=f"data_upload_{round_}",
                             help="CSV, NetCDF, ZIP, GeoTIFF or ESRI ASCII grid; the content is checked, not just "
                                  "the name.")
    done = st.session_state.setdefault("data_uploaded_ids", set())
    messages, refused = [], False
    for f in files or []:
        if f.file_id in done:
            continue
        done.add(f.file_id)
        ok, message = _load_upload(f, kind)
        messages.append(("success" if ok else "error", message))
        refused = refused or not ok
    if refused:
        st.session_state["data_upload_messages"] = messages
        st.session_state["data_upload_round"] = round_ + 1
        st.rerun()
    for level, message in messages:
        getattr(st, level)(message, icon=":material/check_circle:")
    if messages:
        _preview(list(data_session.loaded().values())[-1])


def _preview(item) -> None:
    """A first look at what was just loaded: a daily flux series at its first site, or its yields by year."""
    ds = item.ds
    flux = next((v for v in ("GPP", "NEE", "RECO", "RH", "RA") if v in ds and "time" in ds[v].dims), None)
    try:
        if flux is not None:
            unit = str(ds["unit"].values[0])
            da = ds[flux].sel(unit=unit)
            st.plotly_chart(charts.timeseries_figure(ds["time"].values, {"observed": da.values}, flux,
                                                     da.attrs.get("units", ""), f"Preview: daily {flux} at {unit}"),
                            key="data_preview")
        elif "YIELD" in ds and "year" in ds["YIELD"].dims:
            by_year = ds["YIELD"].mean("unit").to_pandas().rename("value").rename_axis("year").reset_index()
            st.plotly_chart(charts.yearly_bars(by_year, "Preview: mean county yield by year",
                                               ds["YIELD"].attrs.get("units", ""), "#B8860B"), key="data_preview")
    except Exception as err:  # a preview must never hide that the data loaded
        theme.log.info("no preview of %s: %s", item.name, err)


def _load_upload(f, kind: str) -> tuple[bool, str]:
    """Check, save and load one uploaded file: (loaded, the message to show); nothing of it stays on disk
    unless it loaded."""
    path, loaded = None, False
    try:
        path = data_session.save_upload(data_session.upload_dir(), f.name, f.getvalue())
        data_session.check_files([path])
        _load([path], kind, Path(path).stem)
        loaded = True
        return True, text.fmt("Loaded {}.", f.name)
    except (LoaderError, ValueError) as err:
        theme.log.info("upload %s refused: %s", f.name, err)
        return False, text.fmt("Could not load {}: {}", f.name, text.error_line(err))
    except Exception as err:  # an unforeseen reader error: one line here, the details in the log
        theme.log.error("upload %s failed", f.name, exc_info=err)
        return False, text.fmt("Could not load {}: {}", f.name, text.error_line(err))
    finally:  # also when Streamlit stops or reruns the script half-way
        if path is not None and not loaded:
            Path(path).unlink(missing_ok=True)


def _folder_section(kind: str) -> None:
    st.subheader("Load from the server")
    roots = settings.data_roots()
    if not roots:
        st.caption(server_files.OFF)
        return
    st.caption(text.fmt("Files inside {} (the folders this server shares).",
                        ", ".join(r.name or "/" for r in roots)))
    folder = st.text_input("Folder or file on the server", value="", key="data_folder",
                           placeholder="a path inside the shared folders, or relative to the first",
                           help="A folder of FLX_* or AMF_* files, or one file, inside the folders the "
                                "administrator shares (KGML_DATA_ROOTS).")
    if st.button("Load folder", key="data_folder_btn", help="Load everything the folder holds of one kind."):
        try:
            path = server_files.resolve(folder, roots)
            files = server_files.data_files(path, roots)
            data_session.check_files(files)
            _load(files, kind, path.name)
            st.success(text.fmt("Loaded {} ({} file(s)).", path.name, len(files)), icon=":material/check_circle:")
        except (LoaderError, ValueError) as err:
            st.error(text.fmt("Could not load: {}", text.error_line(err)), icon=":material/error:")
        except Exception as err:  # an unforeseen reader error: one line here, the details in the log
            theme.show_error("Could not load the server file", err)


def main() -> None:
    st.title("Data")
    st.caption("Out of the box every page uses the embedded simulated world. Real files loaded here "
               "(FLUXNET, AmeriFlux, NASS, NetCDF, soil grids) are checked against the data contract and shown on "
               "the Flux sites page and the emission maps.")
    sel = selection.current()
    loaded_box = st.container()  # filled last, so it already lists what this run loaded
    kind = st.selectbox("File kind", KINDS, key="data_kind", help=KIND_HELP)
    _upload_section(kind)
    _folder_section(kind)
    with loaded_box:
        _loaded_section(sel)
    real = data_session.loaded()
    if real:
        st.caption(text.fmt("{} real dataset(s) in this session: {}", len(real),
                            ", ".join(f"{n} ({i.ds.sizes.get('unit', 0)} units)" for n, i in real.items())))


try:
    main()
except Exception as err:  # the page boundary
    theme.show_error("The data page failed", err)
