"""RECORDING FAKE: npu_bridge.estimator (package only)."""
