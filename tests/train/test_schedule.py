"""The lr schedules pinned against their formulas, written out independently here."""

import math

import pytest

from resnext.config import load_config
from resnext.train.schedule import evaluate_schedule, warmup_steps

BASE, END = 0.1, 1e-6


def seed_cfg(variant, mode="cosine"):
    # The seed's 8P recipe: 5004 steps/epoch, 5 warm-up epochs, 120 epochs.
    return load_config(
        [], ["rank_size=8", "lr_schedule_variant=%s" % variant, "lr_decay_mode=%s" % mode]
    )


def seed_formula(i, w, t):
    if i < w:
        return BASE * 0.5 * (1 + math.cos(math.pi + math.pi * (i + 1) / w))
    if i <= t:
        return BASE * ((1 - END) * 0.5 * (1 + math.cos(math.pi * (i - w + 1) / (t - w))) + END)
    return END * 0.01


def corrected_formula(i, w, t):
    if i < w:
        return BASE * (i + 1) / w
    if i <= t:
        return END + (BASE - END) * 0.5 * (1 + math.cos(math.pi * (i - w) / (t - w)))
    return END


@pytest.mark.parametrize(
    "variant,formula", [("seed", seed_formula), ("corrected", corrected_formula)]
)
def test_cosine_variants_match_their_formulas(variant, formula):
    cfg = seed_cfg(variant)
    w, t = warmup_steps(cfg), cfg.schedule_steps
    assert (w, t) == (5 * 5004, 600480)
    points = [0, w // 2, w - 1, w, (w + t) // 2, t - 1, t, t + 1, cfg.train_steps]
    got = evaluate_schedule(cfg, points)
    for i, lr in zip(points, got):
        assert lr == pytest.approx(formula(i, w, t), rel=1e-5, abs=1e-12), i


def test_seed_and_corrected_differ_where_documented():
    seed, fixed = seed_cfg("seed"), seed_cfg("corrected")
    w = warmup_steps(seed)
    s, c = (
        evaluate_schedule(seed, [w // 4, seed.train_steps]),
        evaluate_schedule(fixed, [w // 4, fixed.train_steps]),
    )
    # warm-up: the cosine ramp is below the linear one in its first half; the end lr: 1e-8 vs 1e-6
    assert s[0] < c[0]
    assert s[1] == pytest.approx(1e-8, rel=1e-4) and c[1] == pytest.approx(1e-6, rel=1e-4)


def test_steps_mode_multiplies_at_boundaries():
    cfg = load_config(
        [], ["rank_size=8", "lr_decay_mode=steps", "warmup_epochs=0", "lr_decay_epochs=[30, 60]"]
    )
    spe = cfg.steps_per_epoch
    got = evaluate_schedule(cfg, [0, 30 * spe - 1, 30 * spe, 60 * spe, 100 * spe])
    assert got == pytest.approx([0.1, 0.1, 0.01, 0.001, 0.001], rel=1e-5)


def test_linear_mode_reaches_end():
    cfg = load_config([], ["rank_size=8", "lr_decay_mode=linear", "warmup_epochs=0"])
    t = cfg.schedule_steps
    got = evaluate_schedule(cfg, [0, t // 2, t])
    assert got == pytest.approx([0.1, (0.1 + END) / 2, END], rel=1e-4)


def test_schedule_depends_only_on_the_step():
    cfg = seed_cfg("seed")
    assert evaluate_schedule(cfg, [123, 99999]) == evaluate_schedule(cfg, [99999, 123])[::-1]
