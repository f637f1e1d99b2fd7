"""tf.data input per rank: an endless shuffled training stream and an exact, padded evaluation pass.

Both read the shards of cfg.data_dir in the layout its manifest names (resnext.data.layouts:
TF-slim shards that `resnext convert` wrote or `resnext index` adopted, or adopted TFDS
imagenet2012 shards), through that layout's feature keys, and yield batches with fully static
shapes, for graph mode (`tf.data.make_one_shot_iterator(ds)` / `make_initializable_iterator`).

Damaged data fails loudly, naming the file. TensorFlow's reader takes a file cut short for a clean
end of file, so before building a dataset every shard this rank reads is walked record header by
record header (`check_shards`: 12 bytes per record) and compared with the manifest's counts when
there is one. A record whose *data* is damaged still surfaces inside tf.data as a DataLossError
without a file name: run the session loop inside `naming_damaged_files(files)` to turn it into a
CorruptRecordError naming the file.
Runs in the Ascend container: Python 3.7 syntax, TF 1.15 API through `resnext.compat.tf`.
"""

import collections
import contextlib
import logging
import os
import re

from resnext import atomic
from resnext.compat import tf
from resnext.data import choice, layouts, pixels, preprocessing
from resnext.data import tfrecord

log = logging.getLogger(__name__)

AUTOTUNE = tf.data.experimental.AUTOTUNE
INTERLEAVE_CYCLE = 10  # files read at once per rank (the seed's cycle_length)

Dataset = collections.namedtuple("Dataset", "shard_dir layout manifest manifest_path")
Dataset.__doc__ = "The shard folder, its layouts.Layout, the manifest (dict or None), its path."


def dataset_of(cfg):
    """The Dataset a run reads: the shards of cfg.data_dir in the layout its manifest names.

    Without a manifest (shards being tested by hand) the layout is TF-slim's.
    """
    path = choice.manifest_path(cfg)
    manifest = atomic.read_json(path) if os.path.isfile(path) else None
    layout = layouts.by_name((manifest or {}).get("layout"))
    return Dataset(cfg.data_dir, layout, manifest, path)


def list_shards(data_dir, split, layout=layouts.DEFAULT):
    """Sorted paths of the complete `split` shards of `layout` in data_dir (temp files excluded).

    Raises FileNotFoundError naming the folder when it is missing, ValueError naming folder and
    file pattern when no file matches.
    """
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(
            "data folder %s does not exist (run `resnext convert` or set data_url)" % data_dir
        )
    names = layouts.shard_names(os.listdir(data_dir), layout, split)
    if not names:
        raise ValueError(
            "no %s shards in %s: no file matches %s"
            % (split, data_dir, layout.example.format(split=split))
        )
    return [os.path.join(data_dir, n) for n in names]


def _manifest_shards(manifest, split):
    """{shard name: num_records} of `split` in the manifest (a dict), or None without one."""
    if manifest is None:
        return None
    entry = (manifest.get("splits") or {}).get(split) or {}
    return {s["name"]: s["num_records"] for s in entry.get("shards") or []}


def check_shards(data, split, files):
    """Prove every file whole before tf.data reads it; returns [record count] in `files` order.

    data: the Dataset (dataset_of). Raises tfrecord.CorruptRecordError naming the file when its
    framing is cut short or damaged, or its record count differs from the manifest's;
    FileNotFoundError naming the shards the manifest lists for `split` that are gone, or a shard
    the manifest does not list (its records are in no count).
    """
    listed = _manifest_shards(data.manifest, split)
    if listed is not None:
        present = set(os.listdir(data.shard_dir))
        gone = sorted(n for n in listed if n not in present)
        if gone:
            raise FileNotFoundError(
                "%s lists %d %s shard(s) missing from %s: %s"
                % (data.manifest_path, len(gone), split, data.shard_dir, ", ".join(gone[:5]))
            )
        extra = sorted(os.path.basename(f) for f in files if os.path.basename(f) not in listed)
        if extra:
            raise FileNotFoundError(
                "%s: shard(s) %s are not in %s (added after it was written?): "
                "remove them, or write the manifest again"
                % (data.shard_dir, ", ".join(extra[:5]), data.manifest_path)
            )
    return [tfrecord.check_file(f, (listed or {}).get(os.path.basename(f))) for f in files]


