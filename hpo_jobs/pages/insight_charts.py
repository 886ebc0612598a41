"""The insights tab's charts as inline SVG, drawn like those of ``charts`` (whose helpers they use):
hyperparameter importance bars, a slice plot per tuned hyperparameter, a contour of the two most
important ones, and a timeline of the training jobs.

The same accessibility as the other charts: each ``<svg role="img">`` is labelled by its <title>
and <desc>; each training job is one element with class ``mark``, which up to
``MARK_DETAIL_MAX`` carries its own <title> and, given a URL, is a link reachable with the
keyboard; the page puts a data table beside them. The SVG stays bounded: past ``MARKS_MAX``
training jobs the slice, contour and timeline draw an evenly spaced sample of them (the best one
always in it) and say so, and the contour's grid is a fixed number of cells whatever the count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence, TypeVar

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from .charts import (AXIS, BEST, GRID, Axis, Scale, _e, _empty, _n, _ramp, _svg_open, _time_ticks, _to_float,
                     format_value)

# Past this many training jobs a chart draws an evenly spaced sample of them.
MARKS_MAX = 2000
# Marks with their own <title> and link up to this many per chart: the tab has several charts of
# every training job (a slice per hyperparameter, the contour, the timeline), so fewer than on the
# charts tab, to keep the page small; above it the page points to the table and the CSV.
MARK_DETAIL_MAX = 300
# The contour's grid: this many bins along each numeric axis.
CONTOUR_BINS = 12
# Timeline bar colours by training job status (the legend repeats them in words).
STATUS_COLOURS = {
    "Completed": "#2f6feb",
    "InProgress": "#2b8a3e",
    "Stopping": "#2b8a3e",
    "Stopped": "#e8590c",
    "Failed": "#c92a2a",
}
OTHER_STATUS = "#9aa3b2"

T = TypeVar("T")


def sample(items: Sequence[T], limit: int = MARKS_MAX, keep: T | None = None) -> list[T]:
    """At most ``limit`` of ``items``, evenly spaced, in their order; ``keep`` is always among them."""
    if len(items) <= limit:
        return list(items)
    step = len(items) / limit
    chosen = [items[int(i * step)] for i in range(limit)]
    if keep is not None and keep not in chosen:
        chosen[-1] = keep
    return chosen


# ---- importance -----------------------------------------------------------------------------------
def importance_bars(ranked: Sequence[Sequence], *, method: str, chart_id: str, width: int = 520) -> SafeString:
    """One horizontal bar per hyperparameter, its share of the objective's variance (most important on top)."""
    title = f"Hyperparameter importance by {method}"
    if not ranked:
        return _empty(chart_id, width, 80, title, "No importance to show.", "chart-importance")
    row_h, left, right, top = 26, 150, 56, 8
    height = top + row_h * len(ranked) + 24
    x = Scale(0, max(1e-9, max(share for _n_, share in ranked)), left, width - right)
    desc = "; ".join(f"{name} {share:.0%}" for name, share in ranked)
    parts = _svg_open(chart_id, width, height, title, desc, "chart-importance")
    parts.append('<g class="marks">')
    for i, (name, share) in enumerate(ranked):
        y = top + i * row_h
        short = name if len(name) <= 22 else name[:21] + "…"
        label = f"{name}: {share:.1%} of the importance"
        parts.append(
            f'<g class="bar" tabindex="0" aria-label="{_e(label)}"><title>{_e(label)}</title>'
            f'<text x="{left - 6}" y="{_n(y + row_h / 2 + 4)}" text-anchor="end">{_e(short)}</text>'
            f'<rect class="mark" data-name="{_e(name)}" x="{left}" y="{_n(y + 4)}" width="{_n(max(1.0, x(share) - left))}" '
            f'height="{row_h - 8}" fill="{BEST if i == 0 else "#2f6feb"}"/>'
            f'<text x="{_n(x(share) + 4)}" y="{_n(y + row_h / 2 + 4)}">{share:.0%}</text></g>'
        )
    parts.append("</g></svg>")
    return mark_safe("".join(parts))


