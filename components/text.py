"""Text from users and files shown as plain text, never as Markdown, HTML, a link or a script.

Streamlit renders every message, toast, caption and card as Markdown (links,
images that fetch remote URLs, emoji and icon shortcodes, colour directives, math).
Run names, file names, file content, URL values, site names and error messages come
from users or files, so every page formats them with :func:`fmt` (Markdown
templates written here, values made plain) and every map tooltip with
:func:`tooltip` (HTML and JavaScript template literal escaped). Server paths are
cut down to their last part by :func:`redact_paths` before they reach a message.
"""
from __future__ import annotations

import html
import re

# characters that start Markdown anywhere in a line (emphasis, links and images, code, HTML and
# autolinks, strikethrough, math, entities); the others only at the start of a line (lists, headings)
_MARKDOWN = re.compile(r"([\\`*_\[\]<>~$&])")
_LINE_START = re.compile(r"^(\s*)([-+#>=]|\d+(?=[.)]))")
# GFM turns these into links or icons even when escaped: a word joiner (invisible) breaks them
_AUTOLINK = re.compile(r"(?i)(://|www\.|@|:(?=[a-z_/]))")
_WORD_JOINER = "\u2060"
# an absolute POSIX path of two parts or more (``/srv/data/x.csv``), or a ``~`` path
_PATH = re.compile(r"(?<![\w.:/])(?:~|/)[^\s'\"`:,;()\[\]{}<>]*/([^\s'\"`:,;()\[\]{}<>/]+)")
DEFAULT_LIMIT = 300


def one_line(text: object, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` on one line: control characters as '?', at most ``limit`` characters."""
    flat = "".join(c if c.isprintable() else "?" for c in " ".join(str(text).split()))
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def redact_paths(text: object) -> str:
    """``text`` with every absolute server path replaced by its last part (``/srv/a/b.csv`` -> ``b.csv``)."""
    return _PATH.sub(lambda m: m.group(1), str(text))


def plain(text: object, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` escaped so that Streamlit's Markdown shows it literally, on one line."""
    flat = one_line(text, limit)
    flat = _AUTOLINK.sub(lambda m: m.group(1)[0] + _WORD_JOINER + m.group(1)[1:], flat)
    flat = _MARKDOWN.sub(r"\\\1", flat)
    return _LINE_START.sub(lambda m: m.group(1) + ("\\" + m.group(2) if not m.group(2)[0].isdigit()
                                                    else m.group(2) + "\\"), flat)


def fmt(template: str, *args: object, **kwargs: object) -> str:
    """``template.format(...)`` with every value made :func:`plain` (the template itself is trusted Markdown)."""
    return template.format(*(plain(a) for a in args), **{k: plain(v) for k, v in kwargs.items()})


def error_line(err: BaseException) -> str:
    """The first line of an exception's message without server paths (to pass through :func:`fmt`)."""
    lines = str(err).strip().splitlines()
    return redact_paths(lines[0]) if lines else type(err).__name__


def tooltip(text: object, limit: int = 200) -> str:
    """``text`` safe inside folium's tooltip: HTML-escaped, and inert in a JavaScript template literal."""
    escaped = html.escape(one_line(text, limit), quote=True)
    return escaped.replace("\\", "&#92;").replace("`", "&#96;").replace("$", "&#36;")
