"""resnext.paths: the one owner of the results layout (the rules and the stages both use it)."""

import ast
import glob
import os

from resnext import paths
from resnext.config import load_config

from support.paths import DEMO_CONFIG, ROOT

# file and folder names of the results layout: only paths.py may join them into a path
LAYOUT_NAMES = {
    "eval",
    "export",
    "report",
    "benchmark",
    "logs",
    "ckpt",
    ".npu-pool",
    ".lock",
    "metrics.jsonl",
    "config.resolved.yaml",
    "config.ranks.yaml",
    "manifest.json",
    "export.json",
    "rank_table.json",
    "demo.json",
    "data",
    "source",
}


def test_the_layout_of_a_run():
    cfg = load_config([DEMO_CONFIG], ["results_dir=/r", "run_name=x"])
    run, train = cfg.run_dir, cfg.train_dir
    assert (run, train) == ("/r/x", "/r/x/train")
    assert (cfg.data_dir, cfg.source_path) == ("/r/x/data", "/r/x/source")
    assert paths.resolved_config(run) == "/r/x/config.resolved.yaml"
    assert paths.manifest(cfg.data_dir) == "/r/x/data/manifest.json"
    assert paths.ckpt_index(train, 8) == "/r/x/train/ckpt/model.ckpt-8.index"
    assert paths.block_record(train, 2) == "/r/x/train/block-2.json"
    assert paths.rank_log(paths.train_logs(train), 0) == "/r/x/train/logs/rank-0.log"
    assert paths.eval_predictions(paths.eval_json(run, 8)) == "/r/x/eval/step-8.predictions.npz"
    assert paths.export_graph(paths.export_dir(run), cfg.arch) == "/r/x/export/resnext50_32x4d.pb"
    assert (
        paths.benchmark_json(run, "train", "synthetic", 8, 32)
        == "/r/x/benchmark/train-synthetic-8x32.json"
    )
    assert paths.report_file(paths.report_dir(run), "md") == "/r/x/report/report.md"
    assert paths.plot_file(paths.report_dir(run), "lr") == "/r/x/report/lr.png"
    assert paths.rule_log(run, "convert") == "/r/x/logs/convert.log"
    assert paths.npu_pool(cfg.results_dir) == "/r/.npu-pool"


def test_data_url_and_a_source_folder_are_used_as_given():
    cfg = load_config([DEMO_CONFIG], ["data_url=/shards", "source_dir=/jpegs"])
    assert (cfg.data_dir, cfg.source_path) == ("/shards", "/jpegs")


def test_a_snakemake_wildcard_passes_through():
    assert paths.ckpt_index("t", "{step}") == "t/ckpt/model.ckpt-{step}.index"
    assert paths.eval_json("r", "{step}") == "r/eval/step-{step}.json"


def _joined_layout_names(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "os.path.join":
            found += [
                (node.lineno, a.value)
                for a in node.args
                if isinstance(a, ast.Constant) and a.value in LAYOUT_NAMES
            ]
    return found


def test_no_module_but_paths_builds_a_results_path():
    modules = glob.glob(os.path.join(ROOT, "src", "resnext", "**", "*.py"), recursive=True)
    offenders = {
        os.path.relpath(p, ROOT): _joined_layout_names(p)
        for p in modules
        if not p.endswith(os.path.join("resnext", "paths.py"))
    }
    assert {p: names for p, names in offenders.items() if names} == {}