def find_damaged(files):
    """(path, reason) of the first file whose records do not read back whole (checksums included),
    else None.

    Reads the files completely: meant for the error path, after tf.data raised a DataLossError.
    """
    for path in files:
        try:
            tfrecord.check_file(path)
            for _ in tf.io.tf_record_iterator(path):
                pass
        except tfrecord.CorruptRecordError as exc:
            return path, str(exc)
        except tf.errors.DataLossError as exc:
            return path, "%s: %s" % (path, exc.message)
    return None


# what tf.debugging.Assert prints of limit_pixels' values: [TOO_LARGE] [name] [height] [width]
_TOO_LARGE = re.compile(
    r"\[%s\] \[(.*)\] \[(\d+)\] \[(\d+)\]" % re.escape(preprocessing.TOO_LARGE), re.S
)


def _too_large(exc, files, limit):
    """pixels.ImageTooLarge from limit_pixels' failed assertion, else None (another error)."""
    match = _TOO_LARGE.search(exc.message or "")
    if match is None:
        return None
    shard = (
        files[0]
        if len(files) == 1
        else "one of the %d shards in %s"
        % (len(files), os.path.dirname(files[0]) if files else "?")
    )
    return pixels.record_refused(match.group(1), shard, match.group(2), match.group(3), limit)


@contextlib.contextmanager
def naming_damaged_files(files, max_pixels=None):
    """Run a session loop over a dataset of `files`;
    a DataLossError becomes one naming the damaged file, limit_pixels' failed assertion (with
    `max_pixels` given) pixels.ImageTooLarge naming the image and the key."""
    try:
        yield
    except tf.errors.DataLossError as exc:
        found = find_damaged(files)
        if found is None:
            raise
        raise tfrecord.CorruptRecordError("damaged TFRecord file %s" % found[1]) from exc
    except tf.errors.InvalidArgumentError as exc:
        refused = _too_large(exc, files, max_pixels) if max_pixels is not None else None
        if refused is None:
            raise
        raise refused from exc


def with_threads(ds, threads):
    """The dataset on a private pool of `threads` threads (0 = TensorFlow's shared default)."""
    if not threads:
        return ds
    options = tf.data.Options()
    options.experimental_threading.private_threadpool_size = int(threads)
    return ds.with_options(options)


def _rank_slice(files, rank, rank_size):
    """(the files one rank reads, by_file): its own files when every rank gets one, else all of them
    (the rank then takes every rank_size-th record)."""
    by_file = len(files) >= rank_size
    return (files[rank::rank_size] if by_file else files), by_file


def rank_files(cfg, split, rank=0, rank_size=1):
    """The shard paths one rank reads: train as _train_records shards it;
    validation, all of them."""
    files = list_shards(cfg.data_dir, split, dataset_of(cfg).layout)
    return _rank_slice(files, rank, rank_size)[0] if split == "train" else files


def parse_record(serialized, layout=layouts.DEFAULT, with_name=False, with_boxes=False):
    """One serialised tf.train.Example -> (jpeg_bytes: string [], label: int32 []), read by the
    layout's keys, plus its file name (string [], '' when absent) with `with_name`, plus its boxes
    (float32 [N, 4], ymin/xmin/ymax/xmax as stored; N = 0 when absent or the layout has none) with
    `with_boxes`."""
    keys = {
        layout.image: tf.FixedLenFeature([], tf.string, default_value=""),
        layout.label: tf.FixedLenFeature([], tf.int64, default_value=-1),
    }
    if with_name:
        keys[layout.filename] = tf.FixedLenFeature([], tf.string, default_value="")
    if with_boxes:
        keys.update((key, tf.VarLenFeature(tf.float32)) for key in layout.boxes)
    features = tf.parse_single_example(serialized, keys)
    parsed = (features[layout.image], tf.cast(features[layout.label], tf.int32))
    if with_name:
        parsed += (features[layout.filename],)
    if with_boxes:
        parsed += (_boxes(features, layout),)
    return parsed


