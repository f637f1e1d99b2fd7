"""Bad config, bad data, missing checkpoint: each stage exits non-zero before writing any output,
with a message that names the key or file and says what to do.

"Output" means a result a later stage or the report reads: checkpoints, metrics.jsonl, block and
eval JSON, export, report, shards and manifest, config.resolved.yaml. The rank logs under
train/logs are diagnostics: they may hold the explanation, so they are allowed.
"""

import logging
import os
import shutil

import pytest


import rel_support as S
from resnext import paths


class RanksLaunched(Exception):
    """The launcher got as far as starting rank processes: the input was not checked before."""


def _main(argv, caplog, monkeypatch=None):
    """`resnext <argv>` in this process -> (exit code, everything it logged or raised).

    With monkeypatch, starting rank processes raises RanksLaunched instead (fail-fast check). An
    exception main() lets through counts as exit code 1 with its message, as a process would print
    it as the last line of its traceback.
    """
    from resnext import cli
    from resnext.train import launch

    if monkeypatch is not None:

        def refuse(*args, **kwargs):
            raise RanksLaunched("rank processes were started before the bad input was found")

        monkeypatch.setattr(launch, "supervise", refuse)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        try:
            code = cli.main([str(a) for a in argv])
        except RanksLaunched:
            raise
        except SystemExit as exc:
            code = exc.code
        except Exception as exc:  # noqa: BLE001 - what the process would die with
            return 1, caplog.text + "\n%s: %s" % (type(exc).__name__, exc)
    return code, caplog.text


def _outputs(results_dir):
    """Result files under results_dir (rank logs excluded, see the module docstring)."""
    return [p for p in S.listing(results_dir) if "/logs/" not in "/" + p]


@pytest.fixture
def cfg_file(tmp_path, digits_data):
    """Factory: a tiny config file (results under tmp_path/results) with raw YAML values changed."""
    import yaml

    def make(**changes):
        values = S.tiny_config(digits_data, tmp_path / "results").to_dict()
        values.update(changes)
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(values))
        return str(path)

    return make


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digits_data):
    """A checkpoint of the tiny model at step 4 (trained in-process)."""
    from resnext.backends import get_backend
    from resnext.train import loop

    root = tmp_path_factory.mktemp("bad-input")
    cfg = S.tiny_config(digits_data, root / "results", "trained")
    loop.train_block(cfg, 4, get_backend(cfg, 0, 1))
    return cfg, paths.ckpt_prefix(cfg.train_dir, 4)


# ---------------------------------------------------------------- config

STAGES = [
    ["train", "--until-step", 4],
    ["evaluate", "--checkpoint", "x/model.ckpt-4"],
    ["convert"],
    ["export"],
    ["report"],
]


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s[0])
@pytest.mark.parametrize(
    "override,named,hint",
    [
        ("batch_size=eight", "'batch_size'", "of type 'integer'"),
        ("batch_size=-8", "'batch_size'", "minimum of 1"),
        ("batch_sise=8", "'batch_sise'", "unknown key"),
    ],
    ids=["wrong-type", "negative-batch", "unknown-key"],
)
def test_a_bad_key_stops_every_stage_before_anything_is_written(
    stage, override, named, hint, cfg_file, tmp_path, caplog, monkeypatch
):
    code, text = _main(
        [stage[0], "--config", cfg_file(), "--set", override] + stage[1:], caplog, monkeypatch
    )
    assert code == 2 and named in text and hint in text, text
    assert not (tmp_path / "results").exists()


def test_an_unknown_key_says_which_key_was_meant(cfg_file, caplog):
    code, text = _main(
        ["evaluate", "--config", cfg_file(batch_sise=8), "--checkpoint", "x"], caplog
    )
    assert code == 2 and "did you mean 'batch_size'" in text and "config.schema.yaml" in text, text


def test_a_bad_key_in_a_config_file_names_the_file(cfg_file, tmp_path, caplog):
    path = cfg_file(rank_size=0)
    code, text = _main(["evaluate", "--config", path, "--checkpoint", "x"], caplog)
    assert code == 2 and path in text and "'rank_size'" in text and "minimum of 1" in text, text
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------- missing data, checkpoint, devices


def test_a_missing_data_path_stops_evaluation_naming_it(cfg_file, trained, tmp_path, caplog):
    _, prefix = trained
    code, text = _main(
        ["evaluate", "--config", cfg_file(data_url="/nonexistent/data"), "--checkpoint", prefix],
        caplog,
    )
    assert code == 2 and "/nonexistent/data" in text and "resnext convert" in text, text
    assert _outputs(tmp_path / "results") == []


def test_a_missing_source_tree_stops_conversion_naming_it(cfg_file, tmp_path, caplog):
    out = tmp_path / "data"
    code, text = _main(
        ["convert", "--config", cfg_file(source_dir="/nonexistent/jpegs", data_url=str(out))],
        caplog,
    )
    assert code == 2 and "/nonexistent/jpegs" in text, text
    assert not out.exists()


