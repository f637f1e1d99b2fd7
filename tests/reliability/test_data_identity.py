"""The shards are the ones the manifest names (issue 12, item 6).

The report shows manifest.json's sha256 as the dataset's identity. Before, one validation shard
copied over another changed the top-1 while the report still showed that sha256. Now every
evaluation checks the validation shards' sha256, every block start checks the train shards' sizes
(and their sha256 with verify_train_sha256), and the report and audit.json say what was checked
and when. A refused stage exits 2 naming the shard, leaves it as it was (sha256), and writes
nothing, in the run's folders or anywhere else.
"""

import json
import os
import shutil

import pytest

from resnext import checkpoints, paths
from resnext.train import records

import hostile as H
import rel_support as S

VAL = ("validation-00000-of-00002", "validation-00001-of-00002")
TRAIN = "train-00001-of-00002"


class RanksLaunched(Exception):
    """The launcher got past its checks and would start the ranks."""


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digits_data):
    """A step-4 checkpoint of the tiny model, outside any test's folder."""
    from resnext.backends import get_backend
    from resnext.train import loop

    cfg = S.tiny_config(digits_data, tmp_path_factory.mktemp("identity") / "results", "trained")
    loop.train_block(cfg, 4, get_backend(cfg, 0, 1))
    return paths.ckpt_prefix(cfg.train_dir, 4)


def _data(digits_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(digits_data, str(data))
    return data


def _flip_last_byte(path):
    """Same size, other bytes: only a sha256 can tell (it is the last record's CRC)."""
    with open(str(path), "r+b") as f:
        f.seek(-1, os.SEEK_END)
        byte = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0x01]))


def _copy_over(data):
    shutil.copyfile(str(data / VAL[0]), str(data / VAL[1]))


def _unlisted(data):
    shutil.copyfile(str(data / VAL[1]), str(data / "validation-00002-of-00003"))


EVAL_CASES = {
    # what the issue reproduced: another shard's bytes under a listed name
    "copied-over": (_copy_over, VAL[1], "changed after it was listed"),
    # size alone misses this one
    "same-size": (lambda d: _flip_last_byte(d / VAL[1]), VAL[1], "has sha256"),
    "unlisted": (_unlisted, "validation-00002-of-00003", "is not listed in"),
}


