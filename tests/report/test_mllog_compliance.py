"""mllog.txt against mlperf-logging's compliance checker.

ResNet was last an MLPerf Training benchmark in v4.0, so training 4.0.0 is the closest ruleset.
Our recipe (cosine lr to 1e-6, label smoothing, ResNeXt) is open-division: the open rules accept
the log; the closed ResNet rules reject it for the keys pinned below.
"""

import json
import os

import pytest

from report_fakes import write_tree
from resnext.report import build_report
from resnext.report.mllog import check_compliance

SETTINGS = {"usage": "training", "ruleset": "4.0.0", "benchmark": "resnet", "division": "open"}


@pytest.fixture(scope="module")
def reference_mllog(tmp_path_factory):
    cfg = write_tree(
        tmp_path_factory.mktemp("ref"), "reference", top1=(0.70, 0.7805), top5=(0.90, 0.9401)
    )
    return build_report(cfg)


def test_open_division_accepts(reference_mllog, demo_report):
    for written in (reference_mllog, demo_report[1]):
        result = check_compliance(written["mllog"], SETTINGS)
        assert result["valid"], result["messages"]
        assert result["messages"] == [] and result["warnings"] == []
        assert json.loads(open(written["audit"], encoding="utf-8").read())["mllog"]["valid"] is True


def test_closed_division_rejects_exactly_the_sgd_poly_keys(reference_mllog, tmp_path):
    text = open(reference_mllog["mllog"], encoding="utf-8").read()
    closed = tmp_path / "closed.txt"
    closed.write_text(text.replace('"value": "open"', '"value": "closed"'), encoding="utf-8")
    result = check_compliance(str(closed), dict(SETTINGS, division="closed"))
    assert not result["valid"]
    assert sorted(result["messages"]) == [
        "Required EXACTLY_ONE occurrence of '%s' but found 0" % key
        for key in (
            "sgd_opt_base_learning_rate",
            "sgd_opt_end_learning_rate",
            "sgd_opt_learning_rate_decay_poly_power",
            "sgd_opt_learning_rate_decay_steps",
            "sgd_opt_weight_decay",
        )
    ]


def test_newer_ruleset_without_resnet_is_reported_not_raised(reference_mllog):
    result = check_compliance(reference_mllog["mllog"], dict(SETTINGS, ruleset="4.1.0"))
    assert not result["valid"]
    assert result["messages"][0].startswith("compliance checker error: FileNotFoundError")
    assert os.path.join("training_4.1.0", "open_resnet.yaml") in result["messages"][0]
