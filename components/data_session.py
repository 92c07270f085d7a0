"""What data this browser session uses: the embedded simulated world, real files, finished runs.

Session state key ``loaded_data`` holds the real datasets loaded on the Data page
(name -> :class:`Loaded`); ``use_real_data`` says whether the other pages draw them.
Uploads are written, with sanitised names, into a temporary folder of the session.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import time
import weakref
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd
import streamlit as st
import xarray as xr

from components import runtime
from kgml_core import settings
from kgml_core.atomic import write_atomic

WORLD_YEARS = (2015, 2019)
ACCEPTED = (".csv", ".nc", ".zip", ".tif", ".tiff", ".asc")  # GeoTIFF / ESRI ASCII: soil grids
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
# zip archives: refused before anything is extracted when they would unpack to more than this
MAX_UNZIPPED_BYTES = 1024 * 1024 * 1024
# uncompressed / compressed size of a member: zip bombs reach ~1000, real FLUXNET/AmeriFlux CSV 2-30
MAX_ZIP_RATIO = 100
MAX_ZIP_MEMBERS = 500
DATA_MEMBERS = (".csv", ".nc")
# shipped beside the data in FLUXNET / AmeriFlux BASE-BADM archives; never read
DOC_MEMBERS = (".txt", ".xlsx", ".pdf", ".md", ".json", ".xml")
# peak memory of loading a CSV (tokens, then parsed columns), times its text size
LOAD_MEMORY_FACTOR = 4
MEMORY_SHARE = 0.5  # of the available memory, one load may use this share (unless KGML_LOAD_MEMORY_MB)
UPLOAD_PREFIX = "kgml-upload-"
STALE_UPLOAD_S = 24 * 3600
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass
class Loaded:
    """One loaded real dataset: its name, the loader kind, the dataset and where it came from."""

    name: str
    kind: str
    ds: xr.Dataset
    files: list[str] = field(default_factory=list)

    def provenance(self) -> str:
        """Source files (and original columns where the loader recorded them)."""
        return str(self.ds.attrs.get("source_files") or ", ".join(self.files))


# ---------------------------------------------------------------------------------------------
# pure helpers (unit-tested)
# ---------------------------------------------------------------------------------------------

def sanitise_name(name: str) -> str:
    """A safe file name: no folders, only letters, digits, '_', '-', '.'; at most 120 characters."""
    base = Path(str(name).replace("\\", "/")).name
    base = _UNSAFE.sub("_", base).lstrip(".") or "upload"
    return base[-120:]


def shown_name(name: str, limit: int = 80) -> str:
    """``name`` safe to show in a one-line message: control characters as '?', at most ``limit`` characters."""
    text = "".join(c if c.isprintable() else "?" for c in str(name))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_upload(name: str, data: bytes) -> str:
    """The file's type (".csv", ".nc" or ".zip") after checking extension and content.

    Raises ValueError naming the file when the extension is not accepted or the
    bytes do not look like that type (e.g. a binary file named .csv).
    """
    ext = Path(name).suffix.lower()
    name = shown_name(name)
    if ext not in ACCEPTED:
        raise ValueError(f"{name}: only CSV, NetCDF (.nc), ZIP, GeoTIFF (.tif) and ESRI ASCII grid (.asc) files "
                         f"are accepted, got '{shown_name(ext) or 'no extension'}'")
    if not data:
        raise ValueError(f"{name}: the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"{name}: larger than {MAX_UPLOAD_BYTES // 2**20} MB")
    head = data[:4]
    if ext == ".nc" and not (head[:3] == b"CDF" or head == b"\x89HDF"):
        raise ValueError(f"{name}: not a NetCDF file (expected the CDF or HDF5 signature)")
    if ext == ".zip" and head[:2] != b"PK":
        raise ValueError(f"{name}: not a zip archive")
    if ext == ".csv" and b"\x00" in data[:65536]:
        raise ValueError(f"{name}: binary content, expected comma-separated text")
    if ext in (".tif", ".tiff") and head not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        raise ValueError(f"{name}: not a GeoTIFF (expected the TIFF signature)")
    if ext == ".asc" and not data[:64].lstrip().lower().startswith(b"ncols"):
        raise ValueError(f"{name}: not an ESRI ASCII grid (expected an 'ncols' header line)")
    return ext


def available_memory() -> int:
    """Memory available to new allocations on this machine, bytes (``MemAvailable``)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def load_budget() -> int:
    """Memory one data load may use, bytes: ``KGML_LOAD_MEMORY_MB``, else half the available memory."""
    return settings.load_memory_bytes() or int(available_memory() * MEMORY_SHARE)


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f} MB"


def check_memory(name: str, data_bytes: int, factor: float = LOAD_MEMORY_FACTOR) -> None:
    """Raise ValueError naming ``name`` when loading ``data_bytes`` of data would exceed :func:`load_budget`."""
    need, budget = data_bytes * factor, load_budget()
    if need > budget:
        raise ValueError(f"{shown_name(name)}: holds {_mb(data_bytes)} of data; loading it needs about "
                         f"{_mb(need)} of memory, more than the {_mb(budget)} this server allows for one load")


