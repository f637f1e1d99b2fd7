"""NPU test settings shared by tests in several folders: a two-server layout and an 8-rank
config."""

from resnext.config import load_config
from support.paths import DEMO_CONFIG

# two servers of four devices (one half each, as the 910 topology requires), device ids not equal
# to rank ids, so a test can tell them apart: rank 3 -> server 10.0.0.1 device 7
SERVERS = [
    {
        "server_id": "10.0.0.1",
        "device_ids": [4, 5, 6, 7],
        "device_ips": ["192.168.100.105", "192.168.101.105", "192.168.102.105", "192.168.103.105"],
    },
    {
        "server_id": "10.0.0.2",
        "device_ids": [0, 1, 2, 3],
        "device_ips": ["192.168.100.201", "192.168.101.201", "192.168.102.201", "192.168.103.201"],
    },
]


def npu_config(tmp_path, *overrides):
    """The demo config as a tiny 8-rank NPU run (32x32, 10 classes) with results under tmp_path."""
    base = [
        "backend=npu",
        "rank_size=8",
        "arch=resnext_tiny",
        "image_size=32",
        "num_classes=10",
        "batch_size=4",
        "precision_mode=allow_mix_precision",
        "loss_scale=1024",
        "iterations_per_loop=5",
        "results_dir=%s" % (tmp_path / "results"),
        "run_name=npu",
    ]
    return load_config([DEMO_CONFIG], base + list(overrides))
