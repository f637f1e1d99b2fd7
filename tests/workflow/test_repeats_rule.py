"""The `repeats` target's plan (snakemake -n -p) on the tiny workflow: one module of the same
rules per seed, on the base run's data, then a compare per pair and the summary; `all` unchanged."""

import os

import pytest

from resnext.config import load_resolved
from support.paths import TINY
from support.workflow import planned_jobs, snakemake, work_folder

SEEDS = ("--configfile", "tiny.yaml", "--config", "repeat_seeds=[1,2]")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return work_folder(tmp_path_factory.mktemp("wfrepeats"))


def test_repeats_plans_each_seed_through_the_same_rules_on_one_data(work):
    run = snakemake(work, "repeats", "-n", "-p", *SEEDS)
    jobs = planned_jobs(run)
    for seed in (1, 2):
        for rule, count in (
            ("train_block", 2),
            ("evaluate_checkpoint", 2),
            ("export", 1),
            ("report", 1),
            ("resolve_config", 1),
        ):
            assert jobs.pop("repeat_s%d_%s" % (seed, rule)) == count, (seed, rule)
        jobs.pop("repeat_s%d_stage_settings" % seed)
    # the base run only converts the data both repeats read; it trains nothing
    assert jobs == {
        "resolve_config": 1,
        "stage_settings": 1,
        "demo_data": 1,
        "convert": 1,
        "repeat_compare": 1,
        "repeats_summary": 1,
        "repeats": 1,
    }
    text = run.stdout
    for seed in (1, 2):
        assert (
            "resnext train --config results/tiny-s%d/config.resolved.yaml --until-step 8" % seed
        ) in text
    assert (
        "resnext compare results/tiny-s1 results/tiny-s2 --out "
        "results/tiny-repeats/compare-s1-s2 > results/tiny-repeats/logs/compare-s1-s2.log" in text
    )
    assert (
        "resnext repeats --out results/tiny-repeats --runs results/tiny-s1 results/tiny-s2"
        " --compares results/tiny-repeats/compare-s1-s2 > results/tiny-repeats/logs/"
        "summary.log" in text
    )


def test_a_repeat_config_is_the_base_with_its_seed_name_and_data(work):
    snakemake(work, "results/tiny-s2/config.resolved.yaml", *SEEDS)
    cfg = load_resolved(str(work / "results" / "tiny-s2" / "config.resolved.yaml"))
    assert (cfg.run_name, cfg.seed, cfg.repeat_of) == ("tiny-s2", 2, "tiny")
    assert cfg.data_url == os.path.join("results", "tiny", "data")
    assert cfg.learning_rate_maximum == TINY["learning_rate_maximum"]


def test_all_is_unchanged_by_repeat_seeds(work):
    plain = planned_jobs(snakemake(work, "all", "-n", "--configfile", "tiny.yaml"))
    assert planned_jobs(snakemake(work, "all", "-n", *SEEDS)) == plain
    assert not [rule for rule in plain if rule.startswith("repeat")]


def test_repeats_with_one_seed_names_the_key(work):
    run = snakemake(
        work,
        "repeats",
        "-n",
        "--configfile",
        "tiny.yaml",
        "--config",
        "repeat_seeds=[1]",
        check=False,
    )
    assert run.returncode != 0
    assert "repeat_seeds holds 1 seed(s), needs at least two" in run.stdout
