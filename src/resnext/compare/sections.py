"""The comparison (resnext.compare.build.compare's dict) as pandas tables and as report blocks
(resnext.report.render), so compare.md and compare.html carry the same content, escaped the same
way as the report.
"""

from __future__ import annotations

import json

import pandas as pd

from resnext.compare import paired
from resnext.report import fmt
from resnext.report.render import Facts, Heading, Image, Para, Table


def text(value):
    """A value as one printable string: JSON for lists and dicts, lone surrogates (a non-UTF-8
    name) as backslash escapes, so CSV and JSON always encode."""
    if isinstance(value, (list, tuple, dict)):
        value = json.dumps(value, sort_keys=True)
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def runs_frame(result):
    """One row per run: folder, name, seed, final step and rates, throughput and times."""
    rows = []
    for label, facts in sorted(result["runs"].items()):
        speed = result["speed"][label]
        rows.append(
            {
                "run": label,
                "folder": facts["folder"],
                "run_name": facts["run_name"],
                "seed": facts["seed"],
                "final_step": facts["final_step"],
                "top1": facts["final_top1"],
                "top5": facts["final_top5"],
                "images_per_sec": speed["images_per_sec"],
                "time_to_train_s": speed["time_to_train_s"],
                "time_to_target_s": speed["time_to_target_s"],
            }
        )
    return pd.DataFrame(rows)


def steps_frame(result):
    """One row per matching step: rates of A and B, deltas (pp), McNemar counts and p-values."""
    rows = []
    for step in result["steps"]:
        row = {k: v for k, v in step.items() if k not in ("paired", "not_paired_reason")}
        tests = step["paired"] or {}
        for key in ("top1", "top5"):
            test = tests.get(key) or {}
            row.update(
                {
                    "%s_a_only" % key: test.get("a_only"),
                    "%s_b_only" % key: test.get("b_only"),
                    "%s_p_value" % key: test.get("p_value"),
                    "%s_p_holm" % key: test.get("p_holm"),
                }
            )
        row["identical_predictions"] = tests.get("identical_predictions")
        row["not_paired_reason"] = step["not_paired_reason"]
        rows.append(row)
    columns = [
        "step",
        "epoch_a",
        "epoch_b",
        "num_images_a",
        "num_images_b",
        "top1_a",
        "top1_b",
        "top1_delta_pp",
        "top5_a",
        "top5_b",
        "top5_delta_pp",
        "top1_a_only",
        "top1_b_only",
        "top1_p_value",
        "top1_p_holm",
        "top5_a_only",
        "top5_b_only",
        "top5_p_value",
        "top5_p_holm",
        "identical_predictions",
        "not_paired_reason",
    ]
    return pd.DataFrame(rows, columns=columns)


def _config_table(entries):
    return Table(
        ["key", "run A", "run B", "affects"],
        [[e["key"], text(e["a"]), text(e["b"]), ", ".join(e["affects"])] for e in entries],
    )


def _config_blocks(result):
    out = [Heading(2, "Config keys that differ")]
    if result["config_differs"]:
        out.append(_config_table(result["config_differs"]))
    else:
        out.append(Para("none: every key that affects a result is the same"))
    if result["operations_differ"]:
        out.append(Para("Operational keys that differ (they change no result):"))
        out.append(_config_table(result["operations_differ"]))
    return out


def _environment_blocks(result):
    env = result["environment"]
    out = [Heading(2, "Environment (block and evaluation records)")]
    if not env["differs"]:
        out.append(
            Para(
                "the same: %s"
                % "; ".join("%s %s" % (k, v) for k, v in sorted(env["A"].items()) if v is not None)
            )
        )
        return out
    out.append(
        Table(
            ["field", "run A", "run B"],
            [
                [
                    d["field"],
                    fmt.NA if d["a"] is None else d["a"],
                    fmt.NA if d["b"] is None else d["b"],
                ]
                for d in env["differs"]
            ],
        )
    )
    return out


def _p(test, which):
    return fmt.NA if test is None else "%.4g" % test[which]


