"""Loaders of real data into the data contract (:mod:`kgml_core.schema`).

One module per format; :data:`LOADERS` maps a kind to its loader. Every loader
returns a dataset that passes :func:`kgml_core.schema.validate`, with a
``provenance`` attribute (source file and original column) on every variable, and
raises :class:`LoaderError` (a ``ValueError``) whose one-line message names the
file, the column or row, and what was expected.

:func:`load_file` (one uploaded file) and :func:`load_any` (files and folders) detect
the kind from the content, not only the extension.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import xarray as xr

from kgml_core.loaders.ameriflux import load_ameriflux
from kgml_core.loaders.combine import combine, merge
from kgml_core.loaders.county_weather import load_county_weather
from kgml_core.loaders.csv_reader import read_preamble, split_comments
from kgml_core.loaders.datasets import quality_mask, quality_weight
from kgml_core.loaders.errors import LoaderError
from kgml_core.loaders.fluxnet import SITE_COLUMNS as LONG_SITE_COLUMNS
from kgml_core.loaders.fluxnet import is_fluxnet_name, load_fluxnet
from kgml_core.loaders.nass import FIPS_PAIRS as NASS_FIPS_PAIRS
from kgml_core.loaders.nass import FIPS_SINGLE as NASS_FIPS_SINGLE
from kgml_core.loaders.nass import load_nass
from kgml_core.loaders.netcdf import load_netcdf
from kgml_core.loaders.sites import COLUMNS as SITE_COLUMNS
from kgml_core.loaders.sites import load_sites
from kgml_core.loaders.soils import load_soil_grid
from kgml_core.loaders.sources import binary_kind, read_text_head, refuse_binary

Loader = Callable[..., xr.Dataset]

LOADERS: dict[str, Loader] = {
    "fluxnet": load_fluxnet,
    "ameriflux": load_ameriflux,
    "nass": load_nass,
    "netcdf": load_netcdf,
    "sites": load_sites,
    "hrrr": load_county_weather,
    "soil": load_soil_grid,
}
# kinds whose loader takes a list of files at once
MULTI_FILE = ("fluxnet", "ameriflux", "soil")
# (asked, detected) pairs that are fine: the netcdf loader hands a time-less grid to the soil reader
COMPATIBLE = {("netcdf", "soil")}
DATE_WORDS = ("date", "timestamp", "timestamp_start", "datetime", "time", "day", "month")

__all__ = ["LOADERS", "Loader", "LoaderError", "check_kind", "combine", "detect_kind", "guarded", "load_any", "load_file", "merge",
           "quality_mask", "quality_weight"]


def _kind_of_header(columns: list[str], name: str, preamble: bool = False) -> str | None:
    cols = set(columns)
    lower = {c.lower() for c in columns}
    fluxnet_like = any(c.endswith(("_VUT_REF", "_F_MDS_1")) or c in ("TA_F", "SW_IN_F", "P_F") for c in cols)
    if "TIMESTAMP" in cols:
        return "fluxnet"
    if "TIMESTAMP_START" in cols:
        return "fluxnet" if fluxnet_like or preamble or is_fluxnet_name(name) else "ameriflux"
    if lower & set(LONG_SITE_COLUMNS) and lower & set(DATE_WORDS):
        return "fluxnet"  # a long table: one row per site and day (or month)
    if {"Program", "Data Item", "Value"} <= cols:
        return "nass"
    if {"short_desc", "commodity_desc", "value"} <= lower:
        return "nass"  # Quick Stats API export
    county_code = bool(lower & set(NASS_FIPS_SINGLE)) or any({a, b} <= lower for a, b in NASS_FIPS_PAIRS)
    if county_code and "year" in lower and any(c.startswith("yield") for c in lower):
        return "nass"
    if "fips" in lower and "date" in lower:
        return "hrrr"
    if any(a in lower for a in SITE_COLUMNS["id"]) and any(a in lower for a in SITE_COLUMNS["lat"]):
        return "sites"
    return None


def _zip_kind(path: Path) -> str:
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            names = [Path(n).name for n in zf.namelist()]
    except zipfile.BadZipFile:
        raise LoaderError(path, "is not a readable zip archive", "a zip file as downloaded") from None
    if any(is_fluxnet_name(n) and n.endswith(".csv") for n in names):
        return "fluxnet"
    if any(n.startswith("AMF_") and "_BASE_" in n for n in names):
        return "ameriflux"
    raise LoaderError(path, f"zip archive holds no FLX_*.csv or AMF_*_BASE_*.csv ({len(names)} member(s))",
                      "a FLUXNET or AmeriFlux BASE archive")


def _netcdf_kind(path: Path) -> str:
    """netcdf for a daily grid or a contract file, soil for a grid without a time axis."""
    from kgml_core.loaders.netcdf import open_dataset

    with open_dataset(path) as ds:
        return "soil" if "time" not in ds.dims and "unit" not in ds.dims else "netcdf"


def detect_kind(path: str | Path) -> str:
    """The loader kind of a file or folder, from its content (magic bytes, header line)."""
    path = Path(path)
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir())
        if any(is_fluxnet_name(n) for n in names):
            return "fluxnet"
        if any(n.startswith("AMF_") for n in names):
            return "ameriflux"
        if any(n.lower().endswith((".tif", ".tiff", ".asc")) for n in names):
            return "soil"
        raise LoaderError(path, "folder holds no FLX_*, AMF_* or soil grid file",
                          "a folder of FLUXNET or AmeriFlux files or of soil grids (.tif, .asc)")
    if not path.exists():
        raise LoaderError(path, "does not exist", "an existing file")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    magic = head[:4]
    if magic[:3] == b"CDF" or magic == b"\x89HDF":
        return _netcdf_kind(path)
    if magic[:2] == b"PK":
        return _zip_kind(path)
    if magic in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "soil"
    what = binary_kind(head)
    if what:
        raise LoaderError(path, f"is {what}, not a data file the loaders read",
                          "a CSV, zip, NetCDF, GeoTIFF or ESRI ASCII grid file")
    text = read_text_head(path)
    if not text.strip():
        raise LoaderError(path, "the file is empty", "a CSV, zip or NetCDF file")
    if text.lstrip().lower().startswith("ncols"):
        return "soil"  # ESRI ASCII grid
    skipped, header = split_comments(text)
    import csv

    columns = [c.strip() for c in next(csv.reader([header]))] if header else []
    kind = _kind_of_header(columns, path.name, preamble=bool(read_preamble(text)))
    if kind is None:
        for sep in (";", "\t"):
            if sep in header and _kind_of_header([c.strip() for c in header.split(sep)], path.name):
                raise LoaderError(path, f"the header is separated by {sep!r}, not commas", "a comma-separated file")
        shown = ", ".join(columns[:8]) + (f" and {len(columns) - 8} more" if len(columns) > 8 else "")
        raise LoaderError(path, f"cannot tell what kind of file this is from its header (columns: {shown or 'none'})",
                          f"one of {list(LOADERS)}: FLUXNET (TIMESTAMP...), AmeriFlux BASE (TIMESTAMP_START...), "
                          "NASS (Program, Data Item, Value / fips, year, yield...), county weather (fips, date), "
                          "site list (id, lat, lon), NetCDF, soil grids (GeoTIFF, ESRI ASCII)")
    return kind


def check_kind(path: str | Path, kind: str) -> str:
    """``kind`` when ``path`` may be of that kind; raises when its content is clearly another kind."""
    if kind not in LOADERS:
        raise ValueError(f"unknown loader kind {kind!r}: expected one of {list(LOADERS)}")
    if Path(path).is_file():
        refuse_binary(path)  # a pickle, Parquet file or image is refused as such, whatever was asked
    try:
        detected = detect_kind(path)
    except LoaderError:
        return kind  # let the named loader report precisely what is wrong
    if (kind, detected) in COMPATIBLE:
        return kind
    if detected != kind:
        raise LoaderError(path, f"looks like a {detected} file, not {kind}", f"a {kind} file")
    return kind


def load_file(path: str | Path, kind: str | None = None, **options) -> xr.Dataset:
    """Load one file (as uploaded in the app) into the contract.

    Parameters
    ----------
    path : the file (CSV, zip or NetCDF).
    kind : one of :data:`LOADERS`; detected from the content when None. A file whose
        content is clearly of another kind is refused with a message saying so.
    options : passed to the loader (e.g. ``site_list``, ``crop``, ``states``, ``min_coverage``).
    """
    detected = detect_kind(path) if kind is None else check_kind(path, kind)
    return guarded(path, detected, LOADERS[detected], path, **options)


def guarded(path, kind: str, loader: Loader, *args, **options) -> xr.Dataset:
    """Run ``loader``; anything but a :class:`LoaderError` becomes one line naming the file (details in the log).

    The loaders check what they read; this is the net under them, so that no raw xarray,
    pandas or library message (many lines, internal names) reaches the user.
    """
    import logging

    from kgml_core.schema import ContractError

    try:
        return loader(*args, **options)
    except LoaderError:
        raise
    except ContractError as err:
        more = f" (and {len(err.problems) - 1} more)" if len(err.problems) > 1 else ""
        raise LoaderError(path, f"was read but does not follow the data contract: {err.problems[0]}{more}",
                          f"a {kind} file the loader understands") from None
    except (ValueError, KeyError, TypeError, IndexError, OSError, RuntimeError) as err:
        logging.getLogger(__name__).warning("%s loader failed on %s", kind, path, exc_info=True)
        raise LoaderError(path, f"could not be read as a {kind} file ({type(err).__name__} while reading it; "
                                "details are in the server log)", f"a {kind} file as the network publishes it") \
            from None


def load_any(paths: str | Path | Iterable[str | Path], kind: str | None = None, **options) -> xr.Dataset:
    """Load files and folders of one or several kinds and merge them into one dataset.

    Files of the same multi-file kind (FLUXNET, AmeriFlux) are loaded together (one unit
    per site); different kinds are joined with :func:`kgml_core.loaders.combine.merge`,
    earlier sources winning where they overlap. ``options`` go to every loader that accepts them.
    """
    import inspect

    if isinstance(paths, (str, Path)):
        paths = [paths]
    groups: dict[str, list[Path]] = {}
    for p in map(Path, paths):
        groups.setdefault(check_kind(p, kind) if kind else detect_kind(p), []).append(p)
    parts = []
    for k, files in groups.items():
        loader = LOADERS[k]
        accepted = {n: v for n, v in options.items() if n in inspect.signature(loader).parameters}
        if k in MULTI_FILE:
            parts.append(guarded(files[0], k, loader, files, **accepted))
        else:
            parts += [guarded(f, k, loader, f, **accepted) for f in files]
    return parts[0] if len(parts) == 1 else merge(parts)
