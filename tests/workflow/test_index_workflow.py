"""`all` with data_url at shards someone else wrote: an `index` job, never a conversion.

The shards are written by TensorFlow's own tf.io.TFRecordWriter (tests/support/foreign_shards.py).
The tiny run checks the plan, the report and that the shard folder is untouched; the slow one is
the embedded demo itself, its JPEG tree written as TF-slim shards, reaching the demo's bar.
"""

import json

import pytest
import yaml

from resnext.data import demo
from support import foreign_shards as foreign
from support.paths import CLASSES, TINY
from support.workflow import planned_jobs, snakemake, work_folder

DEMO_TOP1_BAR = 0.97


def _demo_shards(folder, tmp_path, image_size=32):
    """The demo's JPEG tree (as `resnext demo-data` writes it) as TF-slim shards, labels 0-based."""
    tree = str(tmp_path / "tree")
    demo.write_demo_tree(tree, image_size=image_size)
    items = foreign.items_from_tree(tree)
    foreign.write_folder(
        folder,
        items,
        "tfslim",
        shards=(4, 2),
        examples=lambda item: foreign.tfslim_example(
            item, label_offset=0, size=(image_size, image_size)
        ),
    )
    return items


def test_all_indexes_tfds_shards_and_never_converts(tmp_path):
    shards = str(tmp_path / "tfds shards")  # a space in the path: quoted all the way
    foreign.write_folder(shards, foreign.digit_items(CLASSES, 12, 4), "tfds")
    before = foreign.folder_state(shards)
    values = dict(
        TINY,
        results_dir="results",
        run_name="adopted",
        data_url=shards,
        label_offset=0,
        num_classes=CLASSES,
        eval_batch_size=40,
    )
    work = work_folder(tmp_path / "work", values)
    plan = planned_jobs(snakemake(work, "-n", "all", "--configfile", "tiny.yaml"))
    assert plan.get("index") == 1 and "convert" not in plan and "demo_data" not in plan
    snakemake(work, "all", "--configfile", "tiny.yaml")
    run = work / "results" / "adopted"
    manifest = json.loads((run / "data" / "manifest.json").read_text())
    assert manifest["layout"] == "tfds" and manifest["splits"]["validation"]["num_images"] == 40
    assert "indexed: existing TFDS imagenet2012" in (run / "report" / "report.md").read_text()
    assert (run / "logs" / "index.log").is_file() and not (run / "source").exists()
    evals = sorted((run / "eval").glob("step-*.json"))
    assert evals and all(json.loads(p.read_text())["num_images"] == 40 for p in evals)
    assert planned_jobs(snakemake(work, "-n", "all", "--configfile", "tiny.yaml")) == {}
    assert foreign.folder_state(shards) == before


@pytest.mark.slow
def test_the_demo_from_tfslim_shards_reaches_its_accuracy_bar(tmp_path):
    """The embedded demo with data_url at its own images as TF-slim shards: `snakemake --cores 8
    all` indexes them (no conversion job) and reaches the demo's top-1 bar."""
    work = work_folder(tmp_path / "work", values=None)
    shards = str(tmp_path / "shards")
    items = _demo_shards(shards, tmp_path)
    before = foreign.folder_state(shards)
    (work / "byo.yaml").write_text(yaml.safe_dump({"data_url": shards}))
    plan = planned_jobs(snakemake(work, "-n", "all", "--configfile", "byo.yaml"))
    assert plan.get("index") == 1 and "convert" not in plan and "demo_data" not in plan
    snakemake(work, "--cores", "8", "all", "--configfile", "byo.yaml")
    run = work / "results" / "demo"
    manifest = json.loads((run / "data" / "manifest.json").read_text())
    assert manifest["splits"]["train"]["num_images"] == sum(i.split == "train" for i in items)
    last = max(
        (json.loads(p.read_text()) for p in (run / "eval").glob("step-*.json")),
        key=lambda r: r["step"],
    )
    assert last["num_images"] == sum(i.split == "validation" for i in items)
    assert last["top1"] >= DEMO_TOP1_BAR, last
    assert not (run / "source").exists() and foreign.folder_state(shards) == before