# ---- axes shared by the slice and the contour -----------------------------------------------------
def _axis_scale(axis: Axis, start: float, end: float) -> Scale:
    if axis.kind == "categorical":
        return Scale(-0.5, max(0.5, len(axis.categories) - 0.5), start, end)
    return Scale(axis.lo, axis.hi, start, end, log=axis.kind == "log")


def _position(axis: Axis, raw: object) -> float | None:
    """A hyperparameter value on its axis: the number, or the category's index."""
    if raw is None:
        return None
    if axis.kind == "categorical":
        try:
            return float(axis.categories.index(str(raw)))
        except ValueError:
            return None
    return _to_float(raw)


def _axis_ticks(axis: Axis, scale: Scale) -> list[tuple[float, str]]:
    if axis.kind == "categorical":
        stride = max(1, math.ceil(len(axis.categories) / 8))
        return [(float(k), axis.categories[k]) for k in range(0, len(axis.categories), stride)]
    return [(t, format_value(t)) for t in (scale.ticks(5) or [scale.lo, scale.hi])]


def _jitter(name: str) -> float:
    """A small, repeatable offset in [-0.25, 0.25] that spreads a category's marks apart."""
    return (sum(map(ord, name)) % 101) / 200 - 0.25


@dataclass
class SlicePoint:
    """One training job on a slice or contour: its tuned values and objective."""

    name: str
    hyperparameters: dict[str, str]
    value: float
    url: str | None = None


def slice_plot(
    points: Sequence[SlicePoint], axis: Axis, *, maximize: bool, metric_name: str, chart_id: str,
    best_name: str | None = None, width: int = 360, height: int = 240, of_total: int | None = None,
) -> SafeString:
    """The objective against one tuned hyperparameter, one mark per training job (a log axis for a
    Logarithmic range; categories side by side). ``of_total``: the points are a sample of that many."""
    title = f"{metric_name or 'Objective'} against {axis.name}"
    points = [p for p in points if _position(axis, p.hyperparameters.get(axis.name)) is not None]
    if not points:
        return _empty(chart_id, width, height, title, "No evaluated training job yet.", "chart-slice")
    best = next((p for p in points if p.name == best_name), None)
    drawn = sample(points, keep=best)
    left, right, top, bottom = 56, 12, 12, 40
    x = _axis_scale(axis, left, width - right)
    values = [p.value for p in points]
    vmin, vmax = min(values), max(values)
    pad = (vmax - vmin) * 0.06 or abs(vmax) * 0.05 or 1.0
    y = Scale(vmin - pad, vmax + pad, height - bottom, top)
    scale_word = "log" if x.log else ("categorical" if axis.kind == "categorical" else "linear")
    total = max(of_total or 0, len(points))
    desc = (f"{total} training job{'s' if total != 1 else ''}; {axis.name} on a {scale_word} axis"
            f"{f' (a sample of {len(drawn)} drawn)' if len(drawn) < total else ''}; "
            f"{metric_name or 'objective'} from {format_value(vmin)} to {format_value(vmax)}, "
            f"{'higher' if maximize else 'lower'} is better.")
    parts = _svg_open(chart_id, width, height, title, desc, "chart-slice")
    parts[0] = parts[0].replace("<svg ", f'<svg data-scale="{scale_word}" data-marks="{len(drawn)}" ', 1)
    parts.append('<g class="axis" aria-hidden="true">')
    for tick in y.ticks(4):
        ty = y(tick)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{_n(ty)}" y2="{_n(ty)}" stroke="{GRID}"/>')
        parts.append(f'<text x="{left - 5}" y="{_n(ty + 4)}" text-anchor="end">{_e(format_value(tick))}</text>')
    base = height - bottom
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" stroke="{AXIS}"/>')
    for tick, label in _axis_ticks(axis, x):
        tx = x(tick)
        label = label if len(label) <= 10 else label[:9] + "…"
        parts.append(f'<line class="tick" data-value="{_e(tick)}" x1="{_n(tx)}" x2="{_n(tx)}" y1="{base}" '
                     f'y2="{base + 4}" stroke="{AXIS}"/>')
        parts.append(f'<text x="{_n(tx)}" y="{base + 16}" text-anchor="middle">{_e(label)}</text>')
    axis_label = axis.name + (" (log scale)" if x.log else "")
    parts.append(f'<text x="{_n((left + width - right) / 2)}" y="{height - 4}" text-anchor="middle">{_e(axis_label)}</text>')
    parts.append("</g>")
    detailed = len(drawn) <= MARK_DETAIL_MAX
    radius = 3.5 if len(drawn) <= 200 else 2
    parts.append(f'<g class="marks" fill="#2f6feb" fill-opacity="{0.8 if detailed else 0.45}">')
    for p in sorted(drawn, key=lambda p: p is best):
        raw = p.hyperparameters.get(axis.name)
        pos = _position(axis, raw)
        if axis.kind == "categorical":
            pos += _jitter(p.name)
        cx, cy = _n(x(pos)), _n(y(p.value))
        extra = f' stroke="{BEST}" stroke-width="2.5" data-best="{_e(p.name)}"' if p is best else ""
        attrs = f'class="mark" data-x="{_e(raw)}" cx="{cx}" cy="{cy}" r="{radius}"{extra}'
        if not detailed:
            parts.append(f"<circle {attrs}/>")
            continue
        label = f"{p.name}: {axis.name}={raw}, {metric_name or 'objective'} {format_value(p.value)}"
        circle = f"<circle {attrs}><title>{_e(label)}</title></circle>"
        parts.append(f'<a href="{_e(p.url)}" aria-label="{_e(label)}">{circle}</a>' if p.url else circle)
    parts.append("</g></svg>")
    return mark_safe("".join(parts))


