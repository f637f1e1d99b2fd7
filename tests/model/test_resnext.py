import numpy as np
import pytest

from resnext.compat import tf
from resnext.model import ARCHS, build_logits, is_batch_norm_variable
from resnext.model.summary import summarize


def _graph(arch="resnext_tiny", size=32, classes=10, training=False, grouped_conv="native"):
    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.float32, [None, size, size, 3], name="input")
        logits = build_logits(images, arch, classes, training, grouped_conv=grouped_conv)
    return graph, images, logits


def test_resnext50_32x4d_matches_the_published_size():
    # torchvision's resnext50_32x4d has exactly 25,028,904 parameters with 1000 classes
    s1000 = summarize("resnext50_32x4d", 224, 1000)
    assert s1000["params"] == 25028904
    s = summarize("resnext50_32x4d", 224, 1001)
    assert s["params"] == 25028904 + 2049
    assert 4.2e9 <= s["macs"] <= 4.25e9


def test_resnext50_structure():
    spec = ARCHS["resnext50_32x4d"]
    assert spec.depths == (3, 4, 6, 3) and spec.cardinality == 32 and spec.base_width == 4
    graph, _, _ = _graph("resnext50_32x4d", 64, 1001)
    with graph.as_default():
        shapes = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
    # grouped 3x3: 128 channels in 32 groups of 4 in stage 1; stride on the 3x3 in stage 2
    assert shapes["stage1/block1/conv2/weights"] == [3, 3, 4, 128]
    assert shapes["stage4/block3/conv2/weights"] == [3, 3, 32, 1024]
    assert (
        "stage2/block1/shortcut/weights" in shapes
        and "stage2/block2/shortcut/weights" not in shapes
    )
    assert shapes["dense/kernel"] == [2048, 1001]
    convs = [op for op in graph.get_operations() if op.type == "Conv2D"]
    strided = {
        op.inputs[1].op.inputs[0].op.name
        if op.inputs[1].op.type != "VariableV2"
        else op.inputs[1].op.name
        for op in convs
        if op.get_attr("strides")[1] == 2
    }
    assert any("stage2/block1/conv2" in n for n in strided)
    assert not any("stage2/block1/conv1" in n for n in strided)


def test_last_bn_gamma_of_each_block_starts_at_zero():
    graph, _, _ = _graph()
    with graph.as_default(), tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        gammas = {
            v.op.name: sess.run(v) for v in tf.global_variables() if v.op.name.endswith("gamma")
        }
    assert all(np.all(g == 0) for n, g in gammas.items() if "/bn3/" in n)
    assert all(np.all(g == 1) for n, g in gammas.items() if "/bn1/" in n)


def test_named_points_and_shapes():
    graph, images, logits = _graph()
    assert logits.name == "logits:0" and logits.shape.as_list() == [None, 10]
    assert graph.get_tensor_by_name("input:0") is images


@pytest.mark.parametrize("arch", ["resnext_tiny", "resnext_tiny_nobn"])
def test_split_fallback_computes_the_same_function(arch):
    x = np.random.RandomState(0).rand(2, 32, 32, 3).astype(np.float32)
    outs = []
    for mode in ("native", "split"):
        graph, images, logits = _graph(arch, grouped_conv=mode)
        with graph.as_default(), tf.Session() as sess:
            tf.set_random_seed(1)
            sess.run(tf.global_variables_initializer())
            # same variables in both graphs: load the native graph's values
            if outs:
                for v in tf.global_variables():
                    v.load(outs[0][1][v.op.name], sess)
            vals = {v.op.name: sess.run(v) for v in tf.global_variables()}
            outs.append((sess.run(logits, {images: x}), vals))
    assert set(outs[0][1]) == set(outs[1][1])
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-4, atol=1e-5)


def test_batch_norm_variables_are_recognised():
    graph, _, _ = _graph()
    with graph.as_default():
        bn = [v.op.name for v in tf.trainable_variables() if is_batch_norm_variable(v)]
        other = [v.op.name for v in tf.trainable_variables() if not is_batch_norm_variable(v)]
    assert bn and all(n.endswith(("gamma", "beta")) for n in bn)
    assert "dense/bias" in other and all("BatchNorm" not in n for n in other)


def test_training_graph_registers_moving_average_updates():
    graph, _, _ = _graph(training=True)
    with graph.as_default():
        updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
        bn_layers = [v for v in tf.global_variables() if v.op.name.endswith("moving_mean")]
    assert len(updates) == 2 * len(bn_layers) > 0


def test_unknown_arch_is_named():
    with pytest.raises(ValueError, match="resnext_huge"):
        _graph("resnext_huge")
