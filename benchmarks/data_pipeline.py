#!/usr/bin/env python3
"""Train input pipeline images/s (resnext.data.pipeline) against bare tf.data doing the same ops.

usage: .venv/bin/python benchmarks/data_pipeline.py [--images 400] [--batch 32] [--image-size 224]
           [--batches 12] [--warmup 5] [--repeats 9] [--threads 1,2] [--keep DIR]

Writes --images ImageNet-like JPEGs (benchmarks/data_images.py), converts them with
`resnext convert` code (8 train shards), then for each thread count alternates, --repeats times:
  resnext   pipeline.train_dataset(cfg) with input_threads = threads (shard check at build time,
            file shuffle + parallel interleave, record shuffle, parse, random-area crop 0.08-1 with
            aspect 3/4-4/3 via sample_distorted_bounding_box + decode_and_crop_jpeg, bilinear
            resize, random flip, mean/std normalisation, batch, prefetch)
  bare      the same ops written directly with tf.data in this file (no resnext code), no shard
            check
each in a fresh graph and session (intra/inter-op threads = threads, tf.data private pool =
threads), --warmup batches untimed then --batches timed. Reports median images/s, the median of
the per-round ratios (goal: resnext >= 0.95x bare) by wall clock and by images per CPU second of
the process (all TF threads; steadier than wall clock on a shared machine), and the build-time
cost of the shard check.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data_images  # noqa: E402

from resnext.compat import tf  # noqa: E402
from resnext.config import load_config  # noqa: E402
from resnext.data import convert, pipeline  # noqa: E402

AUTOTUNE = tf.data.experimental.AUTOTUNE


class _Keys:
    """cfg plus input_threads (read with getattr by the pipeline until the schema has it)."""

    def __init__(self, cfg, **keys):
        self._cfg, self._keys = cfg, keys

    def __getattr__(self, name):
        return self._keys[name] if name in self._keys else getattr(self._cfg, name)


def bare_prepare(serialized, cfg):
    features = tf.parse_single_example(
        serialized,
        {
            "image/encoded": tf.FixedLenFeature([], tf.string, default_value=""),
            "image/class/label": tf.FixedLenFeature([], tf.int64, default_value=-1),
        },
    )
    jpeg = features["image/encoded"]
    begin, size, _ = tf.image.sample_distorted_bounding_box(
        tf.image.extract_jpeg_shape(jpeg),
        tf.zeros([1, 0, 4], tf.float32),
        min_object_covered=0.1,
        aspect_ratio_range=[cfg.crop_aspect_min, cfg.crop_aspect_max],
        area_range=[cfg.crop_area_min, 1.0],
        max_attempts=100,
        use_image_if_no_bounding_boxes=True,
    )
    top, left, _ = tf.unstack(begin)
    height, width, _ = tf.unstack(size)
    image = tf.image.decode_and_crop_jpeg(jpeg, tf.stack([top, left, height, width]), channels=3)
    image = tf.cast(tf.image.resize_images(image, [cfg.image_size, cfg.image_size]), tf.float32)
    image = tf.image.random_flip_left_right(image)
    image = (image - tf.constant(list(cfg.image_mean))) / tf.constant(list(cfg.image_std))
    image.set_shape([cfg.image_size, cfg.image_size, 3])
    return image, tf.cast(features["image/class/label"], tf.int32)


def bare_dataset(cfg, threads):
    files = sorted(
        os.path.join(cfg.data_dir, n) for n in os.listdir(cfg.data_dir) if n.startswith("train-")
    )
    ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=cfg.seed).repeat()
    ds = ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), 10),
        block_length=1,
        num_parallel_calls=AUTOTUNE,
    )
    ds = ds.shuffle(cfg.shuffle_buffer, seed=cfg.seed)
    ds = ds.map(lambda s: bare_prepare(s, cfg), num_parallel_calls=AUTOTUNE)
    ds = ds.batch(cfg.batch_size, drop_remainder=True).prefetch(AUTOTUNE)
    options = tf.data.Options()
    options.experimental_threading.private_threadpool_size = threads
    return ds.with_options(options)


def measure(make, threads, warmup, batches, batch_size):
    """(images/s wall, images per CPU second of the process, seconds to build the dataset),
    fresh graph."""
    with tf.Graph().as_default():
        start = time.perf_counter()
        ds = make()
        built = time.perf_counter() - start
        images = tf.data.make_one_shot_iterator(ds).get_next()[0]
        config = tf.ConfigProto(
            intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads
        )
        with tf.Session(config=config) as sess:
            for _ in range(warmup):
                sess.run(images.op)
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(batches):
                sess.run(images.op)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    n = float(batches * batch_size)
    return n / wall, n / cpu, built


def check_cost(cfg):
    """(seconds, records) for check_shards over every train shard, median of 5."""
    files = pipeline.list_shards(cfg.data_dir, "train")
    times = []
    for _ in range(5):
        start = time.perf_counter()
        counts = pipeline.check_shards(pipeline.dataset_of(cfg), "train", files)
        times.append(time.perf_counter() - start)
    return statistics.median(times), sum(counts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for flag, default in (
        ("--images", 400),
        ("--batch", 32),
        ("--image-size", 224),
        ("--batches", 12),
        ("--warmup", 5),
        ("--repeats", 9),
    ):
        parser.add_argument(flag, type=int, default=default)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument(
        "--keep", help="write the tree and shards here (default: a temp dir, removed)"
    )
    args = parser.parse_args()
    with data_images.work_dir(args.keep, "data-pipeline-bench-") as root:
        run(args, root)


def prepare(args, root):
    paths, _, mean_bytes = data_images.write_tree(os.path.join(root, "source"), args.images)
    num_train = sum(1 for p in paths if os.sep + "train" + os.sep in p)
    cfg = load_config(
        [],
        values=dict(
            results_dir=os.path.join(root, "out"),
            run_name="bench",
            source_dir=os.path.join(root, "source"),
            num_classes=10,
            label_offset=0,
            train_shards=8,
            validation_shards=1,
            convert_workers=1,
            num_train_images=num_train,
            image_size=args.image_size,
            batch_size=args.batch,
            shuffle_buffer=1024,
            crop_area_min=0.08,
            random_flip=True,
        ),
    )
    convert.convert(cfg)
    print(
        "%d train images (~%.0f KB JPEGs, %dx%d) in 8 shards; batch %d at %dx%d; %d timed batches "
        "after %d"
        % (
            num_train,
            mean_bytes / 1024.0,
            data_images.WIDTH,
            data_images.HEIGHT,
            args.batch,
            args.image_size,
            args.image_size,
            args.batches,
            args.warmup,
        )
    )
    return cfg


def run(args, root):
    cfg = prepare(args, root)
    for threads in [int(t) for t in args.threads.split(",")]:
        rows, builds = [], []
        for r in range(args.repeats):
            rate, cpu_rate, built = measure(
                lambda: pipeline.train_dataset(_Keys(cfg, input_threads=threads)),
                threads,
                args.warmup,
                args.batches,
                args.batch,
            )
            base, base_cpu, _ = measure(
                lambda: bare_dataset(cfg, threads), threads, args.warmup, args.batches, args.batch
            )
            rows.append((rate, base, rate / base, cpu_rate / base_cpu))
            builds.append(built)
            print(
                "  %d thread(s), round %d: resnext %.1f images/s, bare %.1f images/s; ratio wall "
                "%.3f, CPU %.3f" % ((threads, r + 1) + rows[-1])
            )
        med = [statistics.median(col) for col in zip(*rows)]
        print(
            "%d thread(s): resnext median %.1f images/s, bare tf.data median %.1f images/s; ratio "
            "(median of rounds) wall %.3f, CPU %.3f (goal >= 0.95); "
            "train_dataset() built in %.0f ms"
            % (threads, med[0], med[1], med[2], med[3], 1000 * statistics.median(builds))
        )
    seconds, records = check_cost(cfg)
    per_record = seconds / records
    print(
        "shard check at build time: %d records in %.1f ms = %.2f us/record; an ILSVRC-2012 rank of "
        "8 (160,146 records, page cache warm) ~ %.2f s"
        % (records, seconds * 1000, per_record * 1e6, per_record * 1281167 / 8)
    )


if __name__ == "__main__":
    main()
