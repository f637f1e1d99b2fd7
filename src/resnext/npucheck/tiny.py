"""The check's tiny runs: the real builder's resnext_tiny at 32x32 with iterations_per_loop 10 on
backend npu, on synthetic TF-slim shards written with TensorFlow's own TFRecord writer and
indexed by resnext's own indexer (resnext.data.index), like shards a user brings.

Shards: 10 classes, TRAIN_PER_CLASS images per class in 2 train shards (rank r of 2 reads shard r)
and VAL_PER_CLASS per class in 1 validation shard; image = the class's colour plus noise
(uint8 [32, 32, 3], JPEG). Python 3.7, TF 1.15 API (it runs in the Ascend container).
"""

import os

import numpy as np

from resnext.compat import tf

LOOP = 10  # iterations_per_loop: the device loop of every training session run
CLASSES = 10
TRAIN_PER_CLASS = 8
VAL_PER_CLASS = 2
SIZE = 32
SEED = 1234

TINY = {
    "arch": "resnext_tiny",
    "image_size": SIZE,
    "num_classes": CLASSES,
    "label_offset": 0,
    "batch_size": 4,
    "eval_batch_size": 10,
    "iterations_per_loop": LOOP,
    "max_train_steps": 2 * LOOP,
    "checkpoint_every_steps": LOOP,
    "keep_checkpoint_max": 0,
    "num_train_images": CLASSES * TRAIN_PER_CLASS,
    "shuffle_buffer": 16,
    "warmup_epochs": 0.0,
    "launcher": "local",
    "restore_path": "",
    "accept_changes": [],
    "hosts": [],
    "verify_train_sha256": False,
    "backend": "npu",
    "rank_size": 1,
    "rank_table_file": "",
    "threads_per_rank": 1,
}


def config(cfg, results_dir, shards, run_name, **changes):
    """The user's config (its NPU keys: precision, loss scale, devices, job id) as a tiny run."""
    values = dict(TINY, results_dir=results_dir, data_url=shards, run_name=run_name)
    values.update(changes)
    return cfg.replace(**values)


def _feature(kind, value):
    if kind == "bytes":
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def _example(jpeg, label, name):
    synset = "n%08d" % label
    features = {
        "image/encoded": _feature("bytes", jpeg),
        "image/format": _feature("bytes", b"JPEG"),
        "image/class/label": _feature("int64", label),
        "image/class/synset": _feature("bytes", synset.encode("ascii")),
        "image/class/text": _feature("bytes", ("class %d" % label).encode("ascii")),
        "image/filename": _feature("bytes", name.encode("ascii")),
        "image/height": _feature("int64", SIZE),
        "image/width": _feature("int64", SIZE),
        "image/channels": _feature("int64", 3),
    }
    return tf.train.Example(features=tf.train.Features(feature=features))


def _images(rng, per_class):
    """-> [(uint8 [SIZE, SIZE, 3], label)] in class order, `per_class` per class."""
    colours = np.linspace(20, 235, CLASSES)
    out = []
    for label in range(CLASSES):
        for _ in range(per_class):
            noise = rng.randint(-20, 21, size=(SIZE, SIZE, 3))
            tint = np.array([colours[label], 255 - colours[label], colours[(label * 3) % CLASSES]])
            out.append((np.clip(tint + noise, 0, 255).astype(np.uint8), label))
    return out


def _write_shard(path, examples):
    tmp = path + ".tmp"
    with tf.io.TFRecordWriter(tmp) as writer:
        for example in examples:
            writer.write(example.SerializeToString())
    os.replace(tmp, path)  # a shard counts only once complete, as the indexer reads it


def write_shards(folder):
    """Write train-0000{0,1}-of-00002 and validation-00000-of-00001 into `folder` (created)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.RandomState(SEED)
    splits = {"train": _images(rng, TRAIN_PER_CLASS), "validation": _images(rng, VAL_PER_CLASS)}
    with tf.Graph().as_default():
        pixels = tf.placeholder(tf.uint8, [SIZE, SIZE, 3])
        encode = tf.image.encode_jpeg(pixels, quality=95)
        with tf.Session() as sess:
            encoded = {
                split: [(sess.run(encode, {pixels: image}), label) for image, label in items]
                for split, items in splits.items()
            }
    for split, shards in (("train", 2), ("validation", 1)):
        examples = [
            _example(jpeg, label, "%s_%04d.JPEG" % (split, i))
            for i, (jpeg, label) in enumerate(encoded[split])
        ]
        for shard in range(shards):
            name = "%s-%05d-of-%05d" % (split, shard, shards)
            _write_shard(os.path.join(folder, name), examples[shard::shards])
    return folder
