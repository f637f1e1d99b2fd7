"""ResNeXt as data: a table of ArchSpecs and one graph builder (NHWC, graph mode, tf.nn only).

resnext50_32x4d matches arXiv:1611.05431 table 1 and the seed's code: stem 7x7/2 conv (explicit
pad 3, VALID) + BN + ReLU + 3x3/2 max-pool; stages of 3-4-6-3 bottlenecks whose 3x3 conv is
grouped (cardinality 32, 4 channels per group in stage 1, doubling per stage) and carries the
stride (v1.5); a projection shortcut (1x1 conv + BN) on each stage's first block; the last BN
of every block starts with gamma = 0; global mean -> dense `num_classes`.

Variables: convs `<scope>/weights`, BN `<scope>/BatchNorm/{gamma,beta,moving_mean,moving_variance}`
(weight decay skips names containing "BatchNorm", as the seed does), head `dense/{kernel,bias}`.
Runs in the Ascend container: Python 3.7, TF 1.15 API (through resnext.compat).
"""

import collections

from resnext.compat import tf

ArchSpec = collections.namedtuple(
    "ArchSpec", ["depths", "cardinality", "base_width", "stem_width", "batch_norm"]
)

ARCHS = {
    "resnext50_32x4d": ArchSpec((3, 4, 6, 3), 32, 4, 64, True),
    "resnext101_32x4d": ArchSpec((3, 4, 23, 3), 32, 4, 64, True),
    # Same builder at toy widths, for tests at 32x32.
    "resnext_tiny": ArchSpec((1, 1, 1, 1), 4, 2, 8, True),
    # No batch norm: ranks' updates are then exactly comparable with a bigger single batch.
    "resnext_tiny_nobn": ArchSpec((1, 1, 1, 1), 4, 2, 8, False),
}

BN_SCOPE = "BatchNorm"


def get_arch(name):
    if name not in ARCHS:
        raise ValueError("unknown arch %r; known: %s" % (name, ", ".join(sorted(ARCHS))))
    return ARCHS[name]


