"""A tiny document model rendered twice: Markdown (for diffs) and self-contained HTML (for people).

Both renderings come from the same blocks, so they carry the same content. HTML embeds the
figures as base64 PNG data URIs, has inline CSS and references no external URL.

Every text in a block is plain text, never markup: file and class names, a manifest's `source`,
config strings and paths reach it as they are, so both renderers escape everything they are given.
In Markdown a value cannot start a block (every line break becomes a space, a leading list or
heading marker is escaped), open emphasis, code, a link, an image or a table cell (a backslash
before each of the backslash, the backtick and `* _ [ ] # | ~`), or carry HTML (`& < >` become
entities). Control characters and lone surrogates (a non-UTF-8 name decoded with surrogateescape)
become U+FFFD in both, so either file encodes as UTF-8.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import re
import urllib.parse


@dataclasses.dataclass
class Heading:
    level: int
    text: str


@dataclasses.dataclass
class Para:
    text: str


@dataclasses.dataclass
class Facts:
    """Key/value lines ('- **key**: value')."""

    items: list


@dataclasses.dataclass
class Table:
    headers: list
    rows: list


@dataclasses.dataclass
class Pre:
    text: str


@dataclasses.dataclass
class Link:
    """A line that links to a file by a relative path we build (never a value's own markup)."""

    text: str
    href: str


@dataclasses.dataclass
class Image:
    name: str  # file name in the report folder (PNG)
    caption: str


# ---------------------------------------------------------------- Markdown

# every character that ends a line somewhere: CommonMark (\n, \r), str.splitlines, text viewers
_LINE_BREAKS = re.compile("[\n\r\t\v\f\x1c-\x1e\x85\u2028\u2029]")
# other C0/C1 controls (a terminal escape, NUL) and lone surrogates: shown as U+FFFD
_UNPRINTABLE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff]")
_MD_ESCAPES = {c: "\\" + c for c in "\\`*_[]#|~"}
_MD_ESCAPES.update({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_MD_SPECIAL = re.compile("[%s]" % re.escape("".join(_MD_ESCAPES)))
# what starts a list, a thematic break or a setext heading at the start of a line
_MD_BLOCK_START = re.compile(r"^([-+=]|\d+(?=[.)]))")


def _printable(text):
    """str(text) with controls and lone surrogates as U+FFFD (line breaks and tabs kept)."""
    return _UNPRINTABLE.sub("\ufffd", str(text))


def _md_escape(match):
    """The escape of one special character, or the character where CommonMark reads it as text:
    `_` inside a word (image_size) never opens or closes emphasis; `[` and a `]` followed by
    neither `(`, `[` nor `:` make no link, image or link definition, so '[75.6, 76.4]' stays."""
    char, text, at = match.group(), match.string, match.start()
    after = text[at + 1 : at + 2]
    if char == "_" and at and text[at - 1].isalnum() and after.isalnum():
        return char
    if char == "[" or (char == "]" and after not in ("(", "[", ":")):
        return char
    return _MD_ESCAPES[char]


def _md(text, brackets=False):
    """Plain text -> Markdown that shows exactly it, on one line, with no markup of its own.

    brackets: escape every `[` and `]` (text inside our own brackets: an image's caption)."""
    escape = (
        (lambda m: _MD_ESCAPES[m.group()] if m.group() in "[]" else _md_escape(m))
        if brackets
        else _md_escape
    )
    return _MD_SPECIAL.sub(escape, _LINE_BREAKS.sub(" ", _printable(text)))


def _md_line(text):
    """_md, for text at the start of a line: it cannot start a list, a break or a heading."""
    escaped = _md(text).lstrip(" ")  # four leading spaces would start a code block
    return _MD_BLOCK_START.sub(
        lambda m: m.group() + "\\" if m.group().isdigit() else "\\" + m.group(), escaped
    )


def _md_pre(text):
    """A fenced code block showing text as is: its fence is longer than any backtick run in it."""
    body = _printable(text).rstrip("\n")
    fence = "`" * max([3] + [len(run) + 1 for run in re.findall("`{3,}", body)])
    return "%s\n%s\n%s" % (fence, body, fence)


def _md_block(block):
    if isinstance(block, Heading):
        return "%s %s" % ("#" * block.level, _md(block.text))
    if isinstance(block, Para):
        return _md_line(block.text)
    if isinstance(block, Facts):
        return "\n".join("- **%s**: %s" % (_md(k), _md(v)) for k, v in block.items)
    if isinstance(block, Table):
        lines = [
            "| " + " | ".join(_md(h) for h in block.headers) + " |",
            "|" + "|".join("---" for _ in block.headers) + "|",
        ]
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in block.rows]
        return "\n".join(lines)
    if isinstance(block, Pre):
        return _md_pre(block.text)
    if isinstance(block, Image):  # the name is ours (a PNG written beside the report)
        return "![%s](%s)" % (_md(block.caption, brackets=True), block.name)
    if isinstance(block, Link):
        return "[%s](%s)" % (_md(block.text, brackets=True), _href(block.href))
    raise TypeError("unknown report block %r" % (block,))


def _href(path):
    """A relative path as a URL path: every character but letters, digits and / . _ - ~
    percent-encoded, so it can close neither the link nor an HTML attribute."""
    return urllib.parse.quote(_printable(path), safe="/._-~")


def to_markdown(blocks):
    return "\n\n".join(_md_block(b) for b in blocks) + "\n"


# ---------------------------------------------------------------- HTML

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 72em;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.88em; }
ul.facts { list-style: none; padding-left: 0; }
ul.facts b { display: inline-block; min-width: 16em; }
figure { margin: 1em 0; } figcaption { font-size: 0.9em; color: #555; }
.PASS { color: #0a7d27; font-weight: bold; } .FAIL { color: #b00020; font-weight: bold; }
.NOT { color: #8a5a00; font-weight: bold; } .INCONCLUSIVE { color: #5a4a9a; font-weight: bold; }
""".strip()

_STATUS_WORDS = ("NOT COMPARABLE", "PASS", "FAIL", "INCONCLUSIVE")


def _esc(text):
    return html.escape(_printable(text), quote=True)


def _cell(text):
    escaped = _esc(text)
    for word in _STATUS_WORDS:
        if str(text) == word:
            return '<span class="%s">%s</span>' % (word.split()[0], escaped)
    return escaped


def _html_block(block, images):
    if isinstance(block, Heading):
        return "<h%d>%s</h%d>" % (block.level, _esc(block.text), block.level)
    if isinstance(block, Para):
        return "<p>%s</p>" % _esc(block.text)
    if isinstance(block, Facts):
        items = "".join("<li><b>%s</b> %s</li>" % (_esc(k), _cell(v)) for k, v in block.items)
        return '<ul class="facts">%s</ul>' % items
    if isinstance(block, Table):
        head = "".join("<th>%s</th>" % _esc(h) for h in block.headers)
        body = "".join(
            "<tr>%s</tr>" % "".join("<td>%s</td>" % _cell(c) for c in row) for row in block.rows
        )
        return "<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (head, body)
    if isinstance(block, Pre):
        return "<pre>%s</pre>" % _esc(block.text.rstrip("\n"))
    if isinstance(block, Link):
        return '<p><a href="%s">%s</a></p>' % (_href(block.href), _esc(block.text))
    if isinstance(block, Image):
        data = images.get(block.name)
        if data is None:
            return "<p>(figure %s not available)</p>" % _esc(block.name)
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        return '<figure><img src="%s" alt="%s"><figcaption>%s</figcaption></figure>' % (
            uri,
            _esc(block.caption),
            _esc(block.caption),
        )
    raise TypeError("unknown report block %r" % (block,))


def to_html(blocks, images, title):
    body = "\n".join(_html_block(b, images) for b in blocks)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n"
        "<style>\n%s\n</style>\n</head>\n<body>\n%s\n</body>\n</html>\n" % (_esc(title), _CSS, body)
    )
