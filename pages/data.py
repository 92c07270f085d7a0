"""Data: what is loaded (embedded world or real files, with provenance), uploads and folders."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
import xarray as xr

from components import data_session, page, selection, server_files, text, theme
from kgml_core import settings
from kgml_core.loaders import LOADERS, LoaderError, load_any
from kgml_core.loaders.uses import uses

page.enter(__file__)

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
    files = st.file_uploader("FLUXNET, AmeriFlux, NASS, NetCDF or soil grid files",
                             type=["csv", "nc", "zip", "tif", "tiff", "asc"],
                             accept_multiple_files=True, key="data_upload",
                             help="CSV, NetCDF, ZIP, GeoTIFF or ESRI ASCII grid; the content is checked, not just "
                                  "the name.")
    done = st.session_state.setdefault("data_uploaded_ids", set())
    for f in files or []:
        if f.file_id in done:
            continue
        done.add(f.file_id)
        _load_upload(f, kind)


def _load_upload(f, kind: str) -> None:
    """Check, save and load one uploaded file; nothing of it stays on disk unless it loaded."""
    path, loaded = None, False
    try:
        path = data_session.save_upload(data_session.upload_dir(), f.name, f.getvalue())
        data_session.check_files([path])
        _load([path], kind, Path(path).stem)
        loaded = True
        st.success(text.fmt("Loaded {}.", f.name), icon=":material/check_circle:")
    except (LoaderError, ValueError) as err:
        st.error(text.fmt("Could not load {}: {}", f.name, text.error_line(err)), icon=":material/error:")
        theme.log.info("upload %s refused: %s", f.name, err)
    except Exception as err:  # an unforeseen reader error: one line here, the details in the log
        theme.show_error(f"Could not load {f.name}", err)
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
               "(FLUXNET, AmeriFlux, NASS, NetCDF) are checked against the data contract and shown on "
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
