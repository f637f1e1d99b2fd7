"""Parameter and multiply-accumulate counts, read off a built inference graph.

MACs count convolutions and matmuls (grouped convs by their real per-group fan-in), per image.
Runs in the Ascend container: Python 3.7, TF 1.15 API.
"""

import numpy as np

from resnext.compat import tf
from resnext.model.resnext import build_logits


def _op_macs(op):
    """MACs of one Conv2D/MatMul op for its (static) batch; 0 for anything else."""
    if op.type == "Conv2D":
        out = op.outputs[0].shape.as_list()  # [N, H, W, C_out]
        kh, kw, cin_per_group, _ = op.inputs[1].shape.as_list()
        return out[0] * out[1] * out[2] * out[3] * kh * kw * cin_per_group
    if op.type == "MatMul":
        n, k = op.inputs[0].shape.as_list()
        return n * k * int(op.outputs[0].shape[-1])
    return 0


def summarize(arch, image_size, num_classes, grouped_conv="native"):
    """-> {"arch", "params", "macs", "image_size", "num_classes"} for one 1-image forward pass."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf.zeros([1, image_size, image_size, 3], tf.float32)
        build_logits(images, arch, num_classes, is_training=False, grouped_conv=grouped_conv)
        params = sum(int(np.prod(v.shape.as_list())) for v in tf.trainable_variables())
        macs = sum(_op_macs(op) for op in graph.get_operations())
    return {
        "arch": arch,
        "params": params,
        "macs": macs,
        "image_size": image_size,
        "num_classes": num_classes,
    }
