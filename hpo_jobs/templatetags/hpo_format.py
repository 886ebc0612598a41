"""Formatting for the job pages: durations, metric values and SageMaker's status words."""

from __future__ import annotations

from datetime import timedelta

from django import template

from hpo_jobs.pages.charts import format_value

register = template.Library()


@register.filter
def duration(value: timedelta | int | float | None) -> str:
    """A duration the way people say it: 45s, 3m 12s, 2h 05m, 4d 3h."""
    if value is None or value == "":
        return "—"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else float(value))
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {s:02d}s"
    hours, m = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {m:02d}m"
    days, h = divmod(hours, 24)
    return f"{days}d {h}h"


@register.filter
def metric(value: float | None) -> str:
    """A metric value with up to six significant digits; a dash when there is none."""
    if value is None or value == "":
        return "—"
    try:
        return format_value(float(value))
    except (TypeError, ValueError):
        return str(value)


@register.filter
def status_words(value: str) -> str:
    """InProgress → In progress (SageMaker's status values, read aloud)."""
    out = []
    for ch in str(value or ""):
        if ch.isupper() and out:
            out.append(" " + ch.lower())
        else:
            out.append(ch)
    return "".join(out)


@register.filter
def status_css(value: str) -> str:
    """The badge class suffix of a status."""
    return str(value or "unknown").lower()


@register.filter
def yesno_plain(value: object) -> str:
    return "Yes" if value else "No"
