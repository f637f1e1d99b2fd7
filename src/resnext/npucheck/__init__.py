"""`resnext npu-check`: a first-run check of an Ascend server before days of NPU time.

Six items, each timed, each ending in PASS, FAIL (with its log tail) or SKIP (with the reason):
npu-smi/driver/CANN versions, the Python/TensorFlow/npu_bridge versions, a 1-device run of the
tiny model with iterations_per_loop 10, a 2-device run with HCCL broadcast and all-reduce,
evaluation and export of the 1-device checkpoint, and the rank table of the devices found.
    check.py    the items in order, <out>/npu-check.json
    outcome.py  one item: timing, PASS/FAIL/SKIP, log tail; the record
    host.py     items 1, 2, 6 (versions, rank table) and the 2-device run's device IPs
    tiny.py     the tiny config and its TF-slim shards (TensorFlow's TFRecord writer)
    runs.py     items 3 and 5 (train.loop, evaluate, export in this process)
    ranks.py    item 4 (train.launch ranks, `resnext npu-check-rank`), the ranks' comparison
Against the test fake of npu_bridge (tests/fakes) a PASS proves nothing about the device; the
output says so. Python 3.7, TF 1.15 API (it runs in the Ascend container).
"""