def _boxes(features, layout):
    """float32 [N, 4] of the layout's four corner lists (one length: resnext index checks it)."""
    if not layout.boxes:
        return tf.zeros([0, 4], tf.float32)
    corners = [tf.sparse.to_dense(features[key]) for key in layout.boxes]
    return tf.stack(corners, axis=1)


def _check_rank(rank, rank_size):
    if not 0 <= rank < rank_size:
        raise ValueError("rank %d is outside 0..rank_size-1 (rank_size %d)" % (rank, rank_size))


def _train_records(files, rank, rank_size, seed):
    """Endless record stream of this rank: by file when every rank gets a file, else by record."""
    local, by_file = _rank_slice(files, rank, rank_size)
    local_files = len(local)
    ds = tf.data.Dataset.from_tensor_slices(local)
    # by record, every rank must see the same file order before sharding: same seed on all ranks
    file_seed = seed + rank if by_file else seed
    ds = ds.shuffle(local_files, seed=file_seed, reshuffle_each_iteration=True).repeat()
    ds = ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(local_files, INTERLEAVE_CYCLE),
        block_length=1,
        num_parallel_calls=AUTOTUNE,
    )
    if not by_file:
        ds = ds.shard(rank_size, rank)
    log.info(
        "train input rank %d/%d: %d files, sharded by %s",
        rank,
        rank_size,
        local_files,
        "file" if by_file else "record",
    )
    return ds


def train_example(serialized, layout, cfg, seed=None):
    """One training record -> (image float32 [image_size, image_size, 3] normalised,
    label int32 []): parsed by the layout's keys, its boxes the crop's objects with
    cfg.crop_with_boxes (records converted with bbox_dir and adopted TF-slim records alike; TFDS
    records have none). An image over max_image_pixels stops the session (limit_pixels;
    naming_damaged_files names it)."""
    parsed = parse_record(serialized, layout, with_name=True, with_boxes=cfg.crop_with_boxes)
    boxes = parsed[3] if cfg.crop_with_boxes else None
    jpeg = preprocessing.limit_pixels(parsed[0], cfg.max_image_pixels, parsed[2])
    return preprocessing.train_image(jpeg, cfg, seed=seed, boxes=boxes), parsed[1]


