"""report.html in headless Chromium: every plot is an <img> the browser decoded (naturalWidth > 0).

A copy of the page gets a script that, on load, writes each image's decode state into the DOM;
`chromium --headless --dump-dom` prints that DOM. A deliberately broken image in the same page
proves the probe reports a failed decode. Under CI=true a missing Chromium fails the test (CI
installs the Debian package `chromium`); elsewhere it is skipped with the reason.
"""

import json
import os
import re
import shutil
import subprocess

import pytest
from PIL import Image

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROKEN = '<img alt="broken-on-purpose" src="data:image/png;base64,iVBORw0KGgoAAAAN">'
PROBE = """<script>
window.addEventListener("load", function () {
  var found = [];
  for (var i = 0; i < document.images.length; i++) {
    var img = document.images[i];
    found.push({alt: img.alt, complete: img.complete,
                width: img.naturalWidth, height: img.naturalHeight});
  }
  var out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def chromium():
    """Path of a Chromium binary ($CHROMIUM or the usual names); fails under CI=true, else skips."""
    path = os.environ.get("CHROMIUM") or next(
        filter(None, (shutil.which(n) for n in CHROMIUM_NAMES)), None
    )
    if path:
        return path
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            "Chromium not found (looked for %s): CI must install the Debian package chromium"
            % ", ".join(CHROMIUM_NAMES)
        )
    pytest.skip("Chromium not installed (apt-get install chromium); CI=true makes this a failure")


def images_as_decoded(chromium, page_path, profile_dir):
    """[{'alt', 'complete', 'width', 'height'}] of every <img> once Chromium has loaded the page."""
    run = subprocess.run(
        [chromium]
        + FLAGS
        + [
            "--user-data-dir=%s" % profile_dir,
            "--dump-dom",
            "file://%s" % os.path.abspath(page_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r'<pre id="image-check">(.*?)</pre>', run.stdout, flags=re.S)
    assert match, "no probe output from Chromium (exit %d):\n%s" % (
        run.returncode,
        run.stderr[-2000:],
    )
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_every_plot_in_report_html_decodes_in_chromium(chromium, demo_report, tmp_path):
    cfg, written = demo_report
    with open(written["report.html"], encoding="utf-8") as f:
        page = f.read()
    plots = re.findall(r'<img src="data:image/png;base64,[^"]+" alt="([^"]*)"', page)
    assert len(plots) == 4
    probe = tmp_path / "report-probe.html"
    probe.write_text(page.replace("</body>", BROKEN + PROBE + "</body>", 1), encoding="utf-8")
    found = images_as_decoded(chromium, str(probe), str(tmp_path / "profile"))
    assert [i["alt"] for i in found] == plots + ["broken-on-purpose"]
    sizes = {}
    for name in ("accuracy.png", "loss.png", "lr.png", "throughput.png"):
        with Image.open(written[name]) as img:
            sizes[img.size] = name
    for image in found[:-1]:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
        assert (
            image["width"],
            image["height"],
        ) in sizes  # the embedded PNG is the one written next to it
    assert found[-1]["width"] == 0  # the probe does see an image that failed to decode
