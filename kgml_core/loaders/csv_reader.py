"""Checked CSV reading: comment lines, ONEFlux preambles, delimiters, cut-off files, parser errors in our words.

Every check raises :class:`~kgml_core.loaders.errors.LoaderError` with a message naming the
file, the line or column, and what was expected, so that the CLI and the app can print it
as one line.
"""
from __future__ import annotations

import contextlib
import csv
import io
import re
import zipfile
from pathlib import Path
from typing import Iterable

import pandas as pd

from kgml_core.loaders.errors import LoaderError
from kgml_core.loaders.sources import (TAIL_BYTES, TailRecorder, ZipMember, read_text_head, refuse_binary,
                                       source_head, tail_of_file)


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
            handle = stack.enter_context(TailRecorder(stack.enter_context(zf.open(source.name))))
        else:
            handle = io.BytesIO(source) if source is not None else path
        try:
            table = pd.read_csv(handle, skiprows=skipped, usecols=usecols, dtype=dtype,
                                encoding="utf-8-sig", skipinitialspace=True, low_memory=False)
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise LoaderError(path, parser_problem(err, skipped), f"a well-formed {kind} file") from None
        except pd.errors.EmptyDataError:
            raise LoaderError(path, "the file has no header line", f"a {kind} file") from None
        tail = handle.tail if isinstance(handle, TailRecorder) else (
            source[-TAIL_BYTES:] if source is not None else tail_of_file(path))
    check_complete(path, tail, len(columns), skipped + 1 + len(table))
    table.columns = [str(c).strip() for c in table.columns]
    if table.empty:
        raise LoaderError(path, "the file has a header but no data rows", f"at least one {kind} row")
    table.attrs["preamble"] = read_preamble(text)
    return table, skipped + 1


def parser_problem(err: Exception, skipped: int) -> str:
    """A pandas/Unicode parsing error in our words (line numbers of the file, no pandas jargon)."""
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