# ---- contour --------------------------------------------------------------------------------------
def _bins(axis: Axis, scale: Scale) -> list[tuple[float, float]]:
    """The contour's cells along one axis, as (low, high) in axis positions."""
    if axis.kind == "categorical":
        return [(k - 0.5, k + 0.5) for k in range(len(axis.categories))]
    if scale.log:
        a, b = math.log10(scale.lo), math.log10(scale.hi)
        edges = [10 ** (a + (b - a) * i / CONTOUR_BINS) for i in range(CONTOUR_BINS + 1)]
    else:
        edges = [scale.lo + (scale.hi - scale.lo) * i / CONTOUR_BINS for i in range(CONTOUR_BINS + 1)]
    return list(zip(edges, edges[1:]))


def _bin_of(bins: list[tuple[float, float]], pos: float) -> int:
    for i, (lo, hi) in enumerate(bins):
        if pos < hi:
            return i
    return len(bins) - 1


def contour(
    points: Sequence[SlicePoint], x_axis: Axis, y_axis: Axis, *, maximize: bool, metric_name: str,
    chart_id: str = "contour", best_name: str | None = None, width: int = 520, height: int = 400,
    of_total: int | None = None,
) -> SafeString:
    """The mean objective over a grid of the two hyperparameters' values (darker is better), with a
    mark per training job on top. ``of_total``: the points are a sample of that many (the means are
    the sample's)."""
    title = f"{metric_name or 'Objective'} over {x_axis.name} and {y_axis.name}"
    points = [p for p in points if _position(x_axis, p.hyperparameters.get(x_axis.name)) is not None
              and _position(y_axis, p.hyperparameters.get(y_axis.name)) is not None]
    if not points:
        return _empty(chart_id, width, height, title, "No evaluated training job yet.", "chart-contour")
    left, right, top, bottom = 64, 16, 12, 44
    x = _axis_scale(x_axis, left, width - right)
    y = _axis_scale(y_axis, height - bottom, top)
    x_bins, y_bins = _bins(x_axis, x), _bins(y_axis, y)
    sums: dict[tuple[int, int], list[float]] = {}
    for p in points:
        i = _bin_of(x_bins, _position(x_axis, p.hyperparameters[x_axis.name]))
        j = _bin_of(y_bins, _position(y_axis, p.hyperparameters[y_axis.name]))
        cell = sums.setdefault((i, j), [0.0, 0])
        cell[0] += p.value
        cell[1] += 1
    means = {key: total / count for key, (total, count) in sums.items()}
    lo_v, hi_v = min(means.values()), max(means.values())
    best = next((p for p in points if p.name == best_name), None)
    drawn = sample(points, keep=best)
    total = max(of_total or 0, len(points))
    sampled = f" of an even sample of {len(points)}" if len(points) < total else ""
    desc = (f"A grid of {len(x_bins)} by {len(y_bins)} cells; each coloured cell is the mean "
            f"{metric_name or 'objective'} of the training jobs in it{sampled} (darker is better, from "
            f"{format_value(lo_v)} to {format_value(hi_v)}); {total} training jobs"
            f"{f', a sample of {len(drawn)} drawn as dots' if len(drawn) < total else ' drawn as dots'}.")
    parts = _svg_open(chart_id, width, height, title, desc, "chart-contour")
    scales = f'data-x-scale="{"log" if x.log else x_axis.kind}" data-y-scale="{"log" if y.log else y_axis.kind}"'
    parts[0] = parts[0].replace("<svg ", f'<svg {scales} data-marks="{len(drawn)}" ', 1)
    parts.append('<g class="cells">')
    for (i, j), mean in sorted(means.items()):
        (x0, x1), (y0, y1) = x_bins[i], y_bins[j]
        px0, px1, py0, py1 = x(x0), x(x1), y(y1), y(y0)
        t = (mean - lo_v) / (hi_v - lo_v) if hi_v > lo_v else 1.0
        label = (f"{x_axis.name} {_span(x_axis, x0, x1)}, {y_axis.name} {_span(y_axis, y0, y1)}: mean "
                 f"{format_value(mean)} of {sums[(i, j)][1]} training job{'s' if sums[(i, j)][1] != 1 else ''}")
        parts.append(f'<rect class="cell" x="{_n(px0)}" y="{_n(py0)}" width="{_n(px1 - px0)}" height="{_n(py1 - py0)}" '
                     f'fill="{_ramp(t if maximize else 1 - t)}"><title>{_e(label)}</title></rect>')
    parts.append("</g>")
    parts.append('<g class="axis" aria-hidden="true">')
    for tick, label in _axis_ticks(x_axis, x):
        parts.append(f'<text x="{_n(x(tick))}" y="{height - bottom + 16}" text-anchor="middle">{_e(label[:10])}</text>')
    for tick, label in _axis_ticks(y_axis, y):
        parts.append(f'<text x="{left - 5}" y="{_n(y(tick) + 4)}" text-anchor="end">{_e(label[:10])}</text>')
    x_label = x_axis.name + (" (log scale)" if x.log else "")
    y_label = y_axis.name + (" (log scale)" if y.log else "")
    mid = (top + height - bottom) / 2
    parts.append(f'<text x="{_n((left + width - right) / 2)}" y="{height - 6}" text-anchor="middle">{_e(x_label)}</text>')
    parts.append(f'<text x="14" y="{_n(mid)}" text-anchor="middle" transform="rotate(-90 14 {_n(mid)})">{_e(y_label)}</text>')
    parts.append("</g>")
    detailed = len(drawn) <= MARK_DETAIL_MAX
    parts.append('<g class="marks" fill="#fff" stroke="#1c2330" stroke-width="0.8">')
    for p in sorted(drawn, key=lambda p: p is best):
        rx, ry = p.hyperparameters[x_axis.name], p.hyperparameters[y_axis.name]
        px, py = _position(x_axis, rx), _position(y_axis, ry)
        if x_axis.kind == "categorical":
            px += _jitter(p.name)
        if y_axis.kind == "categorical":
            py += _jitter(p.name[::-1])
        extra = f' stroke="{BEST}" stroke-width="2.5" data-best="{_e(p.name)}"' if p is best else ""
        attrs = f'class="mark" cx="{_n(x(px))}" cy="{_n(y(py))}" r="{3 if detailed else 1.5}"{extra}'
        if not detailed:
            parts.append(f"<circle {attrs}/>")
            continue
        label = f"{p.name}: {x_axis.name}={rx}, {y_axis.name}={ry}, {metric_name or 'objective'} {format_value(p.value)}"
        circle = f"<circle {attrs}><title>{_e(label)}</title></circle>"
        parts.append(f'<a href="{_e(p.url)}" aria-label="{_e(label)}">{circle}</a>' if p.url else circle)
    parts.append("</g></svg>")
    return mark_safe("".join(parts))


