"""Progress of a long stage (conversion, evaluation, export): a bar on a terminal,
log lines in a log.

On a TTY the bar is tqdm's when tqdm is importable, else a one-line text bar. When the stream is not
a TTY (a Snakemake log file, a container's captured output) it logs a plain line through `logging`
every `every` items or every `every_seconds` seconds, whichever comes first, and one final line.
$RESNEXT_PROGRESS (auto | bar | log | off) overrides the choice.
Host and Ascend container: Python 3.7 syntax, no TensorFlow.

    with Progress("convert", total=len(tasks), unit="images") as progress:
        for task in tasks:
            ...
            progress.update(len(task))

A stage made of unequal steps (export) counts them with rate=False, so it shows the time spent
rather than a rate and an eta that would mislead, and names each step with update(1, note=...).
"""

import logging
import os
import sys
import time

log = logging.getLogger(__name__)

MODE_ENV = "RESNEXT_PROGRESS"
MODES = ("auto", "bar", "log", "off")
EVERY_SECONDS = 10.0
BAR_REFRESH_SECONDS = 0.2


def _is_tty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def choose_mode(stream, mode=None):
    """'bar', 'log' or 'off' for this stream: `mode` or $RESNEXT_PROGRESS, 'auto' = bar on a TTY."""
    chosen = (mode or os.environ.get(MODE_ENV) or "auto").strip().lower()
    if chosen not in MODES:
        log.warning("%s=%r is not one of %s; using auto", MODE_ENV, chosen, ", ".join(MODES))
        chosen = "auto"
    if chosen == "auto":
        return "bar" if _is_tty(stream) else "log"
    return chosen


def duration_text(seconds):
    """Seconds -> '1h02m03s' / '2m03s' / '3.0s'."""
    if seconds < 60:
        return "%.1fs" % seconds
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return "%dh%02dm%02ds" % (hours, minutes, secs) if hours else "%dm%02ds" % (minutes, secs)


# tqdm's default format without the rate and eta, for steps of unequal length
STEPS_BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}{postfix}]"


def _tqdm_bar(desc, total, unit, stream, rate):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=stream,
        dynamic_ncols=True,
        leave=True,
        bar_format=None if rate else STEPS_BAR_FORMAT,
    )


class _TextBar:
    """A minimal in-place bar for terminals without tqdm: 'desc: 40/100 images
    (40%) 12.5 images/s'."""

    def __init__(self, desc, total, unit, stream, clock, rate):
        self.desc, self.total, self.unit, self.stream, self.clock = desc, total, unit, stream, clock
        self.rate, self.n, self.start, self.shown = rate, 0, clock(), None

    def update(self, n, note=None):
        self.n += n
        now = self.clock()
        if (
            self.shown is None
            or now - self.shown >= BAR_REFRESH_SECONDS
            or self.n == self.total
            or note
        ):
            self.shown = now
            text = status_text(
                self.desc, self.n, self.total, self.unit, now - self.start, self.rate, note
            )
            self.stream.write("\r" + text)
            self.stream.flush()

    def close(self):
        self.stream.write("\n")
        self.stream.flush()


def status_text(desc, n, total, unit, elapsed, rate=True, note=None):
    """'desc: 40/100 images (40.0%), 12.5 images/s, eta 4.8s' (no total: 'desc: 40 images, ...').

    rate=False: 'desc: 3/7 stages (42.9%), 2.5s'; a note is appended: '...; froze the variables'.
    """
    count = (
        "%d/%d %s (%.1f%%)" % (n, total, unit, 100.0 * n / total) if total else "%d %s" % (n, unit)
    )
    text = "%s: %s" % (desc, count)
    per_second = n / elapsed if elapsed > 0 else None
    if not rate:
        text += ", %s" % duration_text(elapsed)
    elif per_second:
        text += ", %.1f %s/s" % (per_second, unit)
        if total and n < total:
            text += ", eta %s" % duration_text((total - n) / per_second)
    return text + ("; %s" % note if note else "")


class Progress:
    """Counts items of one stage and shows it as a bar (TTY) or periodic log lines (otherwise).

    total: expected items (None if unknown); every: log every that many items (default: ~10 lines
    over `total`, else time only); every_seconds: log at least this often; mode: see choose_mode;
    logger: where log lines go (default this module's); clock: seconds, monotonic (for tests);
    rate: show items/s and an eta (False for steps of unequal length: the time spent instead).
    """

    def __init__(
        self,
        desc,
        total=None,
        unit="items",
        every=None,
        every_seconds=EVERY_SECONDS,
        stream=None,
        mode=None,
        logger=None,
        clock=time.monotonic,
        rate=True,
    ):
        self.desc, self.total, self.unit, self.clock, self.rate = desc, total, unit, clock, rate
        self.stream = stream if stream is not None else sys.stderr
        self.logger = logger or log
        self.every = every or (max(1, total // 10) if total else None)
        self.every_seconds = every_seconds
        self.n, self.start = 0, clock()
        self._last_n, self._last_t, self._closed = 0, self.start, False
        self.mode = choose_mode(self.stream, mode)
        self._bar = None
        if self.mode == "bar":
            self._bar = _tqdm_bar(desc, total, unit, self.stream, rate) or _TextBar(
                desc, total, unit, self.stream, clock, rate
            )
        self.kind = (
            "off" if self.mode == "off" else type(self._bar).__name__ if self._bar else "log"
        )

    def update(self, n=1, note=None):
        """`n` more items done; `note` (optional) says which, e.g. the step just finished."""
        self.n += n
        if self._bar is not None:
            self._update_bar(n, note)
        elif self.mode == "log":
            now = self.clock()
            if (
                self.every and self.n - self._last_n >= self.every
            ) or now - self._last_t >= self.every_seconds:
                self._last_n, self._last_t = self.n, now
                self.logger.info(
                    "%s",
                    status_text(
                        self.desc, self.n, self.total, self.unit, now - self.start, self.rate, note
                    ),
                )

    def _update_bar(self, n, note):
        if isinstance(self._bar, _TextBar):
            self._bar.update(n, note)
            return
        if note:
            self._bar.set_postfix_str(note, refresh=False)
        self._bar.update(n)

    def close(self, stopped=False):
        """Finish the bar and log one summary line (once); stopped: the work ended with an error."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        if self.mode == "off":
            return
        elapsed = self.clock() - self.start
        if stopped:  # the error itself says why; this line says how far it got
            self.logger.info(
                "%s: stopped after %s in %s", self.desc, self._count_text(), duration_text(elapsed)
            )
            return
        rate = ", %.1f %s/s" % (self.n / elapsed, self.unit) if elapsed > 0 and self.rate else ""
        self.logger.info(
            "%s: done, %d %s in %s%s", self.desc, self.n, self.unit, duration_text(elapsed), rate
        )

    def _count_text(self):
        return (
            "%d/%d %s" % (self.n, self.total, self.unit)
            if self.total
            else "%d %s" % (self.n, self.unit)
        )

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close(stopped=exc_type is not None)
        return False
