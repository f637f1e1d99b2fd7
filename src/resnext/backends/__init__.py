"""Device backends: what differs between CPU, GPU and NPU ranks (sessions, averaging, precision).

`get_backend(cfg, rank, rank_size)` imports only the chosen backend's module, so npu_bridge is
never imported unless backend == "npu". Python 3.7, TF 1.15 API.
"""


def get_backend(cfg, rank=0, rank_size=1):
    if cfg.backend == "npu":
        from resnext.backends.npu import NpuBackend

        return NpuBackend(cfg, rank, rank_size)
    from resnext.backends.cpu import CollectiveBackend

    return CollectiveBackend(cfg, rank, rank_size)