def _unsafe_member(member: str) -> bool:
    parts = PurePosixPath(member.replace("\\", "/")).parts
    return member.startswith(("/", "\\")) or ".." in parts or bool(re.match(r"^[A-Za-z]:", member))


def check_archive(name: str, data: bytes | str | Path) -> list[str]:
    """The data members (CSV, NetCDF) of zip archive ``data`` (bytes or a path), checked without extracting.

    Raises ValueError naming the archive (and member) when it is unreadable,
    encrypted, would unpack to more than :data:`MAX_UNZIPPED_BYTES` or than the
    memory one load may use (:func:`check_memory`), has a member
    compressed more than :data:`MAX_ZIP_RATIO` times (a zip bomb), more than
    :data:`MAX_ZIP_MEMBERS` members, a member with an absolute path or '..', a
    member that is neither data (CSV, NetCDF) nor documentation (nested archives
    included), or no data member at all.
    """
    name = shown_name(name)
    try:
        with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as err:
        raise ValueError(f"{name}: not a readable zip archive ({err})") from None
    if len(infos) > MAX_ZIP_MEMBERS:
        raise ValueError(f"{name}: {len(infos)} members, at most {MAX_ZIP_MEMBERS} are accepted")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNZIPPED_BYTES:
        raise ValueError(f"{name}: would unpack to {total / 2**20:.0f} MB, more than "
                         f"{MAX_UNZIPPED_BYTES // 2**20} MB")
    members = []
    for info in infos:
        member = shown_name(info.filename)
        if _unsafe_member(info.filename):
            raise ValueError(f"{name}: member '{member}' has an absolute path or '..'")
        if info.flag_bits & 0x1:
            raise ValueError(f"{name}: member '{member}' is encrypted")
        if info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            raise ValueError(f"{name}: member '{member}' is compressed "
                             f"{info.file_size / max(info.compress_size, 1):.0f} times "
                             f"(more than {MAX_ZIP_RATIO}): refused as a possible zip bomb")
        suffix = PurePosixPath(info.filename).suffix.lower()
        if info.is_dir() or suffix in DOC_MEMBERS:
            continue
        if suffix not in DATA_MEMBERS:
            raise ValueError(f"{name}: member '{member}' is not CSV or NetCDF "
                             "(archives may hold only CSV and NetCDF files)")
        members.append(info)
    if not members:
        raise ValueError(f"{name}: the archive holds no CSV or NetCDF file")
    check_memory(name, sum(i.file_size for i in members))
    return [i.filename for i in members]


def save_upload(folder: Path, name: str, data: bytes) -> Path:
    """Check an uploaded file (and a zip's members) and write it into ``folder`` under a sanitised name.

    Nothing is written when a check fails; the file appears in ``folder`` only
    complete (written to a temporary name, then renamed).
    """
    ext = check_upload(name, data)
    if ext == ".zip":
        check_archive(name, data)
    elif ext == ".csv":
        check_memory(name, len(data))
    path = Path(folder) / sanitise_name(name)
    write_atomic(path, lambda tmp: Path(tmp).write_bytes(data))
    return path


def data_bytes(path: Path) -> int:
    """How many bytes of data loading ``path`` reads: a zip's data members unpacked, a NetCDF's arrays.

    A zip archive is checked by :func:`check_archive` on the way (without extracting).
    """
    suffix = path.suffix.lower()
    if suffix == ".zip":
        check_archive(path.name, path)
        with zipfile.ZipFile(path) as zf:
            return sum(i.file_size for i in zf.infolist() if PurePosixPath(i.filename).suffix.lower() in DATA_MEMBERS)
    if suffix == ".nc":  # compressed NetCDF4 unpacks: count its arrays (read lazily, nothing loaded)
        try:
            with xr.open_dataset(path, decode_times=False) as ds:
                return int(sum(v.nbytes for v in ds.variables.values()))
        except (OSError, ValueError):
            return path.stat().st_size  # the loader reports what is wrong with it
    return path.stat().st_size


def check_files(paths: list[Path]) -> None:
    """Raise ValueError naming the first file when the data of ``paths`` together would not fit :func:`load_budget`."""
    total = 0
    for path in paths:
        total += data_bytes(path)
        check_memory(path.name if len(paths) == 1 else f"{path.name} and the files before it", total)


class UploadFolder:
    """A private temporary folder, deleted when this object is garbage-collected or at exit.

    Kept in a session's state, so the folder goes when Streamlit drops the session.
    """

    def __init__(self, parent: str | Path | None = None):
        self.path = Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX, dir=parent))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)

    def cleanup(self) -> None:
        """Delete the folder now."""
        self._finalizer()


