"""Checks a stage makes before it starts anything: the data is a proven shard set whose labels fit
num_classes, and (in the launcher) the ranks fit this host's devices.

A data folder is proven by its manifest.json, which `resnext convert` (or `resnext index`, for
shards adopted as they are) writes last: without it the shards present may be what a killed
conversion left. Labels come from the manifest's label map and label range, so no shard is read.
Device counts: GPU from CUDA_VISIBLE_DEVICES, else the driver's list; NPU from npu_device_ids (on
an Ascend host only those present as /dev/davinci<id>); CPU ranks are processes and may share
cores, up to CPU_RANKS_PER_CORE on each usable one.
Runs in the Ascend container: Python 3.7 syntax, no TensorFlow.
"""

import logging
import os
import shutil
import subprocess

from resnext import atomic
from resnext.config import ConfigError
from resnext.data import choice, identity

log = logging.getLogger(__name__)

CPU_RANKS_PER_CORE = (
    8  # the demo-8p preset runs 8 ranks on 2 cores; 64 on 2 hung until rank_timeout_s
)
NVIDIA_GPUS = "/proc/driver/nvidia/gpus"
ASCEND_MANAGER = "/dev/davinci_manager"
BF16_CPU_FLAGS = frozenset(["avx512f", "avx512bw", "avx512vl", "avx512dq"])  # oneDNN's avx512_core


def check_data(cfg):
    """The run's manifest (resnext.data.choice), once it exists and its labels fit num_classes.

    Raises ConfigError naming the folder (and what to run) or the manifest and the key to set.
    """
    plan = choice.decide(cfg)
    path = plan.manifest_path
    writer = "resnext index" if plan.mode == "index" else "resnext convert"
    if not os.path.isfile(path):
        if plan.mode == "index" and not os.path.isdir(plan.shard_dir):
            raise ConfigError(
                "data folder %s does not exist: set data_url to a folder of TF-slim "
                "or TFDS shards or of `resnext convert` output, or leave it empty to "
                "convert source_dir" % plan.shard_dir
            )
        if plan.mode == "index":
            raise ConfigError(
                "data folder %s has not been indexed (no %s); run `resnext index` "
                "first" % (plan.shard_dir, path)
            )
        missing = "" if os.path.isdir(plan.shard_dir) else " (the folder does not exist)"
        raise ConfigError(
            "data folder %s has no manifest.json; run `resnext convert` first%s"
            % (plan.shard_dir, missing)
        )
    try:
        manifest = atomic.read_json(path)
    except ValueError as exc:
        raise ConfigError("%s is not valid JSON (%s); run `%s` again" % (path, exc, writer))
    _check_labels(cfg, path, manifest)
    return manifest


def _check_labels(cfg, path, manifest):
    # tf.one_hot turns a label >= num_classes into an all-zero target: training would run,
    # silently wrong
    label_map = manifest.get("label_map") or {}
    tops = list(label_map.values()) + [(manifest.get("labels") or {}).get("max")]
    tops = [t for t in tops if isinstance(t, int)]
    if not tops:
        return
    top = max(tops)
    if top >= cfg.num_classes:
        found = manifest.get("num_classes_found") or len(label_map)
        raise ConfigError(
            "num_classes is %d but %s has labels up to %d (%d classes, label_offset "
            "%s); set num_classes to at least %d"
            % (cfg.num_classes, path, top, found, cfg.label_offset, top + 1)
        )


def check_devices(cfg):
    """Raise ConfigError when rank_size does not fit this host's devices;
    warn when CPU ranks share cores."""
    check = {"cpu": _check_cpu, "gpu": _check_gpu, "npu": _check_npu}[cfg.backend]
    check(cfg)


def check_slurm(cfg):
    """launcher slurm: SLURM's commands are here, an allocation's task count equals rank_size, and
    (CPU) this node's CPU runs the configured kernels. The allocation, not this host, decides how
    many devices the ranks get: srun refuses a step that does not fit."""
    from resnext.train import rankenv

    missing = [tool for tool in ("srun", "scontrol") if shutil.which(tool) is None]
    if missing:
        raise ConfigError(
            "launcher is slurm but %s is not on PATH: run `resnext train` on a node of "
            "the SLURM cluster (or set launcher: local)" % " and ".join(missing)
        )
    rankenv.check_allocation(cfg)
    if cfg.slurm_conf and not os.path.isfile(cfg.slurm_conf):
        raise ConfigError(
            "slurm_conf: %s is not a file: give the slurm.conf of your cluster (or "
            "leave slurm_conf empty for SLURM's own default)" % cfg.slurm_conf
        )
    if cfg.backend == "cpu":
        _check_grouped_conv(cfg)
        _check_bf16(cfg)


def _too_many(cfg, has, most):
    return ConfigError(
        "rank_size is %d but this host has %s: set rank_size to at most %d"
        % (cfg.rank_size, has, most)
    )


