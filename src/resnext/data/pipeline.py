"""tf.data input per rank: an endless shuffled training stream and an exact, padded evaluation pass.

Both read the TF-slim shards written by `resnext.data.convert` (train-NNNNN-of-NNNNN,
validation-NNNNN-of-NNNNN in cfg.data_dir) and yield batches with fully static shapes, for use in
graph mode (`tf.data.make_one_shot_iterator(ds)` / `make_initializable_iterator` in a Session).
Runs in the Ascend container: Python 3.7 syntax, TF 1.15 API through `resnext.compat.tf`.
"""
import logging
import os
import re

from resnext.compat import tf
from resnext.data import preprocessing
from resnext.data import tfrecord

log = logging.getLogger(__name__)

AUTOTUNE = tf.data.experimental.AUTOTUNE
INTERLEAVE_CYCLE = 10  # files read at once per rank (the seed's cycle_length)
PATTERNS = {"train": r"^train-\d+-of-\d+$", "validation": r"^validation-\d+-of-\d+$"}


def list_shards(data_dir, split):
    """Sorted paths of the complete `<split>-NNNNN-of-NNNNN` files in data_dir (temp files excluded).

    Raises FileNotFoundError naming the folder when it is missing, ValueError naming folder and
    pattern when no file matches.
    """
    if not os.path.isdir(data_dir):
        raise FileNotFoundError("data folder %s does not exist (run `resnext convert` or set data_url)" % data_dir)
    pattern = re.compile(PATTERNS[split])
    names = sorted(n for n in os.listdir(data_dir) if pattern.match(n))
    if not names:
        raise ValueError("no %s shards in %s: no file matches %s-NNNNN-of-NNNNN" % (split, data_dir, split))
    return [os.path.join(data_dir, n) for n in names]


def parse_record(serialized):
    """One serialised tf.train.Example (TF-slim schema) -> (jpeg_bytes: string [], label: int32 [])."""
    features = tf.parse_single_example(serialized, {
        "image/encoded": tf.FixedLenFeature([], tf.string, default_value=""),
        "image/class/label": tf.FixedLenFeature([], tf.int64, default_value=-1),
    })
    return features["image/encoded"], tf.cast(features["image/class/label"], tf.int32)


def _check_rank(rank, rank_size):
    if not 0 <= rank < rank_size:
        raise ValueError("rank %d is outside 0..rank_size-1 (rank_size %d)" % (rank, rank_size))


def _train_records(files, rank, rank_size, seed):
    """Endless record stream of this rank: by file when every rank gets a file, else by record."""
    by_file = len(files) >= rank_size
    ds = tf.data.Dataset.from_tensor_slices(files)
    if by_file:
        ds = ds.shard(rank_size, rank)
    local_files = len(files[rank::rank_size]) if by_file else len(files)
    # by record, every rank must see the same file order before sharding: same seed on all ranks
    file_seed = seed + rank if by_file else seed
    ds = ds.shuffle(local_files, seed=file_seed, reshuffle_each_iteration=True).repeat()
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(local_files, INTERLEAVE_CYCLE),
                       block_length=1, num_parallel_calls=AUTOTUNE)
    if not by_file:
        ds = ds.shard(rank_size, rank)
    log.info("train input rank %d/%d: %d files, sharded by %s", rank, rank_size, local_files,
             "file" if by_file else "record")
    return ds


