"""resnext.progress: a bar on a terminal (tqdm, or a text bar without it),
periodic log lines otherwise."""

import io
import logging
import os
import subprocess
import sys

import pytest

from resnext import progress
from resnext.progress import Progress


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture(autouse=True)
def _auto_mode(monkeypatch):
    monkeypatch.delenv(progress.MODE_ENV, raising=False)


def _lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "resnext.progress"]


def test_log_mode_every_n_items_and_a_final_line(caplog):
    caplog.set_level(logging.INFO, logger="resnext.progress")
    clock, stream = FakeClock(), io.StringIO()
    with Progress("convert", total=100, unit="images", stream=stream, clock=clock) as p:
        assert p.mode == "log" and p.kind == "log" and p.every == 10
        for _ in range(25):
            clock.now += 0.1
            p.update(1)
    assert stream.getvalue() == ""  # nothing but log lines when the stream is a file
    assert _lines(caplog) == [
        "convert: 10/100 images (10.0%), 10.0 images/s, eta 9.0s",
        "convert: 20/100 images (20.0%), 10.0 images/s, eta 8.0s",
        "convert: done, 25 images in 2.5s, 10.0 images/s",
    ]


def test_log_mode_every_ten_seconds_without_a_total(caplog):
    caplog.set_level(logging.INFO, logger="resnext.progress")
    clock = FakeClock()
    p = Progress("evaluate", unit="batches", stream=io.StringIO(), clock=clock)
    for _ in range(7):
        clock.now += 4.0
        p.update(2)
    p.close()
    p.close()  # idempotent
    assert _lines(caplog) == [
        "evaluate: 6 batches, 0.5 batches/s",
        "evaluate: 12 batches, 0.5 batches/s",
        "evaluate: done, 14 batches in 28.0s, 0.5 batches/s",
    ]


def test_terminal_gets_tqdm(caplog):
    pytest.importorskip("tqdm")
    caplog.set_level(logging.INFO, logger="resnext.progress")
    term = Terminal()
    with Progress("export", total=5, unit="stages", stream=term) as p:
        for _ in range(5):
            p.update(1)
    assert "export" in term.getvalue() and "5/5" in term.getvalue()
    assert _lines(caplog)[-1].startswith(
        "export: done, 5 stages in "
    )  # the summary also reaches the log


def test_terminal_without_tqdm_gets_a_text_bar(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    clock, term = FakeClock(), Terminal()
    with Progress("convert", total=4, unit="shards", stream=term, clock=clock) as p:
        assert p.kind == "_TextBar"
        for _ in range(4):
            clock.now += 1.0
            p.update(1)
    out = term.getvalue()
    assert out.startswith("\rconvert: 1/4 shards (25.0%), 1.0 shards/s, eta 3.0s")
    assert "\rconvert: 4/4 shards (100.0%), 1.0 shards/s" in out and out.endswith("\n")


def test_environment_overrides_the_choice(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="resnext.progress")
    monkeypatch.setenv(progress.MODE_ENV, "off")
    term = Terminal()
    with Progress("quiet", total=2, stream=term) as p:
        p.update(2)
    assert term.getvalue() == "" and _lines(caplog) == []
    monkeypatch.setenv(progress.MODE_ENV, "log")
    assert Progress("x", stream=Terminal()).mode == "log"
    monkeypatch.setenv(progress.MODE_ENV, "sideways")
    assert Progress("x", stream=io.StringIO()).mode == "log"  # unknown value: warned, auto


def test_duration_text():
    assert progress.duration_text(3.04) == "3.0s"
    assert progress.duration_text(123) == "2m03s"
    assert progress.duration_text(3723) == "1h02m03s"


def test_container_safe_python37_and_no_tensorflow():
    path = progress.__file__
    vermin = os.path.join(os.path.dirname(sys.executable), "vermin")
    run = subprocess.run(
        [vermin, "--target=3.7-", "--no-tips", "--violations", path], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    code = "import sys, resnext.progress; sys.exit('tensorflow' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


def test_steps_of_unequal_length_show_the_time_spent_and_name_each_step(caplog):
    caplog.set_level(logging.INFO, logger="resnext.progress")
    clock = FakeClock()
    with Progress(
        "export", total=3, unit="stages", rate=False, stream=io.StringIO(), clock=clock
    ) as p:
        for seconds, note in (
            (2.0, "restored the checkpoint"),
            (0.5, "froze the graph"),
            (70.0, "checked it"),
        ):
            clock.now += seconds
            p.update(1, note=note)
    assert _lines(caplog) == [
        "export: 1/3 stages (33.3%), 2.0s; restored the checkpoint",
        "export: 2/3 stages (66.7%), 2.5s; froze the graph",
        "export: 3/3 stages (100.0%), 1m12s; checked it",
        "export: done, 3 stages in 1m12s",
    ]


def test_an_error_ends_with_how_far_it_got_not_done(caplog):
    caplog.set_level(logging.INFO, logger="resnext.progress")
    clock = FakeClock()
    with pytest.raises(OSError):
        with Progress(
            "export", total=7, unit="stages", rate=False, stream=io.StringIO(), clock=clock
        ) as p:
            clock.now += 1.5
            p.update(1, note="read 16 validation images")
            raise OSError("disk full")
    assert _lines(caplog)[-1] == "export: stopped after 1/7 stages in 1.5s"


def test_a_terminal_bar_of_steps_names_the_step(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    clock, term = FakeClock(), Terminal()
    with Progress("export", total=2, unit="stages", rate=False, stream=term, clock=clock) as p:
        clock.now += 1.0
        p.update(1, note="restored the checkpoint")
    assert "\rexport: 1/2 stages (50.0%), 1.0s; restored the checkpoint" in term.getvalue()


def test_a_tqdm_bar_of_steps_names_the_step():
    pytest.importorskip("tqdm")
    term = Terminal()
    with Progress("export", total=2, unit="stages", rate=False, stream=term) as p:
        p.update(1, note="restored the checkpoint")
        p.update(1, note="froze the graph")
    out = term.getvalue()
    assert (
        "2/2 stages" in out
        and "froze the graph" in out
        and "stages/s" not in out
        and "<" not in out
    )
