"""RECORDING FAKE of npu_bridge.npu_init: re-exports some of what both real modules re-export.

tf_adapter/python/npu_bridge/npu_init.py re-exports util, hccl_ops, NPUDistributedOptimizer and
RewriterConfig in Ascend/tensorflow @ 82507eb2 (CANN 20.x) and hicann/tensorflow (current); neither
re-exports npu_optimizer.allreduce (the current one has npu_allreduce instead). Unlike the current
module it does not patch tf.Session (facts §0): resnext builds its session config itself.
"""

from npu_bridge.estimator.npu import util  # noqa: F401
from npu_bridge.estimator.npu.npu_optimizer import NPUDistributedOptimizer  # noqa: F401
from npu_bridge.hccl import hccl_ops  # noqa: F401
from tensorflow.core.protobuf.rewriter_config_pb2 import RewriterConfig  # noqa: F401
