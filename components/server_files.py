"""Which server files the Data page may load: only those inside the folders ``KGML_DATA_ROOTS`` names.

Off by default. A path typed in the browser is resolved (``~`` is not expanded;
symlinks and ``..`` are followed) and accepted only when the result lies inside a
root; only regular files are read (no devices, pipes or ``/proc`` files), each
size-capped like an upload, the whole load checked against the memory one load
may use. Every refusal of a path outside the roots reads the same, so the page
never tells whether such a path exists, and no refusal quotes a file's content.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from components import data_session
from kgml_core import settings

OFF = ("Loading files from the server is off on this server: upload files instead "
       "(an administrator enables it for chosen folders with KGML_DATA_ROOTS).")
OUTSIDE = "is not a file or folder inside the folders this server shares (KGML_DATA_ROOTS)"
MAX_FILES = data_session.MAX_ZIP_MEMBERS


class Refused(ValueError):
    """A server path the page will not read; the message names only what the user typed."""


def _inside(path: str, roots: list[Path]) -> bool:
    return any(path == str(root) or path.startswith(str(root).rstrip(os.sep) + os.sep) for root in roots)


def resolve(typed: str, roots: list[Path] | None = None) -> Path:
    """The resolved file or folder ``typed`` names inside one of ``roots`` (default :func:`settings.data_roots`).

    A relative path is taken relative to the first root. Raises :class:`Refused`
    when loading is off, the path is outside every root (whether it exists or not),
    or it is inside but missing.
    """
    roots = settings.data_roots() if roots is None else roots
    if not roots:
        raise Refused(OFF)
    shown = data_session.shown_name(typed.strip() or "(empty)")
    if not typed.strip() or "\x00" in typed:
        raise Refused(f"{shown}: {OUTSIDE}")
    candidate = Path(typed.strip())
    resolved = os.path.realpath(candidate if candidate.is_absolute() else roots[0] / candidate)
    if not _inside(resolved, roots):
        raise Refused(f"{shown}: {OUTSIDE}")
    if not os.path.lexists(resolved):
        raise Refused(f"{shown}: no such file or folder in the shared folders")
    return Path(resolved)


def data_files(path: Path, roots: list[Path] | None = None) -> list[Path]:
    """The regular data files (CSV, NetCDF, zip) to load for ``path`` (a file, or a folder's files).

    Raises :class:`Refused` for a device, pipe or other non-regular file, a folder
    holding no data file, too many files, or a file larger than an upload may be.
    Folder entries that resolve outside the roots are skipped.
    """
    roots = settings.data_roots() if roots is None else roots
    if path.is_dir():
        entries = sorted(Path(os.path.realpath(p)) for p in path.iterdir() if not p.name.startswith("."))
        files = [p for p in entries if _inside(str(p), roots) and _regular(p)
                 and p.suffix.lower() in data_session.ACCEPTED]
        if not files:
            raise Refused(f"{path.name}: the folder holds no CSV, NetCDF or zip file")
        if len(files) > MAX_FILES:
            raise Refused(f"{path.name}: {len(files)} files, at most {MAX_FILES} are loaded at once")
    elif _regular(path):
        files = [path]
    else:
        raise Refused(f"{path.name}: not a regular file (devices, pipes and system files are not read)")
    for f in files:
        size = f.stat().st_size
        if size > data_session.MAX_UPLOAD_BYTES:
            raise Refused(f"{f.name}: larger than {data_session.MAX_UPLOAD_BYTES // 2**20} MB, "
                          "the limit for uploads too")
    return files


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False
