"""A tiny document model rendered twice: Markdown (for diffs) and self-contained HTML (for people).

Both renderings come from the same blocks, so they carry the same content. HTML embeds the
figures as base64 PNG data URIs, has inline CSS and references no external URL.
"""
from __future__ import annotations

import base64
import dataclasses
import html


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
class Image:
    name: str  # file name in the report folder (PNG)
    caption: str


# ---------------------------------------------------------------- Markdown

def _md_cell(text):
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_block(block):
    if isinstance(block, Heading):
        return "%s %s" % ("#" * block.level, block.text)
    if isinstance(block, Para):
        return block.text
    if isinstance(block, Facts):
        return "\n".join("- **%s**: %s" % (k, v) for k, v in block.items)
    if isinstance(block, Table):
        lines = ["| " + " | ".join(_md_cell(h) for h in block.headers) + " |",
                 "|" + "|".join("---" for _ in block.headers) + "|"]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
        return "\n".join(lines)
    if isinstance(block, Pre):
        return "```\n%s\n```" % block.text.rstrip("\n")
    if isinstance(block, Image):
        return "![%s](%s)" % (block.caption, block.name)
    raise TypeError("unknown report block %r" % (block,))


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
ul.facts { list-style: none; padding-left: 0; } ul.facts b { display: inline-block; min-width: 16em; }
figure { margin: 1em 0; } figcaption { font-size: 0.9em; color: #555; }
.PASS { color: #0a7d27; font-weight: bold; } .FAIL { color: #b00020; font-weight: bold; }
.NOT { color: #8a5a00; font-weight: bold; } .INCONCLUSIVE { color: #5a4a9a; font-weight: bold; }
""".strip()

_STATUS_WORDS = ("NOT COMPARABLE", "PASS", "FAIL", "INCONCLUSIVE")


def _esc(text):
    return html.escape(str(text), quote=True)


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
        body = "".join("<tr>%s</tr>" % "".join("<td>%s</td>" % _cell(c) for c in row) for row in block.rows)
        return "<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (head, body)
    if isinstance(block, Pre):
        return "<pre>%s</pre>" % _esc(block.text.rstrip("\n"))
    if isinstance(block, Image):
        data = images.get(block.name)
        if data is None:
            return "<p>(figure %s not available)</p>" % _esc(block.name)
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        return '<figure><img src="%s" alt="%s"><figcaption>%s</figcaption></figure>' % (
            uri, _esc(block.caption), _esc(block.caption))
    raise TypeError("unknown report block %r" % (block,))


def to_html(blocks, images, title):
    body = "\n".join(_html_block(b, images) for b in blocks)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n"
            "<style>\n%s\n</style>\n</head>\n<body>\n%s\n</body>\n</html>\n" % (_esc(title), _CSS, body))
