"""Where a run's data comes from: convert a JPEG tree, use an earlier conversion, or index shards.

The rule (docs/data.md "Which data a run uses"), from `data_url` and what is on disk:
    data_url empty                      convert    `source_dir` -> <run>/data (shards + manifest)
    data_url holds manifest.json        converted  an earlier `resnext convert` output, as it is
    data_url holds shards, no manifest  index      TF-slim or TFDS shards read where they are; the
                                                   manifest is written to <run>/data/manifest.json
The shards of `data_url` are never written: an indexed folder may be shared or read-only, so its
manifest lives in the run's folder. Which layout the shards have is decided by their file names
(resnext.data.layouts.detect). Python 3.7, no TensorFlow (the container's pipeline reads it).
"""

import collections
import os

from resnext import paths

MODES = ("convert", "converted", "index")

# why each mode was chosen, in the words of the rule (the report's dataset section shows it)
RULE = {
    "convert": "data_url is empty, so source_dir is converted into <run>/data",
    "converted": "data_url holds manifest.json (an earlier resnext convert), used as it is",
    "index": "data_url holds shards and no manifest.json, so they are indexed where they are",
}

DataPlan = collections.namedtuple("DataPlan", "mode shard_dir manifest_path")
DataPlan.__doc__ = "mode (one of MODES), the folder the shards are read from, the manifest's path."


def run_data_dir(cfg):
    """<run>/data: conversion's output folder, and where an indexed run keeps its manifest."""
    return paths.data_dir(cfg.run_dir)


def decide(cfg):
    """The DataPlan of this config, by the rule in the module doc (one os.path.isfile at most)."""
    if not cfg.data_url:
        folder = run_data_dir(cfg)
        return DataPlan("convert", folder, paths.manifest(folder))
    own = paths.manifest(cfg.data_url)
    if os.path.isfile(own):
        return DataPlan("converted", cfg.data_url, own)
    return DataPlan("index", cfg.data_url, paths.manifest(run_data_dir(cfg)))


def run_manifest_path(run, data_url):
    """The manifest of the run in folder `run` (moved or not): its own <run>/data/manifest.json
    (convert's, or index's for data_url's shards), else data_url's (converted); None if neither."""
    candidates = [paths.manifest(paths.data_dir(run))]
    candidates += [paths.manifest(data_url)] if data_url else []
    for path in candidates:
        if os.path.isfile(path):
            return path
    return None


def manifest_path(cfg):
    """The path of the manifest every stage reads (see decide)."""
    return decide(cfg).manifest_path