def _step_rows(result):
    rows = []
    for s in result["steps"]:
        tests = s["paired"] or {}
        row = [str(s["step"]), fmt.num(s["epoch_a"], 2)]
        for key in ("top1", "top5"):
            test = tests.get(key)
            row += [
                fmt.pct(s[key + "_a"]),
                fmt.pct(s[key + "_b"]),
                "%+.3f" % s[key + "_delta_pp"],
                _p(test, "p_value"),
                _p(test, "p_holm"),
                "%d / %d" % (test["a_only"], test["b_only"]) if test else fmt.NA,
            ]
        row.append(
            tests["top1"]["conclusion"] if tests else "not tested: %s" % s["not_paired_reason"]
        )
        rows.append(row)
    return rows


def _compared(result):
    """N of the Holm correction: the steps with a paired test."""
    return sum(1 for s in result["steps"] if s["paired"])


def _steps_blocks(result):
    out = [
        Heading(2, "Accuracy per matching checkpoint step (B - A)"),
        Para(
            "Paired exact McNemar test on per-image correctness (scipy.stats.binomtest on "
            "the discordant images, two-sided), each rate's p-values corrected with Holm's "
            "method over the steps compared (statsmodels multipletests): a difference at a "
            "step is called significant when its Holm-adjusted p < %.2g over the %d step(s) "
            "compared. 'p' is the raw p, 'Holm p' the adjusted one; 'A only / B only': images "
            "only run A, or only run B, gets right." % (paired.ALPHA, _compared(result))
        ),
    ]
    if not result["steps"]:
        return out + [Para("no evaluated step in common")]
    headers = ["step", "epoch"]
    for name in ("top-1", "top-5"):
        headers += ["%s A (%%)" % name, "%s B (%%)" % name, "delta (pp)", "p", "Holm p"]
        headers.append("A only / B only")
    return out + [Table(headers + ["top-1 conclusion"], _step_rows(result))]


def _speed_blocks(result):
    speed = result["speed"]

    def ratio(key):
        return fmt.num(speed[key + "_ratio"], 3)

    items = []
    for label in ("A", "B"):
        s = speed[label]
        items.append(
            (
                "run %s" % label,
                "%s images/s; time to train %s s; to top-1 %s%%: %s s "
                "(step %s)"
                % (
                    fmt.num(s["images_per_sec"], 1),
                    fmt.num(s["time_to_train_s"], 1),
                    fmt.num(speed["target_top1_percent"], 3),
                    fmt.num(s["time_to_target_s"], 1),
                    fmt.NA if s["target_step"] is None else s["target_step"],
                ),
            )
        )
    items += [
        ("throughput ratio B / A", ratio("images_per_sec")),
        ("time-to-train ratio B / A", ratio("time_to_train_s")),
        ("time-to-accuracy ratio B / A", ratio("time_to_target_s")),
    ]
    return [
        Heading(2, "Speed"),
        Para(
            "The accuracy target is the lower of the two runs' best "
            "top-1, which both reach; throughput excludes warm-up "
            "loops."
        ),
        Facts(items),
    ]


def blocks(result, frames):
    """The report blocks of compare.md / compare.html."""
    runs = result["runs"]
    out = [
        Heading(1, "Comparison of two resnext runs"),
        Facts(
            [
                (
                    "run %s" % k,
                    "%s (run_name %s, seed %s)" % (v["folder"], v["run_name"], v["seed"]),
                )
                for k, v in sorted(runs.items())
            ]
        ),
        Heading(2, "Verdict"),
        Para(result["verdict"]),
        Heading(2, "Validation data"),
        Para(
            "%s: %s"
            % (
                "the same" if result["validation_data"]["same"] else "not the same",
                result["validation_data"]["how"],
            )
        ),
    ]
    out += _config_blocks(result) + _environment_blocks(result)
    out += _steps_blocks(result) + _speed_blocks(result)
    out += [
        Heading(2, "Runs"),
        Table(
            list(frames["runs"].columns),
            [[_cell(v) for v in row] for row in frames["runs"].itertuples(index=False)],
        ),
        Heading(2, "Plots"),
        Image("accuracy.png", "Validation top-1 per epoch, both runs"),
        Image("throughput.png", "Throughput per block, both runs"),
    ]
    return out


def _cell(value):
    if isinstance(value, float):
        return fmt.num(value, 4)
    return fmt.NA if value is None else text(value)
