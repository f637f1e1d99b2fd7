"""The one place where TensorFlow 1.15 and TensorFlow 2.x differ for this package.

`tf` is the graph-mode v1 API on both: `tensorflow.compat.v1` with eager execution off on TF 2.x,
plain `tensorflow` on TF 1.15 (the Ascend container). Everything else imports `tf` from here.
Python 3.7 syntax.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep C++ INFO chatter out of rank logs

import tensorflow as _tf  # noqa: E402

TF_VERSION = _tf.__version__
IS_TF2 = int(TF_VERSION.split(".")[0]) >= 2

if IS_TF2:
    import tensorflow.compat.v1 as tf  # tf2-only: TF 1.15 has no compat.v1 under this name at run time
    tf.disable_eager_execution()  # tf2-only: graph mode, as TF 1.15 always is
else:
    tf = _tf


def enable_determinism(seed):
    """Seed the graph and ask for deterministic kernels where this TF offers them."""
    tf.set_random_seed(seed)
    if IS_TF2:
        try:
            _tf.config.experimental.enable_op_determinism()  # tf2-only: not in TF 1.15
        except AttributeError:
            pass
    else:
        os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")


def bf16_rewrite_options(config_proto):
    """Turn on oneDNN's auto-mixed-precision (bf16) graph rewrite on a ConfigProto (TF >= 2.9 on CPU)."""
    rewrite = config_proto.graph_options.rewrite_options
    rewrite.auto_mixed_precision_onednn_bfloat16 = 1  # tf2-only: RewriterConfig.ON; field absent in TF 1.15
    return config_proto