class _Builder:
    """Holds the per-graph switches so the layer helpers stay small."""

    def __init__(self, spec, is_training, bn_decay, bn_epsilon, grouped_conv, compute_dtype):
        self.spec = spec
        self.is_training = is_training
        self.bn_decay = bn_decay
        self.bn_epsilon = bn_epsilon
        self.grouped_conv = grouped_conv
        self.dtype = compute_dtype

    def _variable(self, name, shape, initializer, trainable=True):
        var = tf.get_variable(name, shape, tf.float32, initializer=initializer, trainable=trainable)
        # Master weights stay fp32; a reduced-precision graph reads a cast copy.
        return tf.cast(var, self.dtype) if self.dtype != tf.float32 else var

    def conv(self, x, filters, kernel, stride, scope, groups=1):
        """x [N,H,W,C] -> [N,H',W',filters]; 'pad then VALID' when strided,
        so sizes match the seed."""
        in_ch = int(x.shape[-1])
        with tf.variable_scope(scope):
            w = self._variable(
                "weights",
                [kernel, kernel, in_ch // groups, filters],
                tf.variance_scaling_initializer(),
            )
        if stride > 1 and kernel > 1:
            pad = kernel // 2
            x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
            padding = "VALID"
        else:
            padding = "SAME"
        strides = [1, stride, stride, 1]
        if groups == 1 or self.grouped_conv == "native":
            return tf.nn.conv2d(x, w, strides, padding)
        # Fallback for TF builds without grouped kernels: same variable, per-group slices.
        xs = tf.split(x, groups, axis=3)
        ws = tf.split(w, groups, axis=3)
        return tf.concat([tf.nn.conv2d(a, b, strides, padding) for a, b in zip(xs, ws)], axis=3)

    def batch_norm(self, x, scope, zero_gamma=False):
        """Fused BN over [N,H,W,C]; moving statistics update through tf.GraphKeys.UPDATE_OPS."""
        channels = int(x.shape[-1])
        with tf.variable_scope(scope):
            if not self.spec.batch_norm:
                bias = self._variable("bias", [channels], tf.zeros_initializer())
                return x + bias
            with tf.variable_scope(BN_SCOPE):
                return self._fused_bn(x, channels, zero_gamma)

    def _fused_bn(self, x, channels, zero_gamma):
        ones, zeros = tf.ones_initializer(), tf.zeros_initializer()
        gamma = tf.get_variable("gamma", [channels], tf.float32, zeros if zero_gamma else ones)
        beta = tf.get_variable("beta", [channels], tf.float32, zeros)
        mean = tf.get_variable("moving_mean", [channels], tf.float32, zeros, trainable=False)
        var = tf.get_variable("moving_variance", [channels], tf.float32, ones, trainable=False)
        if not self.is_training:
            y, _, _ = tf.nn.fused_batch_norm(
                x, gamma, beta, mean, var, self.bn_epsilon, is_training=False
            )
            return y
        y, batch_mean, batch_var = tf.nn.fused_batch_norm(x, gamma, beta, epsilon=self.bn_epsilon)
        for moving, value in ((mean, batch_mean), (var, batch_var)):
            update = tf.assign_sub(
                moving, (1.0 - self.bn_decay) * (moving - tf.cast(value, tf.float32))
            )
            tf.add_to_collection(tf.GraphKeys.UPDATE_OPS, update)
        return y

    def bottleneck(self, x, out_ch, group_ch, stride, project, scope):
        """One ResNeXt block: 1x1 -> grouped 3x3 (stride) -> 1x1, plus shortcut;
        [N,H,W,C] -> [N,H/s,W/s,out_ch]."""
        with tf.variable_scope(scope):
            shortcut = x
            if project:
                shortcut = self.conv(x, out_ch, 1, stride, "shortcut")
                shortcut = self.batch_norm(shortcut, "shortcut")
            y = tf.nn.relu(self.batch_norm(self.conv(x, group_ch, 1, 1, "conv1"), "bn1"))
            y = self.conv(y, group_ch, 3, stride, "conv2", groups=self.spec.cardinality)
            y = tf.nn.relu(self.batch_norm(y, "bn2"))
            y = self.batch_norm(self.conv(y, out_ch, 1, 1, "conv3"), "bn3", zero_gamma=True)
            return tf.nn.relu(y + shortcut)

    def stem(self, x):
        """[N,H,W,3] -> [N,H/4,W/4,stem_width]."""
        with tf.variable_scope("stem"):
            x = self.conv(x, self.spec.stem_width, 7, 2, "conv")
            x = tf.nn.relu(self.batch_norm(x, "bn"))
            return tf.nn.max_pool(x, [1, 3, 3, 1], [1, 2, 2, 1], "SAME")

    def body(self, x):
        spec = self.spec
        for i, depth in enumerate(spec.depths):
            out_ch = spec.stem_width * 4 * 2**i
            group_ch = spec.cardinality * spec.base_width * 2**i
            for j in range(depth):
                stride = 2 if (j == 0 and i > 0) else 1
                x = self.bottleneck(
                    x, out_ch, group_ch, stride, j == 0, "stage%d/block%d" % (i + 1, j + 1)
                )
        return x


def build_logits(
    images,
    arch,
    num_classes,
    is_training,
    bn_decay=0.9,
    bn_epsilon=1e-4,
    grouped_conv="native",
    compute_dtype=None,
):
    """images float32 [N,H,W,3] (normalised) -> logits float32 [N,num_classes], named 'logits'.

    `arch` is a name in ARCHS or an ArchSpec. compute_dtype (e.g. tf.float16) casts activations and
    weight reads; variables and the returned logits stay float32. Creates variables in the current
    variable scope; call once per graph (or under reuse) and read BN updates from UPDATE_OPS.
    """
    spec = get_arch(arch) if isinstance(arch, str) else arch
    dtype = compute_dtype or tf.float32
    b = _Builder(spec, is_training, bn_decay, bn_epsilon, grouped_conv, dtype)
    x = tf.cast(images, dtype) if dtype != tf.float32 else images
    x = b.body(b.stem(x))
    x = tf.reduce_mean(x, [1, 2])
    with tf.variable_scope("dense"):
        kernel = b._variable(
            "kernel", [int(x.shape[-1]), num_classes], tf.random_normal_initializer(stddev=0.01)
        )
        bias = b._variable("bias", [num_classes], tf.zeros_initializer())
        logits = tf.matmul(x, kernel) + bias
    return tf.identity(tf.cast(logits, tf.float32), name="logits")


def config_logits(cfg, images, is_training, compute_dtype=None):
    """build_logits with the model keys of a Config (arch, num_classes, bn_decay, bn_epsilon,
    grouped_conv): images float32 [N,H,W,3] -> logits float32 [N,num_classes]. One owner of
    which config keys shape the model, for training, evaluation, export and the benchmark."""
    return build_logits(
        images,
        cfg.arch,
        cfg.num_classes,
        is_training,
        bn_decay=cfg.bn_decay,
        bn_epsilon=cfg.bn_epsilon,
        grouped_conv=cfg.grouped_conv,
        compute_dtype=compute_dtype,
    )


def is_batch_norm_variable(var):
    return BN_SCOPE in var.op.name