def test_a_missing_data_path_stops_training_before_any_rank_starts(
    cfg_file, tmp_path, caplog, monkeypatch
):
    code, text = _main(
        ["train", "--config", cfg_file(data_url="/nonexistent/data"), "--until-step", 4],
        caplog,
        monkeypatch,
    )
    assert code == 2 and "/nonexistent/data" in text and "resnext convert" in text, text
    assert S.listing(tmp_path / "results") == []


def test_a_train_count_other_than_the_manifest_stops_training_before_any_rank_starts(
    cfg_file, tmp_path, caplog, monkeypatch
):
    """The schedule (epochs, warm-up, blocks) is computed from num_train_images: a wrong count would
    train a different recipe without a word."""
    code, text = _main(
        ["train", "--config", cfg_file(num_train_images=121), "--until-step", 4],
        caplog,
        monkeypatch,
    )
    assert (
        code == 2 and "num_train_images is 121" in text and "set num_train_images: 120" in text
    ), text
    assert S.listing(tmp_path / "results") == []


def test_a_missing_data_path_stops_training(cfg_file, tmp_path):
    """Today's path, through a real rank: non-zero, the rank's message, nothing but logs written."""
    proc = S.run_cli(
        "train", "--config", cfg_file(data_url="/nonexistent/data"), "--until-step", 4, check=False
    )
    assert proc.returncode == 2 and "/nonexistent/data does not exist: set data_url" in proc.stdout
    assert [p for p in _outputs(tmp_path / "results") if not p.endswith("config.ranks.yaml")] == []


@pytest.mark.parametrize(
    "backend,extra,named",
    [
        ("cpu", {}, "CPU core"),
        ("npu", {"npu_device_ids": [0, 1]}, "npu_device_ids"),
        ("gpu", {}, "GPU"),
    ],
    ids=["cpu-cores", "npu-device-ids", "gpu-visible"],
)
def test_more_ranks_than_devices_stops_before_any_rank_starts(
    backend, extra, named, cfg_file, tmp_path, caplog, monkeypatch
):
    """GPU: CUDA_VISIBLE_DEVICES, else the driver's GPU list; NPU: npu_device_ids (those present as
    /dev/davinci<id> on an Ascend host); CPU: ranks are processes and may share cores, up to 8 per
    usable core (sched_getaffinity)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    ranks = 8 * len(os.sched_getaffinity(0)) + 1 if backend == "cpu" else 3
    values = dict(extra, backend=backend, rank_size=ranks)
    code, text = _main(
        ["train", "--config", cfg_file(**values), "--until-step", 4], caplog, monkeypatch
    )
    assert (
        code == 2 and "rank_size is %d" % ranks in text and named in text and "at most" in text
    ), text
    assert S.listing(tmp_path / "results") == []


def test_native_grouped_conv_with_onednn_off_stops_before_any_rank_starts(
    cfg_file, tmp_path, caplog, monkeypatch
):
    """With oneDNN switched off TF's CPU kernels have no grouped-conv gradient: the first step would
    fail inside every rank with an InvalidArgumentError that names neither the key
    nor the variable."""
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    code, text = _main(["train", "--config", cfg_file(), "--until-step", 4], caplog, monkeypatch)
    assert code == 2 and "TF_ENABLE_ONEDNN_OPTS=0" in text and "grouped_conv: split" in text, text
    assert S.listing(tmp_path / "results") == []
    with pytest.raises(RanksLaunched):  # the split convolution trains on TF's own kernels
        _main(
            ["train", "--config", cfg_file(grouped_conv="split"), "--until-step", 4],
            caplog,
            monkeypatch,
        )


@pytest.mark.parametrize("stage", ["train", "benchmark"])
def test_bf16_on_a_cpu_without_avx512_stops_before_any_rank_starts(
    stage, cfg_file, tmp_path, caplog, monkeypatch
):
    """On an AVX2-only CPU oneDNN has no bf16 kernels: the grouped-conv gradient falls back to TF's
    own kernels, which have none, and every rank would fail at its first step."""
    from resnext.train import preflight

    monkeypatch.setattr(preflight, "cpu_flags", lambda: {"avx", "avx2", "fma"})
    extra = ["--until-step", 4] if stage == "train" else ["--steps", 1]
    code, text = _main(
        [stage, "--config", cfg_file(precision_mode="bf16")] + extra, caplog, monkeypatch
    )
    assert (
        code == 2 and "precision_mode is bf16" in text and "avx512bw" in text and "fp32" in text
    ), text
    assert S.listing(tmp_path / "results") == []
    monkeypatch.setattr(
        preflight, "cpu_flags", lambda: {"avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq"}
    )
    with pytest.raises(RanksLaunched):
        _main([stage, "--config", cfg_file(precision_mode="bf16")] + extra, caplog, monkeypatch)


def test_cpu_flags_come_from_proc_cpuinfo(tmp_path):
    from resnext.train import preflight

    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nflags\t\t: fpu avx2 avx512f\n\nprocessor\t: 1\nflags\t\t: fpu\n"
    )
    assert preflight.cpu_flags(str(info)) == {"fpu", "avx2", "avx512f"}
    assert preflight.cpu_flags(str(tmp_path / "missing")) == set()


def test_cpu_ranks_may_share_cores_with_a_warning(cfg_file, caplog, monkeypatch):
    """The demo-8p preset runs 8 ranks on 2 cores (README): more CPU ranks than cores is allowed,
    with a warning, and the ranks start."""
    ranks = len(os.sched_getaffinity(0)) + 1
    with pytest.raises(RanksLaunched):
        _main(
            ["train", "--config", cfg_file(rank_size=ranks), "--until-step", 4], caplog, monkeypatch
        )
    assert "share cores" in caplog.text, caplog.text


@pytest.mark.parametrize("stage", ["evaluate", "export"])
def test_a_missing_checkpoint_is_named_with_what_to_do(stage, cfg_file, tmp_path, caplog):
    prefix = str(tmp_path / "results" / "tiny" / "train" / "ckpt" / "model.ckpt-8")
    code, text = _main([stage, "--config", cfg_file(), "--checkpoint", prefix + ".index"], caplog)
    assert code == 2 and "model.ckpt-8" in text and "train that block first" in text, text
    assert _outputs(tmp_path / "results") == []


def test_a_checkpoint_without_index_is_missing(trained, tmp_path, caplog, cfg_file):
    """Data shard present, index absent (a save killed half way): evaluate and export refuse it."""
    cfg, prefix = trained
    half = tmp_path / "half"
    half.mkdir()
    shutil.copy(prefix + ".data-00000-of-00001", str(half / "model.ckpt-4.data-00000-of-00001"))
    for stage in ("evaluate", "export"):
        code, text = _main(
            [stage, "--config", cfg_file(), "--checkpoint", str(half / "model.ckpt-4")], caplog
        )
        assert code == 2 and "no model.ckpt-4.index" in text, text
    assert _outputs(tmp_path / "results") == []


# ---------------------------------------------------------------- bad data


def _copy_data(digits_data, tmp_path, damage):
    data = tmp_path / "data"
    shutil.copytree(digits_data, str(data))
    damage(data)
    return str(data)


def _flip_first_record(path):
    """Flip a byte inside the first record's payload (its CRC no longer matches)."""
    with open(str(path), "r+b") as f:
        f.seek(12 + 40)
        byte = f.read(1)
        f.seek(12 + 40)
        f.write(bytes([byte[0] ^ 0xFF]))