def usable_cores():
    """CPU cores this process may run on (its affinity mask, which containers and taskset
    narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _check_cpu(cfg):
    _check_grouped_conv(cfg)
    _check_bf16(cfg)
    cores = usable_cores()
    most = CPU_RANKS_PER_CORE * cores
    if cfg.rank_size > most:
        raise _too_many(
            cfg,
            "%d usable CPU core(s) (os.sched_getaffinity) and CPU ranks share a core at most "
            "%d at a time" % (cores, CPU_RANKS_PER_CORE),
            most,
        )
    if cfg.rank_size > cores:
        log.warning(
            "rank_size is %d on %d usable CPU core(s): the ranks share cores "
            "(slower than fewer ranks)",
            cfg.rank_size,
            cores,
        )


def _check_grouped_conv(cfg):
    """TF's own CPU kernels (oneDNN switched off) compute grouped convolutions but have no gradient
    for them; resnext.compat switches oneDNN on unless the user set TF_ENABLE_ONEDNN_OPTS."""
    value = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1")
    if cfg.grouped_conv == "native" and value.strip().lower() in ("0", "false"):
        raise ConfigError(
            "grouped_conv is native but TF_ENABLE_ONEDNN_OPTS=%s turns off the only TensorFlow "
            "CPU kernels with a grouped-convolution gradient: unset TF_ENABLE_ONEDNN_OPTS, or "
            "set grouped_conv: split" % value
        )


def cpu_flags(path="/proc/cpuinfo"):
    """The first processor's feature flags in /proc/cpuinfo;
    an empty set where there is no such file."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _check_bf16(cfg):
    """oneDNN has bf16 kernels only from AVX-512 (BW, VL, DQ) up; on an AVX2 CPU the bf16 rewrite
    leaves the grouped-conv gradient to TF's own kernels, which have none,
    and the first step fails."""
    if cfg.precision_mode != "bf16":
        return
    flags = cpu_flags()
    if not flags:  # no /proc/cpuinfo: nothing to judge by
        return
    missing = sorted(BF16_CPU_FLAGS - flags)
    if missing:
        raise ConfigError(
            "precision_mode is bf16 but this CPU lacks %s (/proc/cpuinfo): oneDNN's bf16 kernels "
            "need AVX-512; set precision_mode: fp32" % ", ".join(missing)
        )


def visible_gpus(environ=None):
    """CUDA_VISIBLE_DEVICES as a list of ids, or None when unset. CUDA stops at the first invalid
    (negative) entry, so '-1' or '' hide every GPU."""
    value = (os.environ if environ is None else environ).get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    ids = []
    for item in (v.strip() for v in value.split(",")):
        if not item or item.startswith("-"):
            break
        ids.append(item)
    return ids


def driver_gpus():
    """Number of GPUs the NVIDIA driver lists (/proc/driver/nvidia/gpus, else `nvidia-smi -L`);
    0 without one."""
    if os.path.isdir(NVIDIA_GPUS):
        return len(os.listdir(NVIDIA_GPUS))
    try:
        out = subprocess.check_output(["nvidia-smi", "-L"], stderr=subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.decode("utf-8", "replace").splitlines() if line.startswith("GPU "))


def _check_gpu(cfg):
    visible = visible_gpus()
    if visible is not None:
        count, where = len(visible), "in CUDA_VISIBLE_DEVICES"
    else:
        count, where = driver_gpus(), "in the NVIDIA driver's list (CUDA_VISIBLE_DEVICES is unset)"
    if cfg.rank_size > count:
        if count == 0:
            raise ConfigError(
                "backend is gpu but this host has no GPU %s: use backend cpu, or make a GPU "
                "visible" % where
            )
        raise _too_many(cfg, "%d GPU(s) %s" % (count, where), count)


def _check_npu(cfg):
    # a given rank table or npu_servers place the ranks; the table is checked against rank_size
    if cfg.rank_table_file or os.environ.get("RANK_TABLE_FILE") or cfg.npu_servers:
        return
    ids = list(cfg.npu_device_ids)
    if os.path.exists(ASCEND_MANAGER):
        present = [i for i in ids if os.path.exists("/dev/davinci%d" % i)]
        if cfg.rank_size > len(present):
            raise _too_many(
                cfg,
                "%d of npu_device_ids %s present as /dev/davinci<id> (%s)"
                % (len(present), ids, ", ".join("/dev/davinci%d" % i for i in present) or "none"),
                len(present),
            )
    if cfg.rank_size > len(ids):
        raise _too_many(cfg, "%d NPU(s) in npu_device_ids %s" % (len(ids), ids), len(ids))


def _train_data(cfg):
    """(manifest, size check record): check_train_data's work, and what it verified."""
    manifest = check_data(cfg)
    found = manifest.get("splits", {}).get("train", {}).get("num_images")
    if found != cfg.num_train_images:
        raise ConfigError(
            "num_train_images is %d but %s lists %s train images; set num_train_images: %s"
            % (cfg.num_train_images, choice.manifest_path(cfg), found, found)
        )
    return manifest, identity.verify(cfg, manifest, "train", full=False)


def check_train_data(cfg):
    """check_data, the train count the schedule assumes (num_train_images) matches the manifest's,
    and every train shard has the size the manifest says (identity.DataChanged names one that
    has not)."""
    return _train_data(cfg)[0]


def check_launch(cfg):
    """Everything `resnext train` checks before any rank starts or any file is written.

    -> (manifest, what was verified of the train shards (identity.verify's record)): their sizes,
    and their sha256 too with verify_train_sha256 (after the device check, which is instant).
    """
    manifest, verified = _train_data(cfg)
    if cfg.launcher == "slurm":
        check_slurm(cfg)
    else:
        check_devices(cfg)
    if cfg.verify_train_sha256:
        verified = identity.verify(cfg, manifest, "train", full=True)
    return manifest, verified
