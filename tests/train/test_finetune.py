"""Fine-tuning: a 10-class checkpoint initialises a 4-class model except its head."""

import numpy as np
import pytest

from resnext.backends import get_backend
from resnext.compat import tf
from resnext.config import ConfigError
from resnext.train import loop
from resnext import paths


def test_non_head_weights_start_equal_to_the_source(tiny_cfg):
    source = tiny_cfg(run_name="source")
    loop.train_block(source, 4, get_backend(source))
    prefix = paths.ckpt_prefix(source.train_dir, 4)
    reader = tf.train.NewCheckpointReader(prefix)
    target = tiny_cfg(
        run_name="target", num_classes=4, label_offset=0, restore_path=prefix, num_train_images=120
    )
    run = loop._Session(target, get_backend(target), 0)
    with run.graph.as_default():
        values = {v.op.name: run.sess.run(v) for v in tf.global_variables()}
    body = [
        n
        for n in values
        if not n.startswith("dense")
        and reader.has_tensor(n)
        and "Momentum" not in n
        and n != "global_step"
    ]
    assert len(body) > 20
    for name in body:
        np.testing.assert_array_equal(values[name], reader.get_tensor(name), err_msg=name)
    assert values["dense/kernel"].shape == (256, 4)


def test_shape_mismatch_outside_the_excluded_set_names_the_variable(tiny_cfg):
    source = tiny_cfg(run_name="source")
    loop.train_block(source, 4, get_backend(source))
    prefix = paths.ckpt_prefix(source.train_dir, 4)
    target = tiny_cfg(run_name="target", num_classes=4, restore_path=prefix, restore_exclude=[])
    with pytest.raises(ConfigError, match="dense/kernel has shape"):
        loop._Session(target, get_backend(target), 0)
