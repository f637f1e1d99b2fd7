"""The one place where TensorFlow 1.15 and TensorFlow 2.x differ for this package.

`tf` is the graph-mode v1 API on both: `tensorflow.compat.v1` with eager execution off on TF 2.x,
plain `tensorflow` on TF 1.15 (the Ascend container). Everything else imports `tf` from here.
Python 3.7 syntax.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep C++ INFO chatter out of rank logs
# TF 2.x turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI/BF16 or AMX; without
# them (an AVX2-only AMD EPYC, say) it runs its own CPU kernels, which have no gradient for grouped
# convolutions -- ResNeXt's 3x3. Read before TF is imported; a user's explicit choice is kept.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import tensorflow as _tf  # noqa: E402

TF_VERSION = _tf.__version__
IS_TF2 = int(TF_VERSION.split(".")[0]) >= 2

if IS_TF2:
    # tf2-only: TF 1.15 has no compat.v1 under this name at run time
    import tensorflow.compat.v1 as tf

    tf.disable_eager_execution()  # tf2-only: graph mode, as TF 1.15 always is
else:
    tf = _tf


def enable_determinism(seed):
    """Seed the default graph and ask for deterministic kernels where this TF offers them.

    Returns True when this call turned TF op determinism on (it was off), so the caller can turn it
    off again with `disable_determinism` once its session is done: it is process-wide, and other
    graphs of the process (an evaluation) build random initializers without a seed, which TF
    refuses while it is on.
    """
    tf.set_random_seed(seed)
    if not IS_TF2 or not hasattr(_tf.config.experimental, "enable_op_determinism"):
        # TF 1.15 (and 2.x before 2.9) has no switch;
        # the env var makes its GPU kernels deterministic
        os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
        return False
    tf_config = _determinism_config()
    if tf_config.is_op_determinism_enabled():  # tf2-only: TF >= 2.9
        return False
    tf_config.enable_op_determinism()  # tf2-only: TF >= 2.9
    return True


def disable_determinism():
    """Turn TF op determinism off again (after `enable_determinism` returned True)."""
    _determinism_config().disable_op_determinism()  # tf2-only: TF >= 2.9


def _determinism_config():
    # is_/disable_op_determinism are not exported, only enable_op_determinism is
    from tensorflow.python.framework import config  # tf2-only: reached on TF >= 2.9 only

    return config


def bf16_rewrite_options(config_proto):
    """Turn on oneDNN's auto-mixed-precision (bf16) graph rewrite on a ConfigProto
    (TF >= 2.9 on CPU)."""
    rewrite = config_proto.graph_options.rewrite_options
    rewrite.auto_mixed_precision_onednn_bfloat16 = (
        1  # tf2-only: RewriterConfig.ON; field absent in TF 1.15
    )
    return config_proto
