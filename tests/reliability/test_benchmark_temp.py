"""`resnext benchmark` removes its temp folder, also on failure (issue 12, item 16).

Before, every run left /tmp/resnext-bench-<random>/ (the ranks' config copy and logs) behind,
whether it passed or a rank failed. Now the folder (made by mkdtemp, so ours alone) is removed
however the ranks end; a failed rank's message still shows its log tail.
"""

import os
import tempfile

import hostile as H


def _bench_folders(root):
    return sorted(n for n in os.listdir(str(root)) if n.startswith("resnext-bench-"))


def _setup(tmp_path, monkeypatch, digits_data, **changes):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where mkdtemp makes the folder
    monkeypatch.chdir(tmp_path)
    config = H.tiny_config_file(
        tmp_path / "config.yaml", digits_data, tmp_path / "results", **changes
    )
    return temp, config


def test_a_failed_benchmark_leaves_no_temp_folder(tmp_path, caplog, monkeypatch, digits_data):
    """A real rank that fails (its shards are gone): exit 2 naming the rank, nothing left in TMPDIR,
    the data folder (the victim) untouched."""
    data = tmp_path / "data"
    data.mkdir()
    temp, config = _setup(tmp_path, monkeypatch, str(data))
    before = H.tree(data)
    code, text = H.main(
        ["benchmark", "--config", config, "--data", "real", "--steps", 1, "--warmup", 0], caplog
    )
    assert code == 2, text
    assert (
        "rank 0 exited with code" in text
        and "Traceback (most recent" not in text.split("last lines of")[0]
    ), text
    assert _bench_folders(temp) == [] and H.tree(data) == before


def test_a_finished_benchmark_leaves_no_temp_folder(tmp_path, caplog, monkeypatch, digits_data):
    """The launcher stubbed to write the result as rank 0 would: the folder goes all the same."""
    from resnext.train import launch

    temp, config = _setup(tmp_path, monkeypatch, digits_data)
    seen = []

    def rank0(cfg, argv, log_dir, device=None):  # launch.supervise's signature
        seen.append(log_dir)
        out = argv[argv.index("--out") + 1]
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            f.write('{"images_per_sec_mean": 1.0}\n')

    monkeypatch.setattr(launch, "supervise", rank0)
    code, text = H.main(["benchmark", "--config", config], caplog)
    assert code in (0, None), text
    assert seen and seen[0].startswith(str(temp) + os.sep) and _bench_folders(temp) == []
