"""Report figures as PNG bytes: accuracy vs epoch, loss and lr vs step, throughput per block.

Uses matplotlib's object API with the Agg canvas directly (headless; no pyplot, no global
backend switch). PNG metadata carries no date, so equal inputs give equal files.
"""

from __future__ import annotations

import io
import logging

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from resnext import paths

log = logging.getLogger(__name__)

_SIZE = (6.4, 3.6)
_DPI = 100


def _png(fig):
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _axes(title, xlabel, ylabel):
    fig = Figure(figsize=_SIZE)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def accuracy_plot(evals, reference_top1=None):
    fig, ax = _axes("Validation accuracy", "epoch", "accuracy (%)")
    epochs = [r["epoch"] for r in evals]
    ax.plot(epochs, [100.0 * r["top1"] for r in evals], marker="o", label="top-1")
    ax.plot(epochs, [100.0 * r["top5"] for r in evals], marker="s", label="top-5")
    if reference_top1 is not None:
        ax.axhline(
            reference_top1, color="grey", linestyle="--", linewidth=1, label="reference top-1"
        )
    ax.legend(loc="best")
    fig.tight_layout()
    return _png(fig)


def _series(metrics, key):
    points = [(r["step"], r[key]) for r in metrics if r.get(key) is not None and "step" in r]
    return [p[0] for p in points], [p[1] for p in points]


def loss_plot(metrics):
    fig, ax = _axes("Training loss", "step", "loss")
    for key in ("loss", "total_loss"):
        steps, values = _series(metrics, key)
        ax.plot(steps, values, marker=".", label=key)
    ax.legend(loc="upper right")
    fig.tight_layout()
    return _png(fig)


def lr_plot(metrics):
    fig, ax = _axes("Learning rate", "step", "lr")
    steps, values = _series(metrics, "lr")
    ax.plot(steps, values, marker=".", color="tab:green")
    fig.tight_layout()
    return _png(fig)


def throughput_plot(stats):
    fig, ax = _axes(
        "Throughput per block (warm-up loops excluded)", "block", "images/s (all devices)"
    )
    shown = [s for s in stats if s.mean is not None]
    positions = list(range(len(shown)))
    ax.bar(
        positions,
        [s.mean for s in shown],
        yerr=[s.jitter or 0.0 for s in shown],
        capsize=4,
        color="tab:blue",
        alpha=0.8,
    )
    ax.set_xticks(positions)
    ax.set_xticklabels([str(s.block) for s in shown])
    fig.tight_layout()
    return _png(fig)


def accuracy_compare_plot(series):
    """Top-1 vs epoch of several runs: series [(label, eval records)]."""
    fig, ax = _axes("Validation top-1", "epoch", "top-1 (%)")
    for (label, evals), marker in zip(series, "os^vD"):
        ax.plot(
            [r["epoch"] for r in evals],
            [100.0 * r["top1"] for r in evals],
            marker=marker,
            label="run %s" % label,
        )
    ax.legend(loc="best")
    fig.tight_layout()
    return _png(fig)


def throughput_compare_plot(series):
    """Post-warm-up images/s per block of several runs: series [(label, BlockThroughput list)]."""
    fig, ax = _axes("Throughput per block (warm-up loops excluded)", "block", "images/s")
    width = 0.8 / max(1, len(series))
    for i, (label, stats) in enumerate(series):
        shown = [s for s in stats if s.mean is not None]
        ax.bar(
            [s.block + (i - (len(series) - 1) / 2.0) * width for s in shown],
            [s.mean for s in shown],
            width=width,
            label="run %s" % label,
            alpha=0.8,
        )
    ax.legend(loc="best")
    fig.tight_layout()
    return _png(fig)


def placeholder_plot(title, message):
    """A figure that says why there is no data, so the report folder always holds every
    PLOT_NAMES file."""
    fig = Figure(figsize=_SIZE)
    fig.text(0.5, 0.6, title, ha="center", va="center", fontsize=13)
    fig.text(0.5, 0.4, message, ha="center", va="center", fontsize=10, color="dimgrey")
    return _png(fig)


_NO_DATA = {
    "loss.png": ("Training loss", "no data: train/metrics.jsonl missing or empty"),
    "lr.png": ("Learning rate", "no data: train/metrics.jsonl missing or empty"),
    "throughput.png": (
        "Throughput per block",
        "no data: no train/block-<b>.json with per-loop throughput",
    ),
}
PLOT_NAMES = paths.PLOT_FILES


def with_placeholders(images):
    """`images` plus a placeholder PNG for every missing name in PLOT_NAMES
    (the files the workflow declares)."""
    complete = dict(images)
    for name in PLOT_NAMES:
        if name not in complete:
            complete[name] = placeholder_plot(*_NO_DATA[name])
    return complete


def make_plots(evals, metrics, stats, reference_top1=None):
    """{file name: PNG bytes} for the figures whose data exist."""
    images = {"accuracy.png": accuracy_plot(evals, reference_top1)}
    if metrics:
        images["loss.png"] = loss_plot(metrics)
        images["lr.png"] = lr_plot(metrics)
    if any(s.mean is not None for s in stats):
        images["throughput.png"] = throughput_plot(stats)
    log.debug("made %d plots", len(images))
    return images
