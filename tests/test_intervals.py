"""Wilson score intervals (resnext.intervals) against values computed independently (scipy)."""

import pytest
from scipy.stats import binomtest

from resnext import intervals
from resnext.report import verdict


def _scipy(k, n):
    ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
    return [ci.low, ci.high]


def test_the_issues_example_38900_of_50000():
    low, high = intervals.wilson(38900, 50000)
    assert (round(100 * low, 3), round(100 * high, 3)) == (77.434, 78.162)


@pytest.mark.parametrize(
    "k,n",
    [
        (0, 1),
        (1, 1),
        (0, 40),
        (40, 40),
        (3, 40),
        (177, 287),
        (359, 359),
        (47071, 50000),
        (1, 50000),
        (49999, 50000),
    ],
)
def test_equals_scipy_everywhere_including_the_edges(k, n):
    assert intervals.wilson(k, n) == pytest.approx(_scipy(k, n), abs=1e-12)
    low, high = intervals.wilson(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_no_images_no_interval():
    assert intervals.wilson(0, 0) is None


def test_an_eval_record_without_intervals_gets_them_from_its_counts():
    old = {"top1": 0.778, "top5": 0.9, "num_images": 50000}
    assert intervals.rate_interval(old, "top1") == intervals.wilson(38900, 50000)
    assert intervals.rate_interval(dict(old, top1_ci95=[0.1, 0.2]), "top1") == [0.1, 0.2]
    assert intervals.rate_interval({"top1": 0.5}, "top1") is None
    assert intervals.rate_interval({"top1": "x", "num_images": 10}, "top1") is None


@pytest.mark.parametrize(
    "interval,status,words",
    [
        ([77.8, 78.5], "PASS", "lies inside"),
        ([77.0, 77.6], "FAIL", "wholly below"),
        ([78.8, 79.2], "FAIL", "wholly above"),
        ([77.5, 78.0], "INCONCLUSIVE", "straddles the bound 77.697"),
        ([78.4, 78.9], "INCONCLUSIVE", "straddles the bound 78.697"),
        ([77.697, 78.697], "PASS", "lies inside"),
    ],
)
def test_the_equivalence_test_of_an_interval(interval, status, words):
    got, reason = verdict.equivalence(interval, 78.197, 0.5)
    assert got == status and words in reason
    assert "[%.3f, %.3f]" % tuple(interval) in reason and "range [77.697, 78.697]" in reason
