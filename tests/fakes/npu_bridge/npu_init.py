"""RECORDING FAKE of npu_bridge.npu_init: re-exports names, like the OLD (CANN 20.x) module.

Unlike NEW npu_init it does not patch tf.Session (facts §0); resnext builds its config itself.
"""
from npu_bridge.estimator.npu import util  # noqa: F401
from npu_bridge.estimator.npu.npu_optimizer import NPUDistributedOptimizer, allreduce  # noqa: F401
from npu_bridge.hccl import hccl_ops  # noqa: F401
from tensorflow.core.protobuf.rewriter_config_pb2 import RewriterConfig  # noqa: F401
