"""RECORDING FAKE: npu_bridge.hccl (package only)."""