def _span(axis: Axis, lo: float, hi: float) -> str:
    if axis.kind == "categorical":
        return axis.categories[int(round((lo + hi) / 2))]
    return f"{format_value(lo)}–{format_value(hi)}"


# ---- timeline -------------------------------------------------------------------------------------
@dataclass
class Bar:
    """One training job on the timeline."""

    name: str
    status: str
    start: datetime
    end: datetime | None  # None while it runs
    url: str | None = None
    early_stopped: bool = False


def lanes(bars: Sequence[Bar], now: datetime) -> list[int]:
    """A lane per bar, so that bars in one lane never overlap: the number of lanes is the parallelism."""
    free_at: list[datetime] = []
    result = []
    for bar in bars:
        end = bar.end or now
        lane = next((i for i, t in enumerate(free_at) if t <= bar.start), None)
        if lane is None:
            lane = len(free_at)
            free_at.append(end)
        else:
            free_at[lane] = end
        result.append(lane)
    return result


def timeline(bars: Sequence[Bar], *, chart_id: str = "timeline", width: int = 760, now: datetime | None = None,
             total: int | None = None) -> SafeString:
    """One bar per training job from its start to its end (to now while it runs), coloured by status,
    in lanes: how many ran at once, which failed and which stopped early, at a glance. ``total`` is
    the number of training jobs when ``bars`` is already a sample of them."""
    title = "Training jobs over time"
    now = now or timezone.now()
    bars = sorted((b for b in bars if b.start is not None), key=lambda b: (b.start, b.name))
    if not bars:
        return _empty(chart_id, width, 120, title, "No training job has started yet.", "chart-timeline")
    drawn = sample(bars)
    lane_of = lanes(drawn, now)
    n_lanes = max(lane_of) + 1
    left, right, top, bottom = 48, 16, 8, 40
    lane_h = max(2.0, min(18.0, 360 / n_lanes))
    height = int(top + bottom + lane_h * n_lanes)
    t0 = drawn[0].start
    t1 = max((b.end or now) for b in drawn)
    span = max(1.0, (t1 - t0).total_seconds())
    x = Scale(0, span, left, width - right)
    counts: dict[str, int] = {}
    for b in bars:
        counts[b.status] = counts.get(b.status, 0) + 1
    total = max(total or 0, len(bars))
    desc = (f"{total} training job{'s' if total != 1 else ''}, {len(drawn)} drawn in {n_lanes} lane"
            f"{'s' if n_lanes != 1 else ''} (at most {n_lanes} at once{' in the sample drawn' if len(drawn) < total else ''}): "
            + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) + ".")
    parts = _svg_open(chart_id, width, height, title, desc, "chart-timeline")
    parts[0] = parts[0].replace("<svg ", f'<svg data-marks="{len(drawn)}" data-lanes="{n_lanes}" ', 1)
    parts.append('<g class="axis" aria-hidden="true">')
    base = height - bottom
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" stroke="{AXIS}"/>')
    ticks, fmt = _time_ticks(t0, t0 + timedelta(seconds=span))
    for tick in ticks:
        tx = x((tick - t0).total_seconds())
        if left <= tx <= width - right:
            parts.append(f'<line x1="{_n(tx)}" x2="{_n(tx)}" y1="{top}" y2="{base}" stroke="{GRID}"/>')
            parts.append(f'<text x="{_n(tx)}" y="{base + 16}" text-anchor="middle">{_e(tick.strftime(fmt))}</text>')
    parts.append(f'<text x="{_n((left + width - right) / 2)}" y="{height - 6}" text-anchor="middle">'
                 f'{_e(f"Time ({timezone.get_current_timezone_name()})")}</text>')
    parts.append(f'<text x="14" y="{_n((top + base) / 2)}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {_n((top + base) / 2)})">lane</text>')
    parts.append("</g>")
    detailed = len(drawn) <= MARK_DETAIL_MAX
    from hpo_jobs.templatetags.hpo_format import format_time

    parts.append('<g class="marks">')
    for bar, lane in zip(drawn, lane_of):
        end = bar.end or now
        bx = x((bar.start - t0).total_seconds())
        bw = max(1.0, x((end - t0).total_seconds()) - bx)
        by = top + lane * lane_h + (0.5 if lane_h > 4 else 0)
        colour = STATUS_COLOURS.get(bar.status, OTHER_STATUS)
        attrs = (f'class="mark" data-status="{_e(bar.status)}" x="{_n(bx)}" y="{_n(by)}" width="{_n(bw)}" '
                 f'height="{_n(max(1.0, lane_h - 1))}" fill="{colour}"')
        if not detailed:
            parts.append(f"<rect {attrs}/>")
            continue
        status = "stopped early" if bar.early_stopped else bar.status
        minutes = (end - bar.start).total_seconds()
        label = (f"{bar.name}: {status}, {format_time(bar.start)} to "
                 f"{format_time(bar.end) if bar.end else 'now (running)'} ({_seconds(minutes)})")
        rect = f"<rect {attrs}><title>{_e(label)}</title></rect>"
        parts.append(f'<a href="{_e(bar.url)}" aria-label="{_e(label)}">{rect}</a>' if bar.url else rect)
    parts.append("</g></svg>")
    return mark_safe("".join(parts))


