"""compare's per-step McNemar p-values, Holm-corrected over the steps compared.

Three steps where run B alone gets 6, 6 and 7 more images right (run A none): the exact two-sided
McNemar p of k discordant images all one way is 2 * 0.5**k, so the raw p are 0.03125, 0.03125 and
0.015625, all < 0.05. Holm by hand (ascending, times N, N-1, ..., running maximum): 0.015625 * 3 =
0.046875, then max(0.046875, 0.03125 * 2) = 0.0625 twice. Only the third step stays significant.
"""

import math

import numpy as np

from resnext.compare import build, paired, sections
from resnext.report.render import Para

IMAGES = 20
B_ONLY = (6, 6, 7)  # per step, images only run B gets right


def _rows(hits):
    """predictions.read()-like rows of IMAGES images, the first `hits` right (top-1 and top-5)."""
    correct = np.arange(IMAGES) < hits
    return {
        "top1_correct": correct,
        "top5_correct": correct,
        "top5": np.zeros((IMAGES, 5), np.int64),
        "label_probability": correct.astype(np.float32),
    }


def _step_rows():
    """build's step rows of the three steps, tested and Holm-adjusted as build.steps does."""
    order = (np.arange(IMAGES), np.arange(IMAGES))
    rows = []
    for step, extra in zip((4, 8, 12), B_ONLY):
        rec_a = {"epoch": step / 4.0, "num_images": IMAGES, "top1": 0.0, "top5": 0.0}
        rec_b = dict(rec_a, top1=extra / IMAGES, top5=extra / IMAGES)
        tests = paired.compare_step(_rows(0), _rows(extra), order)
        rows.append(build._step_row(step, rec_a, rec_b, tests, None))
    paired.adjust([r["paired"] for r in rows])
    return rows


def _holm_by_hand(raw):
    order = sorted(range(len(raw)), key=lambda i: raw[i])
    adjusted, running = [0.0] * len(raw), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(raw) - rank) * raw[i]))
        adjusted[i] = running
    return adjusted


def test_holm_matches_the_hand_computation():
    raw = [2 * 0.5**k for k in B_ONLY]
    assert raw == [0.03125, 0.03125, 0.015625]
    expected = _holm_by_hand(raw)
    assert expected == [0.0625, 0.0625, 0.046875]
    assert all(math.isclose(a, b) for a, b in zip(paired.holm(raw), expected))
    assert paired.holm([]) == []


def test_a_raw_p_under_alpha_is_not_significant_after_holm():
    rows = _step_rows()
    top1 = [r["paired"]["top1"] for r in rows]
    assert [t["p_value"] for t in top1] == [0.03125, 0.03125, 0.015625]  # raw, each < 0.05
    assert all(math.isclose(t["p_holm"], e) for t, e in zip(top1, [0.0625, 0.0625, 0.046875]))
    assert top1[0]["conclusion"].startswith("no difference detected (Holm-adjusted p 0.0625 over 3")
    assert "raw p 0.03125" in top1[0]["conclusion"]
    assert top1[2]["conclusion"].startswith("different (Holm-adjusted p 0.04688 over 3 step(s)")
    assert build.verdict(rows).startswith("different at step(s) 12 (")


def test_both_p_values_are_in_the_tables_and_the_rule_in_the_text():
    rows = _step_rows()
    frame = sections.steps_frame({"steps": rows})
    assert list(frame["top1_p_value"]) == [0.03125, 0.03125, 0.015625]
    assert [round(p, 6) for p in frame["top5_p_holm"]] == [0.0625, 0.0625, 0.046875]
    table = sections._step_rows({"steps": rows})
    assert table[0][5:7] == ["0.03125", "0.0625"]  # top-1 p, Holm p
    para = next(b for b in sections._steps_blocks({"steps": rows}) if isinstance(b, Para))
    rule = "a difference at a step is called significant when its Holm-adjusted p < 0.05 over the 3"
    assert rule in para.text, para.text
