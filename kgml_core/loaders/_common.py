"""Helpers every loader shares: checked CSV reading, numbers, timestamps, provenance.

Every check raises :class:`LoaderError` with a message naming the file, the column
or row, and what was expected, so that the CLI and the app can print it as one line.
"""
from __future__ import annotations

import contextlib
import csv
import io
import re
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import schema

MISSING = -9999.0


class LoaderError(ValueError):
    """A file is not what its loader expects; the message names file, column/row and expectation."""

    def __init__(self, path: str | Path, problem: str, expected: str | None = None):
        self.path = str(path)
        self.problem = problem
        self.expected = expected
        tail = f"; expected {expected}" if expected else ""
        super().__init__(f"{Path(self.path).name}: {problem}{tail}")


def name_of(path: str | Path) -> str:
    """File name used in messages and provenance (the member name for zip members)."""
    return Path(str(path)).name


def read_text_head(path: str | Path, n_bytes: int = 65536) -> str:
    """First bytes of a text file decoded leniently (for detection and header checks)."""
    with open(path, "rb") as fh:
        raw = fh.read(n_bytes)
    return raw.decode("utf-8-sig", errors="replace")


class ZipMember:
    """One member of a zip archive, read only when needed and then as a stream (never whole in memory)."""

    def __init__(self, archive: str | Path, name: str):
        self.archive = Path(archive)
        self.name = name

    def head(self, n_bytes: int = 65536) -> bytes:
        """The member's first ``n_bytes`` (decompressing no more than that)."""
        with zipfile.ZipFile(self.archive) as zf, zf.open(self.name) as fh:
            return fh.read(n_bytes)

    def decode(self, encoding: str = "utf-8-sig", errors: str = "replace") -> str:
        """The member's first 64 KiB as text (what header checks read)."""
        return self.head().decode(encoding, errors=errors)

    def read(self) -> bytes:
        """The whole member (for small members only, such as a metadata sheet)."""
        with zipfile.ZipFile(self.archive) as zf:
            return zf.read(self.name)


TAIL_BYTES = 4096


class _Tail(io.RawIOBase):
    """A binary stream passed through unchanged, remembering its last :data:`TAIL_BYTES` (truncation check)."""

    def __init__(self, raw):
        self.raw = raw
        self.tail = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        if data:
            self.tail = (self.tail + data)[-TAIL_BYTES:]
        return len(data)


def source_head(source: bytes | ZipMember, n_bytes: int = 65536) -> str:
    """The first ``n_bytes`` of in-memory or zip-member content, decoded leniently."""
    raw = source.head(n_bytes) if isinstance(source, ZipMember) else source[:n_bytes]
    return raw.decode("utf-8-sig", errors="replace")


def _tail_of_file(path: str | Path) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(0, io.SEEK_END)
        fh.seek(max(0, fh.tell() - TAIL_BYTES))
        return fh.read()


def _decimals(value: str) -> int:
    return len(value.strip().split(".", 1)[1]) if "." in value else 0


def check_complete(path, tail: bytes, n_columns: int, n_lines: int) -> None:
    """Raise when the file looks cut off inside its last row.

    ``tail`` is the file's last bytes, ``n_columns`` the header's. A cut-off download keeps
    a truncated last row (e.g. 25.0 for 250.1). A last line without a line break is
    refused when it has fewer fields than the header, or when its last value has fewer
    decimals than the row before (``25`` after ``180.3``); files that simply lack the final
    line break (NASS exports, ``"\\n".join``) still load.
    """
    if not tail or tail.endswith((b"\n", b"\r")):
        return
    lines = tail.decode("utf-8", errors="replace").splitlines()
    try:
        rows = list(csv.reader(lines[-2:]))
    except csv.Error:
        rows = [[]]
    last, before = rows[-1], rows[0] if len(rows) == 2 else []
    cut = len(last) < n_columns or (
        len(before) == len(last) and last and _decimals(last[-1]) < _decimals(before[-1]))
    if cut:
        raise LoaderError(path, f"the last line (line {n_lines}) ends without a line break in the middle of "
                                "a row or a value: the file looks cut off, so its last row is incomplete",
                          "a complete file (download or copy it again)")


# keys of the ``key,value`` preamble ONEFlux writes before its TIMESTAMP_START header
PREAMBLE_KEYS = {"site", "year", "lat", "lon", "timezone", "htower", "timeres", "sc_negl", "notes"}