def train_dataset(cfg, rank=0, rank_size=1, seed_offset=0):
    """Endless training batches for one rank.

    Yields (images float32 [cfg.batch_size, cfg.image_size, cfg.image_size, 3] normalised,
    labels int32 [cfg.batch_size]). Files shuffled, interleaved, records shuffled in a buffer of
    cfg.shuffle_buffer seeded with cfg.seed + seed_offset + rank (ranks differ, runs repeat; a block
    resumed at global step s passes seed_offset=s so it does not replay the first block's order),
    random crop/flip (train_example: the crop covers one of the record's boxes with
    crop_with_boxes), batches with drop_remainder, on `input_threads` private threads if set. The
    file and record order is reproducible. Which random crop an image gets repeats only under TF op
    determinism (training turns it on, cfg.deterministic_ops), which runs the map serially; in
    parallel it depends on thread scheduling. This rank's files are checked first (check_shards).
    """
    _check_rank(rank, rank_size)
    data = dataset_of(cfg)
    files = list_shards(data.shard_dir, "train", data.layout)
    check_shards(data, "train", _rank_slice(files, rank, rank_size)[0])
    seed = cfg.seed + seed_offset + rank
    ds = _train_records(files, rank, rank_size, cfg.seed + seed_offset)
    ds = ds.shuffle(cfg.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    ds = ds.map(
        lambda record: train_example(record, data.layout, cfg, seed), num_parallel_calls=AUTOTUNE
    )
    ds = ds.batch(cfg.batch_size, drop_remainder=True)
    return with_threads(ds.prefetch(AUTOTUNE), cfg.input_threads)


def eval_steps(cfg, rank_size=1, num_records=None):
    """Batches every rank yields in eval_dataset: ceil(ceil(N / rank_size) / eval_batch_size).

    N = num_records, or the records counted in the validation shards of cfg.data_dir.
    """
    if num_records is None:
        layout = dataset_of(cfg).layout
        files = list_shards(cfg.data_dir, "validation", layout)
        num_records = sum(tfrecord.check_file(f) for f in files)
    per_rank = -(-num_records // rank_size)
    return max(1, -(-per_rank // cfg.eval_batch_size))


def _pad_batch(batch_size, image_size):
    """Map fn: a (possibly short) batch -> exactly batch_size rows, padding rows zero with mask 0.
    Extra elements (the names of with_names) pass through unpadded."""

    def pad(images, labels, *extra):
        missing = batch_size - tf.shape(labels)[0]
        images = tf.pad(images, [[0, missing], [0, 0], [0, 0], [0, 0]])
        mask = tf.pad(tf.ones_like(labels, dtype=tf.float32), [[0, missing]])
        labels = tf.pad(labels, [[0, missing]])
        images.set_shape([batch_size, image_size, image_size, 3])
        labels.set_shape([batch_size])
        mask.set_shape([batch_size])
        return (images, labels, mask) + extra

    return pad


def _empty_batches(count, batch_size, image_size, names=0):
    """`count` all-padding batches (zero images, label 0, mask 0), to even out the ranks' steps;
    with `names` extra elements, each an empty string vector."""
    images = tf.zeros([batch_size, image_size, image_size, 3], tf.float32)
    labels = tf.zeros([batch_size], tf.int32)
    mask = tf.zeros([batch_size], tf.float32)
    extra = tuple(tf.fill([0], "") for _ in range(names))
    return tf.data.Dataset.from_tensors((images, labels, mask) + extra).repeat(count)


def eval_dataset(cfg, rank=0, rank_size=1, with_names=False):
    """One deterministic pass over every validation record, split by record index across ranks.

    Yields (images float32 [cfg.eval_batch_size, cfg.image_size, cfg.image_size, 3] normalised,
    labels int32 [cfg.eval_batch_size], mask float32 [cfg.eval_batch_size]); mask is 1 for a real
    record and 0 for padding. Rank r takes records r, r + rank_size, ... in file order; every rank
    yields exactly eval_steps(cfg, rank_size) batches, so summed over all ranks the mask equals the
    number of validation records and collective ops across ranks stay in step. Every file is checked
    first (check_shards). `with_names` adds two string vectors [real rows], unpadded: each record's
    file name (the layout's key, '' when absent) and the path of the shard it came from
    (per-image predictions).
    """
    _check_rank(rank, rank_size)
    data = dataset_of(cfg)
    files = list_shards(data.shard_dir, "validation", data.layout)
    total = sum(check_shards(data, "validation", files))
    steps = eval_steps(cfg, rank_size, total)
    local = len(range(rank, total, rank_size))
    if with_names:  # each record with the path of its shard (the record id needs it)
        ds = tf.data.Dataset.from_tensor_slices(files).flat_map(
            lambda f: tf.data.TFRecordDataset(f).map(lambda record: (record, f))
        )
    else:
        ds = tf.data.Dataset.from_tensor_slices(files).flat_map(tf.data.TFRecordDataset)
    if rank_size > 1:
        ds = ds.shard(rank_size, rank)

    def _prepare(serialized, *shard):
        parsed = parse_record(serialized, data.layout, with_name=True)
        jpeg = preprocessing.limit_pixels(parsed[0], cfg.max_image_pixels, parsed[2])
        kept = parsed[1:] if with_names else parsed[1:2]
        return (preprocessing.eval_image_from_config(jpeg, cfg),) + kept + shard

    ds = ds.map(_prepare, num_parallel_calls=AUTOTUNE)
    ds = ds.batch(cfg.eval_batch_size).map(_pad_batch(cfg.eval_batch_size, cfg.image_size))
    filler = steps - (-(-local // cfg.eval_batch_size))
    if filler > 0:
        ds = ds.concatenate(
            _empty_batches(filler, cfg.eval_batch_size, cfg.image_size, 2 if with_names else 0)
        )
    log.info(
        "eval input rank %d/%d: %d of %d records in %d batches",
        rank,
        rank_size,
        local,
        total,
        steps,
    )
    return with_threads(ds.prefetch(AUTOTUNE), cfg.input_threads)
