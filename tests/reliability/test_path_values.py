"""Path-like config values meet shells, Snakemake's path templates and the report (issue 12 item 4).

Every key that names a file or folder takes the schema's `$defs/path` rule: spaces, ':' and any
letter pass, a shell metacharacter, a control character (a newline) or a leading - or ~ is refused
in one line naming the key, before anything is written; run_name `.` and `..` are refused (they put
the run folder at results_dir itself or above it). At 58e2a1a a results_dir holding `;` passed the
schema and reached the rules' shell commands, and `run_name: ..` or "demo\\n" loaded.
"""

import os

import pytest

import rel_support as S
from support.workflow import snakemake, work_folder
from resnext.config import ConfigError, load_config, load_schema

NAME_KEYS = ("run_name", "repeat_of")  # a run's name (a folder of results_dir), not a path
PATH_KEYS = sorted(
    k
    for k, spec in load_schema()["properties"].items()
    if spec.get("$ref") == "#/$defs/path" and k not in NAME_KEYS
)
REFUSED = [
    "r;touch pwned",
    "r && x",
    "r | x",
    "r`id`",
    "r$(id)",
    "$HOME/r",
    "r\nx",
    "r\tx",
    "r\x1b[2J",
    "-rf",
    "~/data",
    "r > x",
    "r*",
    "r?",
    "r[0]",
    "r{a,b}",
    "it's",
    'r"x',
    "r\\x",
    "r!",
    "r\ud800",
]
TAKEN = [
    "my results",
    "/data/ImageNet 2012/train",
    "C:/r",
    "run:1,x=y@z%#^+",
    "données/été",
    "a-b_c.d",
]


def test_the_path_keys_are_the_ones_that_name_files():
    assert PATH_KEYS == [
        "bbox_dir",
        "data_url",
        "rank_table_file",
        "restore_path",
        "results_dir",
        "slurm_conf",
        "source_dir",
        "synsets_file",
        "val_ground_truth_file",
        "val_ground_truth_synsets_file",
    ]


@pytest.mark.parametrize("key", PATH_KEYS)
@pytest.mark.parametrize("value", REFUSED, ids=repr)
def test_a_path_key_refuses_shell_and_control_characters(key, value):
    with pytest.raises(ConfigError) as err:
        load_config([S.DEMO_CONFIG], values={key: value})
    message = str(err.value)
    assert "key %r: %r is not a path this workflow takes" % (key, value) in message
    assert "\n" not in message  # one line, whatever the value holds


@pytest.mark.parametrize("key", PATH_KEYS)
@pytest.mark.parametrize("value", TAKEN)
def test_a_path_key_takes_spaces_colons_and_any_letter(key, value):
    assert getattr(load_config([S.DEMO_CONFIG], values={key: value}), key) == value


def test_a_path_key_of_another_type_gets_the_type_error_alone():
    with pytest.raises(ConfigError) as err:
        load_config([S.DEMO_CONFIG], values={"results_dir": 5})
    assert str(err.value).endswith("key 'results_dir': 5 is not of type 'string'")


@pytest.mark.parametrize("value", [".", "..", "demo\n", "-x", "a b", "a/b", "", "demo;x"], ids=repr)
def test_run_name_refuses_dot_dotdot_and_anything_but_a_plain_name(value):
    with pytest.raises(ConfigError) as err:
        load_config([S.DEMO_CONFIG], values={"run_name": value})
    assert "key 'run_name': %r is not a run name" % value in str(err.value)
    assert str(err.value).count("run_name") == 1  # a value failing two rules is named once


@pytest.mark.parametrize("value", [".", "..", "demo\n", "-x", "a b", "a/b", "demo;x"], ids=repr)
def test_repeat_of_is_a_run_name_or_empty(value):
    assert load_config([S.DEMO_CONFIG], values={"repeat_of": ""}).repeat_of == ""
    with pytest.raises(ConfigError) as err:
        load_config([S.DEMO_CONFIG], values={"repeat_of": value})
    assert "key 'repeat_of': %r is not a run name" % value in str(err.value)


def test_run_name_takes_dots_inside_a_name():
    assert load_config([S.DEMO_CONFIG], values={"run_name": "..."}).run_dir == "results/..."
    cfg = load_config([S.DEMO_CONFIG], values={"run_name": "v1.2-a_b"})
    assert cfg.run_dir == "results/v1.2-a_b"


def _tree(root):
    return sorted(
        os.path.relpath(os.path.join(d, n), str(root))
        for d, dirs, files in os.walk(str(root))
        for n in dirs + files
    )


def test_the_cli_refuses_a_hostile_results_dir_in_one_line_and_writes_nothing(tmp_path):
    before = _tree(tmp_path)
    proc = S.run_cli(
        "convert",
        "--config",
        S.DEMO_CONFIG,
        "--set",
        "results_dir=r;touch pwned",
        check=False,
        cwd=str(tmp_path),
    )
    assert proc.returncode == 2
    assert "key 'results_dir': 'r;touch pwned' is not a path" in proc.stdout
    assert "Traceback" not in proc.stdout
    assert _tree(tmp_path) == before


def test_the_workflow_refuses_a_hostile_results_dir_before_any_job(tmp_path):
    work_folder(tmp_path, values=None, links=("config",))
    proc = snakemake(
        tmp_path, "-n", "all", "--config", "results_dir=r;touch pwned", check=False, cores=1
    )
    assert proc.returncode != 0
    assert "results_dir" in proc.stdout and "r;touch pwned" in proc.stdout
    # nothing but Snakemake's own folder appears: no results folder, no `pwned`
    assert [p for p in _tree(tmp_path) if not p.startswith(".snakemake")] == ["config"]


def test_a_results_dir_with_a_space_works_and_writes_only_inside_it(tmp_path):
    """The rules quote every placeholder (:q): the demo converts into `my results/`, and no stray
    file (`my`, `results`) appears beside it."""
    work_folder(tmp_path, values=None, links=("config",))
    manifest = os.path.join("my results", "tiny", "data", "manifest.json")
    proc = snakemake(
        tmp_path,
        manifest,
        "--config",
        "results_dir=my results",
        "run_name=tiny",
        "demo_val_fraction=0.2",
        check=False,
        cores=1,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert S.read_json(tmp_path / manifest)["splits"]["validation"]["num_images"] > 0
    assert sorted(p for p in os.listdir(str(tmp_path)) if p != ".snakemake") == [
        "config",
        "my results",
    ]