def _truncate(path):
    size = os.path.getsize(str(path))
    with open(str(path), "r+b") as f:
        f.truncate(size // 2)


def _empty(path):
    open(str(path), "wb").close()


DAMAGE = {"corrupt": _flip_first_record, "truncated": _truncate, "empty": _empty}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_validation_shard_stops_evaluation_naming_it(
    kind, trained, digits_data, tmp_path, caplog, cfg_file
):
    shard = "validation-00001-of-00002"
    data = _copy_data(digits_data, tmp_path, lambda d: DAMAGE[kind](d / shard))
    _, prefix = trained
    code, text = _main(
        ["evaluate", "--config", cfg_file(data_url=data), "--checkpoint", prefix], caplog
    )
    assert code != 0 and os.path.join(data, shard) in text, text
    assert _outputs(tmp_path / "results") == []


@pytest.mark.parametrize("kind", ["corrupt", "empty"])
def test_a_damaged_train_shard_stops_training_naming_it(kind, digits_data, tmp_path, cfg_file):
    """Through real ranks (the check lives in the rank's input pipeline): non-zero, the shard named,
    no checkpoint or record written. (Before the data stage's framing checks, an emptied shard
    trained on half the data without a word.)"""
    shard = "train-00001-of-00002"
    data = _copy_data(digits_data, tmp_path, lambda d: DAMAGE[kind](d / shard))
    proc = S.run_cli("train", "--config", cfg_file(data_url=data), "--until-step", 4, check=False)
    assert proc.returncode != 0 and shard in proc.stdout, proc.stdout[-3000:]
    outputs = _outputs(tmp_path / "results")
    assert not [p for p in outputs if "/ckpt/" in p or "block-" in p], outputs


def test_labels_out_of_range_stop_training_and_evaluation(
    trained, cfg_file, tmp_path, caplog, monkeypatch
):
    """The digits have labels 0..9; with num_classes 5, tf.one_hot would silently zero half the
    targets. Training refuses before any rank starts (the launcher checks), evaluation too."""
    path = cfg_file(num_classes=5)
    code, text = _main(["train", "--config", path, "--until-step", 4], caplog, monkeypatch)
    assert code == 2 and "num_classes is 5" in text and "at least 10" in text, text
    _, prefix = trained
    code, text = _main(["evaluate", "--config", path, "--checkpoint", prefix], caplog)
    assert code == 2 and "num_classes is 5" in text, text
    assert S.listing(tmp_path / "results") == []