def train_dataset(cfg, rank=0, rank_size=1, seed_offset=0):
    """Endless training batches for one rank.

    Yields (images float32 [cfg.batch_size, cfg.image_size, cfg.image_size, 3] normalised,
    labels int32 [cfg.batch_size]). Files shuffled, interleaved, records shuffled in a buffer of
    cfg.shuffle_buffer seeded with cfg.seed + seed_offset + rank (ranks differ, runs repeat; a block
    resumed at global step s passes seed_offset=s so it does not replay the first block's order),
    random crop/flip,
    batches with drop_remainder. The file and record order is reproducible; which random crop a
    given image gets can vary between runs because the map runs in parallel.
    """
    _check_rank(rank, rank_size)
    files = list_shards(cfg.data_dir, "train")
    seed = cfg.seed + seed_offset + rank
    ds = _train_records(files, rank, rank_size, cfg.seed + seed_offset)
    ds = ds.shuffle(cfg.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    def _prepare(serialized):
        jpeg, label = parse_record(serialized)
        return preprocessing.train_image(jpeg, cfg, seed=seed), label

    ds = ds.map(_prepare, num_parallel_calls=AUTOTUNE)
    ds = ds.batch(cfg.batch_size, drop_remainder=True)
    return ds.prefetch(AUTOTUNE)


def eval_steps(cfg, rank_size=1, num_records=None):
    """Batches every rank yields in eval_dataset: ceil(ceil(N / rank_size) / eval_batch_size).

    N = num_records, or the records counted in the validation shards of cfg.data_dir.
    """
    if num_records is None:
        num_records = sum(tfrecord.count_records(f) for f in list_shards(cfg.data_dir, "validation"))
    per_rank = -(-num_records // rank_size)
    return max(1, -(-per_rank // cfg.eval_batch_size))


def _pad_batch(batch_size, image_size):
    """Map fn: a (possibly short) batch -> exactly batch_size rows, padding rows zero with mask 0."""
    def pad(images, labels):
        missing = batch_size - tf.shape(labels)[0]
        images = tf.pad(images, [[0, missing], [0, 0], [0, 0], [0, 0]])
        mask = tf.pad(tf.ones_like(labels, dtype=tf.float32), [[0, missing]])
        labels = tf.pad(labels, [[0, missing]])
        images.set_shape([batch_size, image_size, image_size, 3])
        labels.set_shape([batch_size])
        mask.set_shape([batch_size])
        return images, labels, mask
    return pad


def _empty_batches(count, batch_size, image_size):
    """`count` all-padding batches (zero images, label 0, mask 0), to even out the ranks' steps."""
    images = tf.zeros([batch_size, image_size, image_size, 3], tf.float32)
    labels = tf.zeros([batch_size], tf.int32)
    mask = tf.zeros([batch_size], tf.float32)
    return tf.data.Dataset.from_tensors((images, labels, mask)).repeat(count)


def eval_dataset(cfg, rank=0, rank_size=1):
    """One deterministic pass over every validation record, split by record index across ranks.

    Yields (images float32 [cfg.eval_batch_size, cfg.image_size, cfg.image_size, 3] normalised,
    labels int32 [cfg.eval_batch_size], mask float32 [cfg.eval_batch_size]); mask is 1 for a real
    record and 0 for padding. Rank r takes records r, r + rank_size, ... in file order; every rank
    yields exactly eval_steps(cfg, rank_size) batches, so summed over all ranks the mask equals the
    number of validation records and collective ops across ranks stay in step.
    """
    _check_rank(rank, rank_size)
    files = list_shards(cfg.data_dir, "validation")
    total = sum(tfrecord.count_records(f) for f in files)
    steps = eval_steps(cfg, rank_size, total)
    local = len(range(rank, total, rank_size))
    ds = tf.data.Dataset.from_tensor_slices(files).flat_map(tf.data.TFRecordDataset)
    if rank_size > 1:
        ds = ds.shard(rank_size, rank)

    def _prepare(serialized):
        jpeg, label = parse_record(serialized)
        return preprocessing.eval_image_from_config(jpeg, cfg), label

    ds = ds.map(_prepare, num_parallel_calls=AUTOTUNE)
    ds = ds.batch(cfg.eval_batch_size).map(_pad_batch(cfg.eval_batch_size, cfg.image_size))
    filler = steps - (-(-local // cfg.eval_batch_size))
    if filler > 0:
        ds = ds.concatenate(_empty_batches(filler, cfg.eval_batch_size, cfg.image_size))
    log.info("eval input rank %d/%d: %d of %d records in %d batches", rank, rank_size, local, total, steps)
    return ds.prefetch(AUTOTUNE)
