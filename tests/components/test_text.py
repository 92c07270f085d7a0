"""User text as plain text: Markdown, links, icons, HTML and template literals made inert."""
import pytest

from components import text

NASTY = "**[Login](https:e.co)** ![](//127.0.0.1:9) root:x:0:0 :material/home: :red[hi] $x^2$ <b>b</b> www.e.co a@b.co"


def test_plain_escapes_every_markdown_construct():
    out = text.plain(NASTY)
    for raw in ("**", "[Login]", "![]", "<b>", ":material/", ":red[", "www.e", "a@b"):
        assert raw not in out
    assert "\\$x" in out and "//127" in out  # escaped; the image is inert without its brackets
    assert "\n" not in text.plain("a\nb\r\nc") and text.plain("a\x00b") == "a?b"
    assert len(text.plain("x" * 1000)) == text.DEFAULT_LIMIT


@pytest.mark.parametrize("start", ["- item", "+ item", "# head", "> quote", "1. item", "2) item"])
def test_plain_escapes_block_markers_at_the_start(start):
    assert text.plain(start).startswith(("\\", start.split()[0][:-1]))
    assert text.plain(start) != start


def test_fmt_keeps_the_template_and_escapes_values():
    assert text.fmt("**{}** queued", "*x*") == "**\\*x\\*** queued"
    assert text.fmt("{a} and {b}", a="_a_", b="b") == "\\_a\\_ and b"


def test_redact_paths_keeps_only_the_last_part():
    err = FileNotFoundError("[Errno 2] No such file: '/tmp/kgml/runs/20260101-000000-abcdef/log.txt'")
    assert text.error_line(err) == "[Errno 2] No such file: 'log.txt'"
    assert text.redact_paths("run 'x' not found in /home/u/.kgml/runs") == "run 'x' not found in runs"
    assert text.redact_paths("a/b and https://e.co/x stay") == "a/b and https://e.co/x stay"


def test_tooltip_is_inert_html_and_template_literal():
    out = text.tooltip("<img src=x onerror=alert(1)>`${alert(2)}`\\")
    assert "<" not in out and "`" not in out and "${" not in out and "\\" not in out
    assert out.startswith("&lt;img")