def sweep_stale_uploads(parent: str | Path | None = None, max_age_s: float = STALE_UPLOAD_S) -> int:
    """Delete upload folders older than ``max_age_s`` s (left by a killed server); returns how many."""
    parent = Path(parent or tempfile.gettempdir())
    removed = 0
    for path in parent.glob(f"{UPLOAD_PREFIX}*"):
        try:
            if path.is_dir() and time.time() - path.stat().st_mtime > max_age_s:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


def site_table(ds: xr.Dataset) -> pd.DataFrame:
    """Index site id; columns lat, lon, first, last (dates) of a site dataset."""
    out = pd.DataFrame({"lat": ds["lat"].values.astype(float), "lon": ds["lon"].values.astype(float)},
                       index=pd.Index(ds["unit"].values.astype(str), name="site"))
    if "time" in ds.dims:
        out["first"] = str(pd.Timestamp(ds["time"].values[0]).date())
        out["last"] = str(pd.Timestamp(ds["time"].values[-1]).date())
    return out


def default_site_list() -> Path | None:
    """The FLUXNET2015 site list beside the project (coordinates of real sites), if present."""
    path = settings.data_dir() / "sites" / "fluxnet2015_site_list.csv"
    return path if path.exists() else None


# ---------------------------------------------------------------------------------------------
# session state and caches
# ---------------------------------------------------------------------------------------------

@st.cache_resource(max_entries=4, show_spinner="Simulating the embedded world (first time only)...")
def observed_world(states: tuple[str, ...], years: tuple[int, int] = WORLD_YEARS) -> xr.Dataset:
    """The simulator's observed world of ``states`` (shared, never mutated by pages)."""
    from kgml_core.simulator import WorldConfig, load_world

    return load_world(WorldConfig(states=tuple(states), years=tuple(years)))


def loaded() -> dict[str, Loaded]:
    """Real datasets loaded in this session (name -> :class:`Loaded`)."""
    return st.session_state.setdefault("loaded_data", {})


def add(item: Loaded) -> None:
    """Keep a loaded dataset in the session (replacing one of the same name) and use real data."""
    loaded()[item.name] = item
    st.session_state["use_real_data"] = True


def remove(name: str) -> None:
    """Forget a loaded dataset."""
    loaded().pop(name, None)


def use_real() -> bool:
    """Whether the other pages should show the real data loaded here."""
    return bool(st.session_state.get("use_real_data", True)) and bool(loaded())


@st.cache_resource(show_spinner=False)
def _swept_at_start() -> int:
    return sweep_stale_uploads()


def upload_dir() -> Path:
    """This session's private folder for uploads (deleted with the session, or at server exit)."""
    folder = st.session_state.get("upload_folder")
    if not isinstance(folder, UploadFolder) or not folder.path.is_dir():
        _swept_at_start()
        folder = UploadFolder()
        st.session_state["upload_folder"] = folder
    return folder.path


def real_sites() -> xr.Dataset | None:
    """All loaded site datasets (FLUXNET, AmeriFlux) merged on one daily axis, or None."""
    if not use_real():
        return None
    parts = [item.ds for item in loaded().values()
             if "unit_kind" in item.ds.coords and (item.ds["unit_kind"].values == "site").all()
             and "time" in item.ds.dims]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else xr.concat(parts, dim="unit", join="outer", data_vars="all",
                                                     coords="different", compat="override")


def runs_table(kinds: tuple[str, ...]) -> pd.DataFrame:
    """Finished runs of the given kinds, newest first (from the shared, briefly cached run index)."""
    table = runtime.runs_table()
    if table.empty:
        return table
    table = table[table["kind"].isin(kinds) & (table["status"] == "finished")]
    return table.sort_values("created", ascending=False)


@st.cache_resource(max_entries=6, show_spinner="Reading the run's predictions...")
def run_predictions(run_id: str, which: str = "predictions") -> xr.Dataset:
    """A run's saved NetCDF: ``predictions``, ``upscaled`` or ``real_predictions``."""
    return runtime.run_store().get(run_id).dataset(which)


def run_results(run_id: str):
    """The typed results reader of a run (its experiment's ``results_class``; metrics briefly cached)."""
    from kgml_core.experiments import get

    run = runtime.run_store().get(run_id)
    return get(run.kind).results_class(run, run_metrics(run_id))


@st.cache_resource(max_entries=6, show_spinner="Reading the run's county map...")
def run_map(run_id: str) -> xr.Dataset:
    """The county dataset a run's emission maps show (its reader's ``map_dataset``)."""
    return run_results(run_id).map_dataset()


def map_kinds() -> tuple[str, ...]:
    """Experiment kinds whose runs have a county map."""
    from kgml_core.experiments import EXPERIMENTS

    return tuple(k for k, e in EXPERIMENTS.items() if e.results_class.MAP_DATASET)


@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def run_metrics(run_id: str) -> dict:
    """A run's metrics.json."""
    return runtime.run_store().get(run_id).metrics()


@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def run_config(run_id: str) -> dict:
    """A run's saved configuration (config.json)."""
    return runtime.run_store().get(run_id).config