@pytest.mark.parametrize("case", sorted(EVAL_CASES))
def test_an_evaluation_refuses_shards_the_manifest_does_not_name(
    case, trained, digits_data, tmp_path, caplog, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    damage, shard, words = EVAL_CASES[case]
    data = _data(digits_data, tmp_path)
    damage(data)
    config = H.tiny_config_file(tmp_path / "config.yaml", data, tmp_path / "results")
    before, victim = H.tree(tmp_path), H.sha256(data / shard)
    line, text = H.refused(["evaluate", "--config", config, "--checkpoint", trained], caplog)
    assert str(data / shard) in line and words in line and "resnext convert" in line, text
    assert H.sha256(data / shard) == victim
    assert H.tree(tmp_path) == before  # no result, no predictions, nothing anywhere else


def _launch(argv, caplog, monkeypatch):
    """`resnext train` in this process, stopping where the ranks would start."""
    from resnext.train import launch

    def refuse(*args, **kwargs):
        raise RanksLaunched()

    monkeypatch.setattr(launch, "supervise", refuse)
    try:
        return H.main(argv, caplog)
    except RanksLaunched:
        return "launched", caplog.text


def _append_record(path):
    """A train shard grown by one whole record (a valid TFRecord frame): it reads, it trains."""
    with open(str(path), "rb") as f:
        head = f.read(16)
    length = int.from_bytes(head[:8], "little")
    with open(str(path), "rb") as f:
        frame = f.read(16 + length)
    with open(str(path), "ab") as f:
        f.write(frame)


@pytest.mark.parametrize("full", [False, True], ids=["size", "sha256"])
def test_training_checks_the_train_shards_at_every_block_start(
    full, digits_data, tmp_path, caplog, monkeypatch
):
    """A grown shard is refused by its size; a same-size change only with verify_train_sha256."""
    monkeypatch.chdir(tmp_path)
    data = _data(digits_data, tmp_path)
    if full:
        _flip_last_byte(data / TRAIN)
    else:
        _append_record(data / TRAIN)
    config = H.tiny_config_file(
        tmp_path / "config.yaml", data, tmp_path / "results", verify_train_sha256=full
    )
    before, victim = H.tree(tmp_path), H.sha256(data / TRAIN)
    code, text = _launch(["train", "--config", config, "--until-step", 4], caplog, monkeypatch)
    assert code == 2, text
    assert str(data / TRAIN) in text and ("has sha256" if full else "bytes but") in text, text
    assert "Traceback" not in text
    assert H.sha256(data / TRAIN) == victim
    assert H.tree(tmp_path) == before  # refused before the lock, the logs or any record
    if full:  # the same shard passes the size check: only the key finds it
        config = H.tiny_config_file(tmp_path / "config.yaml", data, tmp_path / "results")
        assert (
            _launch(["train", "--config", config, "--until-step", 4], caplog, monkeypatch)[0]
            == "launched"
        )


def test_the_report_says_what_was_verified_and_when(
    trained, digits_data, tmp_path, caplog, monkeypatch
):
    """A real launch (ranks stubbed) records its size check, a real evaluation its sha256 check;
    audit.json and report.md carry both."""
    monkeypatch.chdir(tmp_path)
    cfg = S.tiny_config(digits_data, tmp_path / "results")
    config = H.write_yaml(tmp_path / "config.yaml", cfg.to_dict())
    code, _ = _launch(["train", "--config", config, "--until-step", 4], caplog, monkeypatch)
    assert code == "launched"
    # the stubbed ranks wrote no checkpoint: the trained one stands in for theirs (copied after the
    # launch, which starts no rank once a checkpoint covers the block)
    _copy_checkpoint(trained, paths.ckpt_dir(cfg.train_dir))
    lines = records.read_jsonl(paths.data_checks(cfg.train_dir))
    assert [(r["split"], r["check"], r["shards"], r["until_step"]) for r in lines] == [
        ("train", "size", 2, 4)
    ]
    code, text = H.main(
        ["evaluate", "--config", config, "--checkpoint", paths.ckpt_prefix(cfg.train_dir, 4)],
        caplog,
    )
    assert code == 0, text
    record = S.read_json(os.path.join(cfg.run_dir, "eval", "step-4.json"))["data_verified"]
    sizes = sum(os.path.getsize(os.path.join(digits_data, n)) for n in VAL)
    assert (record["split"], record["check"], record["shards"], record["bytes"]) == (
        "validation",
        "sha256",
        2,
        sizes,
    )
    code, text = H.main(["report", "--config", config], caplog)
    assert code == 0, text
    audit = S.read_json(os.path.join(cfg.run_dir, "report", "audit.json"))["data_verification"]
    assert audit["validation"]["checked"] == 1 and audit["validation"]["by_check"] == {"sha256": 1}
    assert audit["train"] == {
        "block_starts": 1,
        "by_check": {"size": 1},
        "last_verified_utc": lines[0]["verified_utc"],
    }
    with open(os.path.join(cfg.run_dir, "report", "report.md"), encoding="utf-8") as f:
        md = f.read()
    assert "Validation shards checked against the manifest**: sha256 at 1 of 1 evaluations" in md
    assert (
        "Train shards checked against the manifest**: at 1 block start(s): sha256 0, size only 1"
    ) in md


def _copy_checkpoint(prefix, folder):
    os.makedirs(str(folder), exist_ok=True)
    for path in checkpoints.files_of(prefix):
        shutil.copy(path, str(folder))


def test_an_evaluation_result_without_a_check_is_flagged_in_the_report(tmp_path):
    """An eval JSON of an older version (no data_verified) is named as not checked."""
    from resnext.report import sections_audit

    checked = {
        "validation": {
            "evaluations": 2,
            "checked": 1,
            "by_check": {"sha256": 1},
            "unchecked_steps": [4],
            "last_verified_utc": "2026-12-07T06:00:00Z",
        },
        "train": {"block_starts": 0, "by_check": {}, "last_verified_utc": None},
    }

    class Cfg:
        verify_train_sha256 = False

    facts = dict(sections_audit._verification_facts(checked, Cfg()))
    assert facts["Validation shards checked against the manifest"] == (
        "sha256 at 1 of 2 evaluations (last 2026-12-07 06:00:00); NOT checked at step(s) 4"
    )
    assert facts["Train shards checked against the manifest"].startswith("no record")
    assert json.dumps(checked)  # what audit.json holds is plain JSON