def _seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds / 3600:.1f} h"


# ---- compare: best so far of several jobs ---------------------------------------------------------
SERIES_COLOURS = ("#2f6feb", "#d9480f", "#2b8a3e", "#862e9c", "#495057")


@dataclass
class Series:
    """One job's best value so far after each of its evaluated training jobs."""

    name: str
    best_so_far: list[float]


def compare_history(series: Sequence[Series], *, metric_name: str, maximize: bool, chart_id: str = "compare",
                    width: int = 760, height: int = 320) -> SafeString:
    """Each job's best value so far against the number of training jobs it has run, one step line per job."""
    title = f"Best {metric_name} so far against training jobs run"
    drawn = [s for s in series if s.best_so_far]
    if not drawn:
        return _empty(chart_id, width, height, title, "No job has an evaluated training job yet.", "chart-compare")
    left, right, top, bottom = 64, 16, 16, 44
    longest = max(len(s.best_so_far) for s in drawn)
    x = Scale(1, max(2, longest), left, width - right)
    values = [v for s in drawn for v in s.best_so_far]
    vmin, vmax = min(values), max(values)
    pad = (vmax - vmin) * 0.06 or abs(vmax) * 0.05 or 1.0
    y = Scale(vmin - pad, vmax + pad, height - bottom, top)
    desc = "; ".join(f"{s.name}: {len(s.best_so_far)} evaluated, best {format_value(s.best_so_far[-1])}" for s in drawn)
    parts = _svg_open(chart_id, width, height, title, desc + f" ({'higher' if maximize else 'lower'} is better).",
                      "chart-compare")
    parts.append('<g class="axis" aria-hidden="true">')
    for tick in y.ticks(5):
        ty = y(tick)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{_n(ty)}" y2="{_n(ty)}" stroke="{GRID}"/>')
        parts.append(f'<text x="{left - 6}" y="{_n(ty + 4)}" text-anchor="end">{_e(format_value(tick))}</text>')
    for tick in x.ticks(6):
        if tick == int(tick):
            parts.append(f'<text x="{_n(x(tick))}" y="{height - bottom + 17}" text-anchor="middle">{int(tick)}</text>')
    parts.append(f'<text x="{_n((left + width - right) / 2)}" y="{height - 6}" text-anchor="middle">Training jobs run (evaluated)</text>')
    parts.append("</g>")
    parts.append('<g class="marks" fill="none" stroke-width="2">')
    for i, s in enumerate(series):
        if not s.best_so_far:
            continue
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        # A step line: only where the best changes, so 10,000 training jobs stay a few points.
        d = [f"M{_n(x(1))} {_n(y(s.best_so_far[0]))}"]
        for k in range(1, len(s.best_so_far)):
            if s.best_so_far[k] != s.best_so_far[k - 1]:
                d.append(f"H{_n(x(k + 1))}V{_n(y(s.best_so_far[k]))}")
        d.append(f"H{_n(x(len(s.best_so_far)))}")
        label = f"{s.name}: best {metric_name} {format_value(s.best_so_far[-1])} after {len(s.best_so_far)} training jobs"
        parts.append(f'<path class="mark series" data-job="{_e(s.name)}" tabindex="0" aria-label="{_e(label)}" '
                     f'd="{"".join(d)}" stroke="{colour}"><title>{_e(label)}</title></path>')
    parts.append("</g></svg>")
    return mark_safe("".join(parts))
