"""Where a loader's bytes come from: files, zip members (streamed), first and last bytes, binary formats.

Nothing here decompresses a whole archive member or reads a whole file: detection and
header checks read the first 64 KiB, the truncation check the last :data:`TAIL_BYTES`.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

from kgml_core.loaders.errors import LoaderError


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


class TailRecorder(io.RawIOBase):
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


def tail_of_file(path: str | Path) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(0, io.SEEK_END)
        fh.seek(max(0, fh.tell() - TAIL_BYTES))
        return fh.read()


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
