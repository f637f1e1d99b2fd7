"""RECORDING FAKE: npu_bridge.estimator.npu (package only)."""
