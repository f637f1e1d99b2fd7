"""Formatting helpers shared by the report modules: UTC times, percentages, durations.

Every number that reaches report.md goes through a fixed format here, so two builds from the
same JSON give the same text (no float-repr or locale noise).
"""

from __future__ import annotations

import datetime as _dt
import math

MISSING = "missing"
NA = "n/a"

# A line of report.md that shows a wall-clock time contains text matching this pattern.
TIMESTAMP_PATTERN = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}"


def parse_utc(text):
    """ISO-8601 text ('2026-11-29T07:00:00Z', offsets, fractions) -> aware UTC datetime, or None."""
    if not text or not isinstance(text, str):
        return None
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = _dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc)


def utc_text(text):
    """'2026-11-29T07:00:00Z' -> '2026-11-29 07:00:00' (the seed table's form);
    'unknown' if unparsable."""
    value = parse_utc(text)
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "unknown"


def utc_ms(text):
    """Milliseconds since the Unix epoch, or None."""
    value = parse_utc(text)
    return int(round(value.timestamp() * 1000)) if value else None


def iso_utc(value):
    """Aware datetime -> '2026-11-29T07:00:00Z' (whole seconds)."""
    return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def num(value, decimals=2):
    """Fixed-decimal number, or 'n/a' for None / NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA
    return "%.*f" % (decimals, value)


def pct(fraction, decimals=3):
    """Fraction 0..1 -> percent text without the sign: 0.78197 -> '78.197'."""
    return NA if fraction is None else num(100.0 * fraction, decimals)


def sci(value):
    """Small magnitudes (export differences): '3.10e-07'."""
    return NA if value is None else "%.2e" % value


def duration(seconds):
    """Seconds -> '1h 02m 03s (3723 s)'; 'n/a' for None."""
    if seconds is None:
        return NA
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return "%dh %02dm %02ds (%.1f s)" % (hours, minutes, secs, seconds)


def plain(value):
    """Config / metadata values as text: lists joined, None as 'null', floats via repr."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(plain(v) for v in value) + "]"
    return str(value)
