"""TensorBoard event files written from Python values (no summary ops in the train graph, so the
NPU's on-device loop is unaffected). Python 3.7, TF 1.15 API.
"""

from resnext.compat import tf

TRAIN_TAGS = ("loss", "total_loss", "lr", "images_per_sec", "loss_scale")
EVAL_TAGS = ("top1", "top5", "loss")


class ScalarWriter:
    """Appends scalar summaries to an event file in `logdir`."""

    def __init__(self, logdir, filename_suffix=""):
        self._writer = tf.summary.FileWriter(logdir, filename_suffix=filename_suffix)

    def write(self, step, values, prefix=""):
        """values: {tag: float}; tags are written as '<prefix><tag>' at global step `step`."""
        summary = tf.Summary(
            value=[
                tf.Summary.Value(tag=prefix + k, simple_value=float(v))
                for k, v in sorted(values.items())
                if v is not None
            ]
        )
        self._writer.add_summary(summary, step)
        self._writer.flush()

    def close(self):
        self._writer.close()


def train_values(record):
    return {k: record.get(k) for k in TRAIN_TAGS}


def eval_values(result):
    return {k: result[k] for k in EVAL_TAGS}
