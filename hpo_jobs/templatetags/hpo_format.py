"""Formatting for the job pages: durations, metric values, times, SageMaker's status words and engine names."""

from __future__ import annotations

import html
import math
from datetime import datetime, timedelta, tzinfo
from typing import Any

from django import template
from django.utils import timezone
from django.utils.safestring import mark_safe

from hpo_jobs.pages.charts import format_value

register = template.Library()


@register.filter
def engine_name(name: str) -> str:
    """How the pages name the engine a job ran on ("SageMaker", "the local engine"), from its capabilities."""
    from hpo_jobs.backends import get_backend

    try:
        return get_backend(name).capabilities.display_name
    except ValueError:
        return str(name)


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


@register.filter
def metric_at(value: float | None, digits: int = 6) -> str:
    """A metric value with ``digits`` significant digits (enough to tell it from its neighbours)."""
    if value is None or value == "":
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return str(number)
    return f"{number:.{max(1, int(digits))}g}"


@register.filter
def full_value(value: float | None) -> str:
    """A metric value in full, as the engine reported it (for a hover and the exports)."""
    if value is None or value == "":
        return ""
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value)


def relative(moment: datetime, now: datetime | None = None) -> str:
    """How long ago (or ahead) ``moment`` is, in words: "just now", "5 min ago", "3 h ago", "2 days ago"."""
    now = now or timezone.now()
    seconds = (now - moment).total_seconds()
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        text = f"{int(seconds // 60)} min"
    elif seconds < 86400:
        text = f"{int(seconds // 3600)} h"
    else:
        days = int(seconds // 86400)
        text = f"{days} day{'s' if days != 1 else ''}"
    return f"in {text}" if ahead else f"{text} ago"


TIME_FORMAT = "%Y-%m-%d %H:%M:%S %Z"


def format_time(moment: datetime) -> str:
    """The portal's one time format: local date and time with the zone (e.g. 2026-12-01 19:46:03 UTC)."""
    return timezone.localtime(moment).strftime(TIME_FORMAT) if timezone.is_aware(moment) else moment.strftime(
        TIME_FORMAT).strip()


@register.filter
def when(value: datetime | None, now: datetime | None = None) -> str:
    """A time in the portal's one format with its zone, the relative time (to ``now``) as its hover; a
    dash when none."""
    return time_html(value, now)


def time_html(value: datetime | None, now: datetime | None = None, zone: tzinfo | None = None) -> str:
    """``when``, for a table that prints one a row: ``zone`` is the current time zone, looked up once."""
    if not value:
        return "—"
    if timezone.is_aware(value):
        local = value.astimezone(zone or timezone.get_current_timezone())
    else:
        local = value
    # The ISO time and the relative words hold nothing to escape; the zone's name is escaped with the rest.
    day, _, clock = html.escape(local.strftime("%Y-%m-%d %H:%M:%S %Z").rstrip()).partition(" ")
    return mark_safe(f'<time datetime="{value.isoformat()}" title="{relative(value, now)}">'
                     f'{day} <span class="nowrap">{clock}</span></time>')


@register.filter
def path_tail(value: str | None, parts: int = 2) -> str:
    """The end of a data location (its last ``parts`` folders), which names the dataset: "…/breast-cancer/train/"."""
    text = str(value or "")
    trailing = text.endswith("/")
    pieces = [p for p in text.rstrip("/").split("/") if p]
    if len(pieces) <= parts + 1:
        return text
    return "…/" + "/".join(pieces[-parts:]) + ("/" if trailing else "")


@register.filter
def hp_prominent(row: Any) -> bool:
    """Whether a hyperparameter row of the wizard shows before "all hyperparameters": a row of one's
    own, one with a problem, a required one, a tuned or changed one, or one the catalogue suggests
    tuning (it has a suggested range) or choosing (a choice with no default)."""
    spec = getattr(row, "spec", None)
    if spec is None or row.errors:
        return True
    if spec.required or spec.suggested_min is not None or (spec.value_type == "options" and spec.default is None):
        return True
    return row["kind"].value() != "Static" or bool(row["value"].value())


@register.filter
def hp_rest(rows: Any) -> list:
    """The hyperparameter rows that are not prominent (see ``hp_prominent``), in their order."""
    return [row for row in rows if not hp_prominent(row)]


@register.filter
def form_index(form: Any) -> int:
    """A formset form's index, from its prefix ("def-hp-3" is 3)."""
    return int(str(form.prefix).rsplit("-", 1)[-1])


@register.filter
def usd(value: float | None) -> str:
    """An amount in US dollars: $12.34 (four decimals below a cent); empty when there is none."""
    if value is None or value == "":
        return ""
    value = float(value)
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"