# (leading bytes, what they are) of binary formats a user might upload by mistake
BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x80\x02", "a Python pickle"), (b"\x80\x03", "a Python pickle"), (b"\x80\x04", "a Python pickle"),
    (b"\x80\x05", "a Python pickle"), (b"PAR1", "a Parquet file"), (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"), (b"%PDF", "a PDF document"),
    (b"BM", "a BMP image"), (b"\x1f\x8b", "a gzip archive"), (b"7z\xbc\xaf", "a 7-zip archive"),
    (b"Rar!", "a RAR archive"), (b"ARROW1", "an Arrow/Feather file"), (b"\x93NUMPY", "a NumPy array file"),
    (b"\xd0\xcf\x11\xe0", "an old Excel/Office file"), (b"SQLite format", "an SQLite database"),
)
RASTER_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def binary_kind(head: bytes) -> str | None:
    """What a binary file that no loader reads is (e.g. 'a Python pickle'), from its first bytes; None otherwise."""
    for magic, what in BINARY_MAGIC:
        if head.startswith(magic):
            return what
    if head[:4] in RASTER_MAGIC or head[:3] == b"CDF" or head[:4] in (b"\x89HDF", b"PK\x03\x04"):
        return None
    if b"\x00" in head[:4096]:
        return "a binary file of unknown format"
    return None


def refuse_binary(path: str | Path, head: bytes | None = None) -> None:
    """Raise when ``path`` (or ``head``, its first bytes) is a binary file such as a pickle, Parquet or an image."""
    if head is None:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    what = binary_kind(head)
    if what:
        raise LoaderError(path, f"is {what}, not a data file the loaders read",
                          "a CSV, zip, NetCDF, GeoTIFF or ESRI ASCII grid file")


def _content_lines(text: str) -> list[tuple[int, str]]:
    """(0-based line number, line) of the lines that are neither blank nor ``#`` comments."""
    return [(i, ln) for i, ln in enumerate(text.splitlines()) if ln.strip() and not ln.lstrip().startswith("#")]


def _preamble_end(lines: list[tuple[int, str]]) -> int:
    """Index in ``lines`` of the TIMESTAMP header after a ONEFlux ``key,value`` preamble (0 when there is none)."""
    if not lines or lines[0][1].split(",", 1)[0].strip().lower() not in PREAMBLE_KEYS:
        return 0
    for k, (_, line) in enumerate(lines[:200]):
        if line.upper().startswith("TIMESTAMP"):
            return k
    return 0


def split_comments(text: str) -> tuple[int, str]:
    """Number of lines before the header (``#`` comments, blanks, a ONEFlux preamble) and the header line.

    A ONEFlux ``key,value`` preamble (``site,US-ARc``, ``lat,35.5``, ...) is recognised
    when its first key is a ONEFlux key and a ``TIMESTAMP`` header follows.
    """
    lines = _content_lines(text)
    if not lines:
        return len(text.splitlines()), ""
    i, header = lines[_preamble_end(lines)]
    return i, header


def read_preamble(text: str) -> dict[str, str]:
    """The ONEFlux ``key,value`` preamble before the header, lower-case keys (empty when there is none)."""
    lines = _content_lines(text)
    out: dict[str, str] = {}
    for _, line in lines[:_preamble_end(lines)]:
        key, _, value = line.partition(",")
        out[key.strip().lower()] = value.strip().strip(",").strip()
    return out


def check_delimiter(path: str | Path, header: str) -> None:
    """Raise when the header line is clearly separated by something other than commas."""
    if "," in header:
        return
    for sep, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
        if header.count(sep) >= 1:
            raise LoaderError(path, f"the header line is separated by {label}, not commas "
                                    f"({header[:60]!r})", "a comma-separated file")


