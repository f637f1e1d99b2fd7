"""Paths and the tiny-run settings shared by tests in several folders."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CONFIG = os.path.join(ROOT, "config", "config.yaml")
CLASSES = 10
TRAIN_PER_CLASS = 12
VAL_PER_CLASS = 4

# resnext_tiny at 32x32 on 120 real digits: 15 steps per epoch at batch 8, blocks of 4 steps
TINY = {
    "arch": "resnext_tiny",
    "image_size": 32,
    "num_classes": CLASSES,
    "batch_size": 8,
    "eval_batch_size": 16,
    "iterations_per_loop": 2,
    "shuffle_buffer": 64,
    "warmup_epochs": 0.2,
    "max_train_steps": 8,
    "checkpoint_every_steps": 4,
    "threads_per_rank": 1,
    "crop_area_min": 0.5,
    "random_flip": False,
    "num_train_images": CLASSES * TRAIN_PER_CLASS,
    "train_shards": 2,
    "validation_shards": 2,
    "convert_workers": 1,
    "learning_rate_maximum": 0.05,
}
# TINY as the workflow tests run it (tests/support/workflow.py) over the embedded demo: its 1797
# digits split 1438 train / 359 validation, evaluated in batches of 120; results/tiny under the
# working folder. Tests that need other values write dict(TINY_WORKFLOW, key=value).
TINY_WORKFLOW = dict(
    TINY,
    num_train_images=1438,
    demo_val_fraction=0.2,
    results_dir="results",
    run_name="tiny",
    source_dir="demo",
    train_shards=2,
    validation_shards=1,
    eval_batch_size=120,
)
