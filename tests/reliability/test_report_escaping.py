"""report.md and report.html show every value as text (issue 12, item 7).

Before, file names, class names, a manifest's `source`, config strings and paths reached report.md
raw: a newline in `source` followed by "- **Overall**: PASS" added a verdict line, `<script>` and
`[..](..)` became HTML and links. Now a hostile value changes no block and no inline markup: the
report of a results tree with hostile values parses (with markdown-it-py, a CommonMark parser, and
Python's HTML parser) into the same structure as the report of the same tree with plain values,
and each value reads back as the text it was.
"""

import html.parser
import json
import os

import pytest
from markdown_it import MarkdownIt

from report.report_fakes import write_tree
from resnext.report import render

import hostile as H

# each would add markup if it reached report.md raw
HOSTILE = {
    "newline": "demo\n\n- **Overall**: PASS\n# Verdict",
    "script": "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "link": "[click](http://evil.example/) ![i](http://evil.example/i.png) [r]: http://e.example",
    "table": "a | b | c",
    "emphasis": "*bold* __under__ `code` ~~gone~~ \\[not escaped\\]",
    "block-start": "    # heading\r1. list\u2028+ item\x85> quote",
    "controls": "ESC\x1b[31m NUL\x00 and a lone surrogate \udcff (a non-UTF-8 name)",
    "fence": "```\n# out of the fence\n```",
}
_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _shown(value):
    """What a reader must see of a value on one line: line breaks as spaces, controls as U+FFFD."""
    return render._LINE_BREAKS.sub(" ", render._printable(value))


def _structure(markdown):
    """Every token's kind, with the kinds of an inline token's children: markup, without text."""
    return [
        (t.type, t.tag, t.nesting, tuple((c.type, c.tag) for c in t.children or ()))
        for t in _MD.parse(markdown)
    ]


def _texts(markdown):
    """The text a reader sees of each inline run (escapes and entities resolved)."""
    return [
        "".join(c.content for c in t.children if c.type == "text")
        for t in _MD.parse(markdown)
        if t.type == "inline"
    ]


def _document(value):
    return [
        render.Heading(2, value),
        render.Para(value),
        render.Facts([("key", value)]),
        render.Table(["h", "value"], [["x", value]]),
        render.Image("a.png", value),
    ]


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_value_adds_no_markup_in_any_block(case):
    value = HOSTILE[case]
    hostile, plain = render.to_markdown(_document(value)), render.to_markdown(_document("x"))
    assert _structure(hostile) == _structure(plain), hostile
    assert render.to_markdown(_document(value)).count("\n") == plain.count("\n")
    shown = _shown(value).strip(" ")  # CommonMark trims the ends of a heading, paragraph, cell
    texts = _texts(hostile)
    assert texts[0] == shown and texts[1] == shown and texts[6] == shown  # heading, para, cell
    assert texts[2] == "key: " + _shown(value).rstrip(" ")
    image = [
        c for t in _MD.parse(hostile) if t.type == "inline" for c in t.children if c.type == "image"
    ]
    assert [(i.attrs["src"], "".join(c.content for c in i.children).strip(" ")) for i in image] == [
        ("a.png", shown)
    ]


def test_a_fenced_block_cannot_be_closed_by_its_text():
    text = "step 4\n```\n# fake heading\n````\n"
    tokens = _MD.parse(render.to_markdown([render.Pre(text)]))
    assert [(t.type, t.content) for t in tokens] == [("fence", text)]


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, tuple(sorted(k for k, _ in attrs))))

    def handle_data(self, data):
        self.text.append(data)


def _html(path):
    parser = _Tags()
    with open(path, encoding="utf-8") as f:
        parser.feed(f.read())
    return parser


def _tree(root, values, monkeypatch):
    """A results tree (report_fakes) whose manifest, eval JSON, export JSON and config carry
    `values`; -> (config file, manifest path)."""
    monkeypatch.delenv("RESNEXT_IMAGE_DIGEST", raising=False)
    monkeypatch.delenv("RESNEXT_REFERENCE", raising=False)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764400000")
    cfg = write_tree(root, overrides={"container_image": values["config"]})
    manifest = os.path.join(cfg.data_dir, "manifest.json")
    _edit(
        manifest,
        lambda m: m.update(
            source=values["source"],
            skipped=[{"path": values["file"], "reason": values["reason"]}],
            label_map=dict({values["class"]: 0}, **{k: v for k, v in m["label_map"].items() if v}),
        ),
    )
    step = max(int(n[5:-5]) for n in os.listdir(os.path.join(cfg.run_dir, "eval")))
    _edit(
        os.path.join(cfg.run_dir, "export", "export.json"), lambda e: e.update(graph=values["path"])
    )
    _edit(
        os.path.join(cfg.run_dir, "eval", "step-%d.json" % step),
        lambda e: e["checkpoint"].update(path=values["path"]),
    )
    return H.write_yaml(root / "config.yaml", cfg.to_dict()), manifest, cfg.run_dir


def _edit(path, change):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    change(data)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)


def test_hostile_names_and_strings_reach_the_report_as_text(tmp_path, caplog, monkeypatch):
    """Hostile class and file names, manifest `source`, a config string and result paths, as a
    JSON edited by hand or a converter of someone else's writes them: `resnext report` exits 0,
    report.md and report.html have exactly the blocks and tags of the same tree with plain values,
    each value is there as text, and nothing but the report's own files (report/, the run's
    ro-crate-metadata.json and workflow/ copy) changed."""
    keys = ("source", "file", "reason", "class", "config", "path")
    hostile = dict(
        zip(
            keys,
            (
                HOSTILE["newline"],
                "source/val/3/" + HOSTILE["script"] + ".JPEG",
                HOSTILE["block-start"],
                HOSTILE["link"],
                HOSTILE["table"] + " " + HOSTILE["emphasis"],
                "/data/" + HOSTILE["controls"],
            ),
        )
    )
    built = {}
    for name, values in (("plain", {k: "plain-" + k for k in keys}), ("hostile", hostile)):
        root = tmp_path / name
        root.mkdir()
        config, manifest, run_dir = _tree(root, values, monkeypatch)
        run_rel = os.path.relpath(run_dir, str(root))
        # the report's own: report/, the run's crate and the workflow copy it names
        written = (os.path.join(run_rel, "report"), os.path.join(run_rel, "workflow"))
        before, victim = H.tree(root, skip=written), H.sha256(manifest)
        code, text = H.main(["report", "--config", config], caplog)
        assert code == 0 and "Traceback" not in text, text
        after = H.tree(root, skip=written)
        assert after.pop(os.path.join(run_rel, "ro-crate-metadata.json"))
        assert H.sha256(manifest) == victim and after == before
        with open(os.path.join(run_dir, "report", "report.md"), encoding="utf-8") as f:
            built[name] = (f.read(), _html(os.path.join(run_dir, "report", "report.html")))
    (md, page), (plain_md, plain_page) = built["hostile"], built["plain"]
    assert _structure(md) == _structure(plain_md)
    assert md.count("\n") == plain_md.count("\n") and md.count("- **Overall**") == 1
    assert page.tags == plain_page.tags and ("script", ()) not in page.tags
    texts, page_text = " ".join(_texts(md)), "".join(page.text)
    for key in keys:
        if key != "class":  # the report counts the classes; it does not list them
            assert _shown(hostile[key]).strip(" ") in texts, key
            assert _shown(hostile[key]) in _shown(page_text), key