def read_csv_checked(path: str | Path, required: Iterable[str] = (), usecols=None,
                     dtype=None, kind: str = "CSV",
                     source: bytes | ZipMember | None = None) -> tuple[pd.DataFrame, int]:
    """Read a comma-separated file, skipping leading ``#`` comment lines.

    Parameters
    ----------
    path : the file (used in messages; the bytes come from ``source`` when given).
    required : columns that must be present.
    usecols : callable or list passed to :func:`pandas.read_csv`.
    dtype : dtype passed to :func:`pandas.read_csv`.
    kind : name of the expected format, used in messages.
    source : file content (for zip members: a :class:`ZipMember`, streamed).

    A file that looks cut off is refused (:func:`check_complete`): a cut-off download
    keeps a truncated last row, e.g. 25.0 for 250.1.

    Returns
    -------
    (table, header_line) : the table and the 1-based line number of its header, so that
    data row ``i`` (0-based) is line ``header_line + 1 + i`` of the file.
    """
    if source is not None:
        refuse_binary(path, source.head(4096) if isinstance(source, ZipMember) else source[:4096])
        text = source_head(source)
    else:
        refuse_binary(path)
        text = read_text_head(path)
    if not text.strip():
        raise LoaderError(path, "the file is empty", f"a {kind} file with a header line and data rows")
    skipped, header = split_comments(text)
    if not header:
        raise LoaderError(path, "the file has only comment lines", f"a {kind} header line")
    check_delimiter(path, header)
    columns = next(csv.reader([header]))
    columns = [c.strip() for c in columns]
    missing = [c for c in required if c not in columns]
    if missing:
        raise LoaderError(path, f"missing column(s) {missing}",
                          f"a {kind} file with columns {list(required)}")
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise LoaderError(path, f"column(s) {dupes} appear more than once in the header",
                          "unique column names")
    with contextlib.ExitStack() as stack:
        if isinstance(source, ZipMember):
            zf = stack.enter_context(zipfile.ZipFile(source.archive))
            handle = stack.enter_context(_Tail(stack.enter_context(zf.open(source.name))))
        else:
            handle = io.BytesIO(source) if source is not None else path
        try:
            table = pd.read_csv(handle, skiprows=skipped, usecols=usecols, dtype=dtype,
                                encoding="utf-8-sig", skipinitialspace=True, low_memory=False)
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise LoaderError(path, parser_problem(err, skipped), f"a well-formed {kind} file") from None
        except pd.errors.EmptyDataError:
            raise LoaderError(path, "the file has no header line", f"a {kind} file") from None
        tail = handle.tail if isinstance(handle, _Tail) else (
            source[-TAIL_BYTES:] if source is not None else _tail_of_file(path))
    check_complete(path, tail, len(columns), skipped + 1 + len(table))
    table.columns = [str(c).strip() for c in table.columns]
    if table.empty:
        raise LoaderError(path, "the file has a header but no data rows", f"at least one {kind} row")
    table.attrs["preamble"] = read_preamble(text)
    return table, skipped + 1


def parser_problem(err: Exception, skipped: int) -> str:
    """A pandas/Unicode parsing error in our words (line numbers of the file, no pandas jargon)."""
    import re

    if isinstance(err, UnicodeDecodeError):
        return f"is not UTF-8 text (byte {err.start})"
    text = str(err)
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if fields:
        want, line, saw = fields.groups()
        return f"line {int(line) + skipped} has {saw} fields but the header has {want}"
    if "EOF inside string" in text or "EOF while" in text:
        line = re.search(r"line (\d+)", text)
        where = f" starting on line {int(line.group(1)) + skipped}" if line else ""
        return f"a quoted field{where} is never closed"
    return "cannot be parsed as comma-separated text (unbalanced quotes or ragged rows)"


def numeric_column(path, table: pd.DataFrame, column: str, header_line: int,
                   missing: float | None = MISSING) -> np.ndarray:
    """Column as float64 with ``missing`` (-9999) as NaN; raises naming the first bad row.

    Returns an array of shape (n_rows,).
    """
    values = table[column]
    if values.dtype.kind in "fiu":
        out = values.to_numpy(dtype=float)
    else:
        text = values.fillna("").astype(str).str.strip()
        out = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(out) & (text != "").to_numpy(dtype=bool)
        bad &= ~text.str.upper().isin(["NA", "NAN", "-9999"]).to_numpy(dtype=bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise LoaderError(path, f"column '{column}' has a non-numeric value {text.iloc[i]!r} "
                                    f"on line {header_line + 1 + i}", "a number (or -9999 for missing)")
    if missing is not None:
        out = np.where(np.isclose(out, missing), np.nan, out)
    if np.isinf(out).any():
        i = int(np.flatnonzero(np.isinf(out))[0])
        raise LoaderError(path, f"column '{column}' has an infinite value on line {header_line + 1 + i}",
                          "a finite number")
    return out


def parse_timestamps(path, table: pd.DataFrame, column: str, header_line: int,
                     fmt: str) -> pd.DatetimeIndex:
    """Parse a FLUXNET-style integer timestamp column (``%Y%m%d`` or ``%Y%m%d%H%M``).

    Raises naming the first row that is malformed or not a real date (e.g. 20010230).
    """
    width = 8 if fmt == "%Y%m%d" else 12
    raw = table[column]
    if raw.dtype.kind in "iu":
        stamps, bad = _integer_stamps(raw.to_numpy(dtype=np.int64), width)
        if not bad.any():
            return stamps
    text = raw.astype(object).fillna("").astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    parsed = pd.to_datetime(text.where(text.str.len() == width, None), format=fmt, errors="coerce")
    bad = parsed.isna().to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LoaderError(path, f"column '{column}' has an impossible timestamp {str(raw.iloc[i])!r} "
                                f"on line {header_line + 1 + i}",
                          f"a date written as {'YYYYMMDD' if width == 8 else 'YYYYMMDDHHMM'}")
    return pd.DatetimeIndex(parsed).as_unit("ns")


# how a date column is written -> (pandas format, resolution); compact FLUXNET integers and ISO text
DATE_FORMATS: tuple[tuple[str, str, str], ...] = (
    (r"\d{12}", "%Y%m%d%H%M", "sub"), (r"\d{8}", "%Y%m%d", "D"), (r"\d{6}", "%Y%m", "M"), (r"\d{4}", "%Y", "Y"),
    (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}", "%Y-%m-%d{sep}%H:%M:%S", "sub"),
    (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}", "%Y-%m-%d{sep}%H:%M", "sub"),
    (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d", "D"), (r"\d{4}/\d{2}/\d{2}", "%Y/%m/%d", "D"), (r"\d{4}-\d{2}", "%Y-%m", "M"),
)
RESOLUTION_TEXT = {"sub": "YYYYMMDDHHMM or YYYY-MM-DD HH:MM", "D": "YYYYMMDD or YYYY-MM-DD",
                   "M": "YYYYMM or YYYY-MM", "Y": "YYYY"}


def parse_dates(path, table: pd.DataFrame, column: str, header_line: int) -> tuple[pd.DatetimeIndex, str]:
    """Parse a date column written compactly (``20010530``, ``200105``, ``200105301230``) or in ISO.

    The layout is taken from the first value; every row must follow it. Returns the
    timestamps and the resolution: "sub" (sub-daily), "D", "M" or "Y". Raises naming the
    first row that is malformed or not a real date (e.g. 2001-02-30).
    """
    raw = table[column]
    text = raw.astype(object).fillna("").astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    first = next((t for t in text if t), "")
    layout = next(((pat, fmt, res) for pat, fmt, res in DATE_FORMATS if re.fullmatch(pat, first)), None)
    if layout is None:
        raise LoaderError(path, f"column '{column}' has {first!r} on line {header_line + 1}",
                          "dates written YYYYMMDD[HHMM], YYYYMM, YYYY or ISO YYYY-MM-DD[ HH:MM]")
    pat, fmt, res = layout
    if fmt == "%Y%m%d%H%M" or fmt == "%Y%m%d":
        return parse_timestamps(path, table, column, header_line, fmt), res
    fmt = fmt.replace("{sep}", "T" if "T" in first else " ")
    good_shape = text.str.fullmatch(pat)
    parsed = pd.to_datetime(text.where(good_shape, None), format=fmt, errors="coerce")
    bad = parsed.isna().to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LoaderError(path, f"column '{column}' has an impossible date {text.iloc[i]!r} on line "
                                f"{header_line + 1 + i}", f"a real date written like the first row ({first!r})")
    return pd.DatetimeIndex(parsed).as_unit("ns"), res


def _integer_stamps(values: np.ndarray, width: int) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Vectorised YYYYMMDD[HHMM] integers -> timestamps, and a mask of impossible ones."""
    clock = values % 10_000 if width == 12 else np.zeros_like(values)
    date = values // 10_000 if width == 12 else values
    year, month, day = date // 10_000, (date // 100) % 100, date % 100
    hour, minute = clock // 100, clock % 100
    months = ((year - 1970) * 12 + month - 1).astype("timedelta64[M]")
    start = np.datetime64("1970-01", "M") + months
    stamp = start.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    back_month = stamp.astype("datetime64[M]") != start
    bad = ((year < 1000) | (year > 9999) | (month < 1) | (month > 12) | (day < 1) | back_month
           | (hour > 23) | (minute > 59))
    ns = stamp.astype("datetime64[ns]") + (hour * 60 + minute).astype("timedelta64[m]")
    return pd.DatetimeIndex(ns), bad


def check_unique_increasing(path, stamps: pd.DatetimeIndex, column: str, header_line: int) -> None:
    """Raise on duplicate or decreasing timestamps, naming the first offending line."""
    dup = stamps.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise LoaderError(path, f"column '{column}' repeats timestamp {stamps[i]:%Y-%m-%d %H:%M} "
                                f"on line {header_line + 1 + i}", "each timestamp once")
    if len(stamps) > 1:
        back = np.flatnonzero(np.diff(stamps.asi8) < 0)
        if back.size:
            i = int(back[0]) + 1
            raise LoaderError(path, f"column '{column}' goes back in time on line {header_line + 1 + i} "
                                    f"({stamps[i - 1]:%Y-%m-%d %H:%M} then {stamps[i]:%Y-%m-%d %H:%M})",
                              "timestamps in increasing order")


def check_coordinate(path, name: str, values: np.ndarray, low: float, high: float) -> None:
    """Raise, naming coordinate variable ``name``, when ``values`` holds missing, infinite or out-of-range values."""
    values = np.asarray(values, dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise LoaderError(path, f"coordinate '{name}' has {int(bad.sum())} missing or infinite value(s) "
                                f"of {values.size}", f"a finite value in [{low:g}, {high:g}] at every grid cell")
    out = (values < low) | (values > high)
    if out.any():
        raise LoaderError(path, f"coordinate '{name}' has {int(out.sum())} value(s) outside [{low:g}, {high:g}] "
                                f"(e.g. {values[out].flat[0]:g})", f"degrees in [{low:g}, {high:g}]")


def provenance(path, column: str, note: str = "") -> str:
    """Provenance string for a variable: source file, original column and any conversion."""
    text = f"{name_of(path)}:{column}"
    return f"{text} ({note})" if note else text


def site_dataset(site: str, days: pd.DatetimeIndex, variables: dict[str, tuple[np.ndarray, str]],
                 lat: float = np.nan, lon: float = np.nan, state: str = "") -> xr.Dataset:
    """One-site contract dataset from daily arrays.

    ``variables`` maps contract name -> (values of shape (n_days,), provenance).
    """
    ds = schema.empty_units([site], [lat], [lon], state, "site")
    ds = ds.assign_coords(time=("time", days.values.astype("datetime64[ns]")))
    for name, (values, prov) in variables.items():
        schema.set_variable(ds, name, values[None, :], provenance=prov)
    return ds


def full_days(path, days: pd.DatetimeIndex, values: dict[str, np.ndarray]) -> tuple[pd.DatetimeIndex,
                                                                                  dict[str, np.ndarray]]:
    """Reindex daily arrays onto every day from the first to the last row (gaps become NaN)."""
    full = pd.date_range(days[0], days[-1], freq="D")
    if len(full) == len(days):
        return full, values
    pos = ((days - days[0]) // pd.Timedelta(days=1)).to_numpy()
    out = {}
    for name, arr in values.items():
        filled = np.full(len(full), np.nan)
        filled[pos] = arr
        out[name] = filled
    return full, out


def require_some_data(path, ds: xr.Dataset, kind: str) -> None:
    """Raise when every value of every variable is missing (e.g. a file of -9999)."""
    for name in ds.data_vars:
        if np.issubdtype(ds[name].dtype, np.number) and np.isfinite(ds[name].values).any():
            return
    raise LoaderError(path, "every value is missing (-9999 or blank) in the columns the loader reads",
                      f"at least one measured value in a {kind} file")


def quality_mask(ds: xr.Dataset, name: str, min_fraction: float = 0.5) -> xr.DataArray:
    """True where flux ``name`` is present and its daily QC fraction is at least ``min_fraction``.

    Returns a boolean DataArray of the variable's shape; without a ``{name}_QC`` variable
    only presence is tested.
    """
    ok = ds[name].notnull()
    qc = f"{name}_QC"
    if qc in ds:
        ok = ok & (ds[qc] >= min_fraction)
    return ok


def quality_weight(ds: xr.Dataset, name: str) -> xr.DataArray:
    """Sample weights in [0, 1] for flux ``name``: its QC fraction, 0 where the value is missing."""
    qc = ds[f"{name}_QC"] if f"{name}_QC" in ds else xr.ones_like(ds[name])
    return xr.where(ds[name].notnull(), qc.fillna(0.0), 0.0)


def iter_members(path: Path, suffixes: tuple[str, ...] = (".csv",)) -> list[tuple[str, ZipMember]]:
    """(member name, :class:`ZipMember`) of the CSV files inside a zip archive, in name order.

    Nothing is decompressed here: a member is read (streamed) only by the loader that uses it.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            names = sorted(n for n in zf.namelist() if n.lower().endswith(suffixes)
                           and not Path(n).name.startswith("."))
            return [(n, ZipMember(path, n)) for n in names]
    except zipfile.BadZipFile:
        raise LoaderError(path, "is not a readable zip archive", "a zip file as downloaded") from None
