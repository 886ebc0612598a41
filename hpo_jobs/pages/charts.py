"""Charts as inline SVG, drawn on the server: no JavaScript library, no CDN, nothing to load.

Why server-side SVG rather than a vendored chart library: the pages are server-rendered and
refreshed in place by htmx, so a chart that is plain markup swaps like any other part; the
browser needs no script to draw it; and the accessible text (a <title> and <desc> per chart, a
<title> per mark, a data table beside it) is written once, here, where the data is.

Every chart is an ``<svg role="img">`` labelled by its own <title> and <desc>. Each training job
is one element with class ``mark``. Up to ``MARK_DETAIL_MAX`` marks each carry a <title> (the
browser shows it on hover; screen readers read it) and, when a URL is given, are links to the
training job, reachable with the keyboard. Above that the marks stay one element per training
job but bare (a few dozen bytes each), and the page points to the training jobs table and the CSV
as the way to read single values. Above ``CHART_POINTS_MAX`` jobs a chart draws an aggregate (a
binned density, the best-so-far line, the best jobs and a sample of the rest) so that no chart grows
with the job.

All text that reaches the SVG goes through ``_e`` (names of jobs and hyperparameters are data a
member typed, and must never become markup).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from typing import Iterable, Sequence

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

# Marks with their own <title> and link; above this a chart keeps one bare element per job.
MARK_DETAIL_MAX = 1000
# Above this many training jobs a chart draws an aggregate instead of one mark per job, so that its
# size is bounded whatever the job's size: the objective history as a binned density (at most
# DENSITY_COLUMNS x DENSITY_ROWS cells) with the best-so-far line, the parallel coordinates as the
# PARALLEL_TOP best jobs and an even sample of PARALLEL_SAMPLE others. The data table and the CSV
# keep every job.
CHART_POINTS_MAX = 2000
DENSITY_COLUMNS = 96
DENSITY_ROWS = 40
PARALLEL_TOP = 100
PARALLEL_SAMPLE = 400

# Colours: a blue ramp for "worse → better" (darker is better), an orange for the best job and
# the best-so-far line, greys for frames. Chosen to read on white and for colour-blind readers
# (lightness carries the order; the best job is also thicker and drawn last).
RAMP_LIGHT = (198, 219, 239)
RAMP_DARK = (8, 48, 107)
BEST = "#d9480f"
AXIS = "#5c6475"
GRID = "#e6e9ef"
NO_VALUE = "#9aa3b2"


def _e(text: object) -> str:
    """``text`` safe inside SVG text and attribute values."""
    return escape(str(text), quote=True)


def _n(value: float) -> str:
    """A coordinate, short: one decimal is below a pixel's worth of error."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def format_value(value: float | None) -> str:
    """A metric or hyperparameter value for a label: up to 6 significant digits."""
    if value is None:
        return "—"
    if value == 0:
        return "0"
    if abs(value) >= 1e6 or abs(value) < 1e-4:
        return f"{value:.4g}"
    return f"{value:.6g}"


def _ramp(t: float) -> str:
    """A colour between light (t=0, worse) and dark (t=1, better)."""
    t = min(1.0, max(0.0, t))
    r, g, b = (round(a + (b_ - a) * t) for a, b_ in zip(RAMP_LIGHT, RAMP_DARK))
    return f"#{r:02x}{g:02x}{b:02x}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9 and len(ticks) < 50:
        ticks.append(round(value, 12))
        value += step
    return ticks


@dataclass
class Scale:
    """Maps a domain onto pixels, linearly or on a log axis (for Logarithmic hyperparameters)."""

    lo: float
    hi: float
    start: float  # pixel of lo
    end: float  # pixel of hi
    log: bool = False

    def __post_init__(self) -> None:
        if self.log and (self.lo <= 0 or self.hi <= 0):
            self.log = False
        if self.hi == self.lo:
            pad = abs(self.lo) * 0.05 or 1.0
            self.lo, self.hi = self.lo - pad, self.hi + pad
            if self.log and self.lo <= 0:
                self.log = False

    def __call__(self, value: float) -> float:
        if self.log:
            a, b, v = math.log10(self.lo), math.log10(self.hi), math.log10(max(value, self.lo * 1e-12))
        else:
            a, b, v = self.lo, self.hi, value
        return self.start + (v - a) / (b - a) * (self.end - self.start)

    def ticks(self, count: int = 5) -> list[float]:
        if self.log:
            first, last = math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi))
            decades = [10.0**p for p in range(first, last + 1) if self.lo <= 10.0**p <= self.hi]
            return decades if len(decades) >= 2 else [self.lo, self.hi]
        return [t for t in nice_ticks(self.lo, self.hi, count) if self.lo <= t <= self.hi]



def _history_y_axis(parts: list[str], y: "Scale", xs_lo: float, xs_hi: float, ys_lo: float, ys_hi: float,
                    metric_name: str | None) -> None:
    """The objective axis of a history chart: gridlines with their values, and the metric's name."""
    parts.append('<g class="axis axis-y" aria-hidden="true">')
    _y_gridlines(parts, y, 5, xs_lo, xs_hi, label_gap=6)
    parts.append(
        f'<text x="14" y="{_n((ys_lo + ys_hi) / 2)}" text-anchor="middle" '
        f'transform="rotate(-90 14 {_n((ys_lo + ys_hi) / 2)})">{_e(metric_name or "objective")}</text>'
    )
    parts.append("</g>")

def _y_gridlines(parts: list[str], y: "Scale", count: int, x_lo: float, x_hi: float, label_gap: float) -> None:
    """Horizontal grid lines at ``y``'s ticks, each labelled at the left."""
    for tick in y.ticks(count):
        ty = y(tick)
        parts.append(f'<line x1="{_n(x_lo)}" x2="{_n(x_hi)}" y1="{_n(ty)}" y2="{_n(ty)}" stroke="{GRID}"/>')
        parts.append(f'<text x="{_n(x_lo - label_gap)}" y="{_n(ty + 4)}" text-anchor="end">{_e(format_value(tick))}</text>')


def _svg_open(chart_id: str, width: int, height: int, title: str, desc: str, css_class: str) -> list[str]:
    return [
        f'<svg class="chart {css_class}" id="{_e(chart_id)}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="{_e(chart_id)}-title {_e(chart_id)}-desc" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{_e(chart_id)}-title">{_e(title)}</title>',
        f'<desc id="{_e(chart_id)}-desc">{_e(desc)}</desc>',
    ]


def _empty(chart_id: str, width: int, height: int, title: str, message: str, css_class: str) -> SafeString:
    parts = _svg_open(chart_id, width, height, title, message, css_class)
    parts.append(
        f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="chart-empty" fill="{AXIS}">{_e(message)}</text>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))


# ---- time axis ------------------------------------------------------------------------------------
_TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
               172800, 604800, 1209600, 2592000]


def _time_ticks(lo: datetime, hi: datetime, count: int = 6) -> tuple[list[datetime], str]:
    """Tick times at round local-clock steps between lo and hi, and the strftime format for them."""
    span = max(1.0, (hi - lo).total_seconds())
    step = next((s for s in _TIME_STEPS if span / s <= count), _TIME_STEPS[-1])
    local_lo = timezone.localtime(lo) if timezone.is_aware(lo) else lo
    # Start at the first multiple of the step in local time (midnight-aligned for day steps).
    midnight = local_lo.replace(hour=0, minute=0, second=0, microsecond=0)
    offset = (local_lo - midnight).total_seconds()
    first = midnight + timedelta(seconds=math.ceil(offset / step) * step)
    ticks = []
    t = first
    while t <= hi and len(ticks) < 40:
        ticks.append(t)
        t += timedelta(seconds=step)
    if span >= 2 * 86400:
        fmt = "%b %d" if step >= 86400 else "%b %d %H:%M"
    else:
        fmt = "%H:%M:%S" if step < 60 else "%H:%M"
    return ticks, fmt


# ---- objective over time --------------------------------------------------------------------------
@dataclass
class HistoryPoint:
    """One training job on the objective-history chart."""

    name: str
    when: datetime | None  # when its value became known (end time), or when it was created
    value: float
    url: str | None = None


@dataclass
class HistoryChart:
    svg: SafeString
    marks: int
    best: list[tuple[HistoryPoint, float]] = field(default_factory=list)  # (point, best so far)


def objective_history(
    points: Sequence[HistoryPoint],
    *,
    maximize: bool,
    metric_name: str,
    chart_id: str = "objective-history",
    width: int = 760,
    height: int = 320,
    best_name: str | None = None,
) -> HistoryChart:
    """Each training job's objective value over time, with the best-so-far line; the ring marks
    ``best_name`` (the page's one best training job), else the first job to reach the best value."""
    direction = "maximize" if maximize else "minimize"
    title = f"Objective value over time: {metric_name or 'objective'} ({direction})"
    points = [p for p in points if p.value is not None and math.isfinite(p.value)]
    if not points:
        return HistoryChart(_empty(chart_id, width, height, title, "No training job has an objective value yet.",
                                   "chart-history"), 0)

    # Order by time (jobs with no time keep their listing order after the timed ones).
    timed = all(p.when is not None for p in points)
    ordered = sorted(points, key=lambda p: p.when) if timed else list(points)

    left, right, top, bottom = 64, 16, 16, 44
    xs_lo, xs_hi = left, width - right
    ys_lo, ys_hi = height - bottom, top
    values = [p.value for p in ordered]
    vmin, vmax = min(values), max(values)
    pad = (vmax - vmin) * 0.06 or abs(vmax) * 0.05 or 1.0
    y = Scale(vmin - pad, vmax + pad, ys_lo, ys_hi)

    if timed:
        t0, t1 = ordered[0].when, ordered[-1].when
        span = max(1.0, (t1 - t0).total_seconds())
        t_pad = timedelta(seconds=span * 0.03)
        x_time = Scale(0, span + 2 * t_pad.total_seconds(), xs_lo, xs_hi)
        origin = t0 - t_pad

        def x_of(i: int, p: HistoryPoint) -> float:
            return x_time((p.when - origin).total_seconds())
    else:
        x_index = Scale(-0.5, len(ordered) - 0.5, xs_lo, xs_hi)

        def x_of(i: int, p: HistoryPoint) -> float:
            return x_index(i)

    best_so_far: list[tuple[HistoryPoint, float]] = []
    best = None
    for p in ordered:
        if best is None or (p.value > best if maximize else p.value < best):
            best = p.value
        best_so_far.append((p, best))
    best_value = best
    best_point = next((p for p in ordered if best_name and p.name == best_name), None)
    if best_point is None:
        best_point = next(p for p in ordered if p.value == best_value)

    desc = (
        f"{len(ordered)} training job{'s' if len(ordered) != 1 else ''} with an objective value, "
        f"from {format_value(vmin)} to {format_value(vmax)}. Best: {format_value(best_value)} "
        f"({best_point.name}). The line shows the best value found so far."
    )
    parts = _svg_open(chart_id, width, height, title, desc, "chart-history")

    # Grid and y axis.
    _history_y_axis(parts, y, xs_lo, xs_hi, ys_lo, ys_hi, metric_name)

    # x axis.
    parts.append('<g class="axis axis-x" aria-hidden="true">')
    parts.append(f'<line x1="{xs_lo}" x2="{xs_hi}" y1="{ys_lo}" y2="{ys_lo}" stroke="{AXIS}"/>')
    if timed:
        lo_t = origin
        hi_t = origin + timedelta(seconds=span + 2 * t_pad.total_seconds())
        ticks, fmt = _time_ticks(lo_t, hi_t)
        for tick in ticks:
            tx = x_time((tick - origin).total_seconds())
            if xs_lo <= tx <= xs_hi:
                parts.append(f'<line x1="{_n(tx)}" x2="{_n(tx)}" y1="{ys_lo}" y2="{ys_lo + 4}" stroke="{AXIS}"/>')
                parts.append(f'<text x="{_n(tx)}" y="{ys_lo + 17}" text-anchor="middle">{_e(tick.strftime(fmt))}</text>')
        x_label = f"Time the training job ended ({timezone.get_current_timezone_name()})"
    else:
        for tick in nice_ticks(1, len(ordered), 6):
            if tick == int(tick) and 1 <= tick <= len(ordered):
                tx = x_index(tick - 1)
                parts.append(f'<text x="{_n(tx)}" y="{ys_lo + 17}" text-anchor="middle">{int(tick)}</text>')
        x_label = "Training job (in order)"
    parts.append(f'<text x="{_n((xs_lo + xs_hi) / 2)}" y="{height - 6}" text-anchor="middle">{_e(x_label)}</text>')
    parts.append("</g>")

    # Best so far: a step line (the best value holds until a better job ends).
    step = []
    for i, (p, b) in enumerate(best_so_far):
        px, py = x_of(i, p), y(b)
        step.append(f"M{_n(px)} {_n(py)}" if i == 0 else f"H{_n(px)}V{_n(py)}")
    step.append(f"H{xs_hi}")
    parts.append(f'<path class="best-line" d="{"".join(step)}" fill="none" stroke="{BEST}" stroke-width="2" aria-hidden="true"/>')

    # One mark per training job.
    detailed = len(ordered) <= MARK_DETAIL_MAX
    radius = 4 if len(ordered) <= 200 else (3 if detailed else 2)
    parts.append(f'<g class="marks" fill="#2f6feb" fill-opacity="{0.85 if detailed else 0.5}">')
    from hpo_jobs.templatetags.hpo_format import format_time

    # The best job is drawn last, on top of any job that ties with it.
    drawn = sorted(enumerate(ordered), key=lambda item: item[1] is best_point)
    for i, p in drawn:
        cx, cy = _n(x_of(i, p)), _n(y(p.value))
        best_attrs = f' data-best="{_e(p.name)}"' if p is best_point else ""
        if not detailed:
            klass = "mark best-mark" if p is best_point else "mark"
            extra = f' stroke="{BEST}" stroke-width="2"' if p is best_point else ""
            parts.append(f'<circle class="{klass}" cx="{cx}" cy="{cy}" r="{radius}"{extra}{best_attrs}/>')
            continue
        label = f"{p.name}: {format_value(p.value)}"
        if p.when is not None:
            label += f" at {format_time(p.when)}"
        if p is best_point:
            label += " (the best training job)"
        extra = ' stroke="#fff" stroke-width="1"'
        klass = "mark"
        if p is best_point:
            extra = f' stroke="{BEST}" stroke-width="2.5"'
            klass = "mark best-mark"
        circle = (f'<circle class="{klass}" cx="{cx}" cy="{cy}" r="{radius + (1.5 if p is best_point else 0)}"'
                  f'{extra}{best_attrs}><title>{_e(label)}</title></circle>')
        if p.url:
            parts.append(f'<a href="{_e(p.url)}" aria-label="{_e(label)}">{circle}</a>')
        else:
            parts.append(circle)
    parts.append("</g>")
    parts.append("</svg>")
    return HistoryChart(mark_safe("".join(parts)), len(ordered), best_so_far)


@dataclass
class Density:
    """The objective history of a large job, aggregated by the database: how many training jobs fall
    in each cell of a grid over time (seconds since ``t0``) and value, and the best-so-far steps."""

    count: int
    t0: float  # epoch seconds of the first point
    t1: float
    v0: float
    v1: float
    cells: list[tuple[int, int, int]]  # (column, row, jobs) with 0 <= column < DENSITY_COLUMNS, row likewise
    steps: list[tuple[float, float]]  # (epoch seconds, best value so far), one per improvement, in time order
    best: HistoryPoint | None = None  # the best training job (``when`` as epoch seconds in ``best_at``)
    best_at: float | None = None


def density_cell(t: float, v: float, density: Density) -> tuple[int, int]:
    """The grid cell of a point (the database computes the same for every row)."""
    column = int((t - density.t0) / max(1.0, density.t1 - density.t0) * DENSITY_COLUMNS)
    row = int((v - density.v0) / ((density.v1 - density.v0) or 1.0) * DENSITY_ROWS)
    return min(DENSITY_COLUMNS - 1, max(0, column)), min(DENSITY_ROWS - 1, max(0, row))


def objective_density(
    density: Density,
    *,
    maximize: bool,
    metric_name: str,
    chart_id: str = "objective-history",
    width: int = 760,
    height: int = 320,
) -> HistoryChart:
    """The objective history of a job too large to draw a mark per training job: a binned density
    (darker cells hold more jobs), the best-so-far line and the best job's ring; bounded in size."""
    direction = "maximize" if maximize else "minimize"
    title = f"Objective value over time: {metric_name or 'objective'} ({direction})"
    if not density.count:
        return HistoryChart(_empty(chart_id, width, height, title, "No training job has an objective value yet.",
                                   "chart-history"), 0)
    left, right, top, bottom = 64, 16, 16, 44
    xs_lo, xs_hi = left, width - right
    ys_lo, ys_hi = height - bottom, top
    span = max(1.0, density.t1 - density.t0)
    value_span = (density.v1 - density.v0) or 1.0
    x = Scale(density.t0, density.t0 + span, xs_lo, xs_hi)
    y = Scale(density.v0, density.v0 + value_span, ys_lo, ys_hi)
    best_value = density.steps[-1][1] if density.steps else None
    best_text = f" Best: {format_value(best_value)}" + (f" ({density.best.name})." if density.best else ".")
    desc = (
        f"{density.count:,} training jobs with an objective value, from {format_value(density.v0)} to "
        f"{format_value(density.v1)}, drawn as a density: darker cells hold more training jobs.{best_text} "
        f"The line shows the best value found so far."
    )
    parts = _svg_open(chart_id, width, height, title, desc, "chart-history chart-density")
    _history_y_axis(parts, y, xs_lo, xs_hi, ys_lo, ys_hi, metric_name)
    parts.append('<g class="axis axis-x" aria-hidden="true">')
    parts.append(f'<line x1="{xs_lo}" x2="{xs_hi}" y1="{ys_lo}" y2="{ys_lo}" stroke="{AXIS}"/>')
    origin = datetime.fromtimestamp(density.t0, tz=timezone.get_current_timezone())
    ticks, fmt = _time_ticks(origin, origin + timedelta(seconds=span))
    for tick in ticks:
        tx = x(tick.timestamp())
        if xs_lo <= tx <= xs_hi:
            parts.append(f'<line x1="{_n(tx)}" x2="{_n(tx)}" y1="{ys_lo}" y2="{ys_lo + 4}" stroke="{AXIS}"/>')
            parts.append(f'<text x="{_n(tx)}" y="{ys_lo + 17}" text-anchor="middle">{_e(tick.strftime(fmt))}</text>')
    x_label = f"Time the training job ended ({timezone.get_current_timezone_name()})"
    parts.append(f'<text x="{_n((xs_lo + xs_hi) / 2)}" y="{height - 6}" text-anchor="middle">{_e(x_label)}</text>')
    parts.append("</g>")

    # The cells: opacity on a square-root scale of their count, so that sparse cells still show.
    cell_w = (xs_hi - xs_lo) / DENSITY_COLUMNS
    cell_h = (ys_lo - ys_hi) / DENSITY_ROWS
    most = max((n for _, _, n in density.cells), default=1)
    parts.append('<g class="density" fill="#2f6feb" aria-hidden="true">')
    for column, row, n in density.cells:
        opacity = 0.12 + 0.88 * math.sqrt(n / most)
        parts.append(f'<rect x="{_n(xs_lo + column * cell_w)}" y="{_n(ys_lo - (row + 1) * cell_h)}" '
                     f'width="{_n(cell_w + 0.2)}" height="{_n(cell_h + 0.2)}" fill-opacity="{opacity:.2f}"/>')
    parts.append("</g>")

    if density.steps:
        step = []
        for i, (t, b) in enumerate(density.steps):
            px, py = x(t), y(b)
            step.append(f"M{_n(px)} {_n(py)}" if i == 0 else f"H{_n(px)}V{_n(py)}")
        step.append(f"H{xs_hi}")
        parts.append(f'<path class="best-line" d="{"".join(step)}" fill="none" stroke="{BEST}" stroke-width="2" '
                     f'aria-hidden="true"/>')
    if density.best is not None and density.best_at is not None:
        p = density.best
        label = f"{p.name}: {format_value(p.value)} (the best training job)"
        circle = (f'<circle class="mark best-mark" cx="{_n(x(density.best_at))}" cy="{_n(y(p.value))}" r="5" '
                  f'fill="#2f6feb" stroke="{BEST}" stroke-width="2.5" data-best="{_e(p.name)}"><title>{_e(label)}</title></circle>')
        parts.append(f'<a href="{_e(p.url)}" aria-label="{_e(label)}">{circle}</a>' if p.url else circle)
    parts.append("</svg>")
    return HistoryChart(mark_safe("".join(parts)), density.count)


# ---- parallel coordinates -------------------------------------------------------------------------
@dataclass
class Axis:
    """One vertical axis: a tuned hyperparameter (numeric, log or categorical) or the objective."""

    name: str
    kind: str  # "linear" | "log" | "categorical"
    lo: float = 0.0
    hi: float = 1.0
    categories: list[str] = field(default_factory=list)


def _to_float(text: object) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def axes_for(ranges: dict, rows: Iterable[dict[str, str]]) -> list[Axis]:
    """The axes of a definition's tuned hyperparameters: the declared ranges first (their bounds,
    their scaling, their categories in order), widened by what the jobs actually used; any
    hyperparameter the jobs carry but the ranges do not declare is added from the data."""
    axes: dict[str, Axis] = {}
    for kind_key in ("IntegerParameterRanges", "ContinuousParameterRanges"):
        for r in ranges.get(kind_key) or []:
            lo, hi = _to_float(r.get("MinValue")), _to_float(r.get("MaxValue"))
            log = r.get("ScalingType") == "Logarithmic"
            axes[r["Name"]] = Axis(r["Name"], "log" if log else "linear",
                                   lo if lo is not None else math.inf, hi if hi is not None else -math.inf)
    for r in ranges.get("CategoricalParameterRanges") or []:
        axes[r["Name"]] = Axis(r["Name"], "categorical", categories=[str(v) for v in r.get("Values") or []])

    seen: dict[str, list[str]] = {}
    for hps in rows:
        for key, value in (hps or {}).items():
            seen.setdefault(key, []).append(value)
    for key, values in seen.items():
        axis = axes.get(key)
        numbers = [_to_float(v) for v in values]
        if axis is None:
            if all(n is not None for n in numbers):
                axis = axes[key] = Axis(key, "linear", math.inf, -math.inf)
            else:
                axis = axes[key] = Axis(key, "categorical", categories=sorted({str(v) for v in values}))
        if axis.kind == "categorical":
            known = set(axis.categories)
            for v in values:
                if str(v) not in known:
                    axis.categories.append(str(v))
                    known.add(str(v))
        else:
            finite = [n for n in numbers if n is not None]
            if finite:
                axis.lo, axis.hi = min(axis.lo, *finite), max(axis.hi, *finite)
    for axis in axes.values():
        if axis.kind != "categorical" and not (math.isfinite(axis.lo) and math.isfinite(axis.hi)):
            axis.lo, axis.hi = 0.0, 1.0
    return list(axes.values())


@dataclass
class PcRow:
    """One training job on the parallel-coordinates chart."""

    name: str
    hyperparameters: dict[str, str]
    value: float | None
    url: str | None = None


def parallel_coordinates(
    rows: Sequence[PcRow],
    axes: Sequence[Axis],
    *,
    maximize: bool,
    metric_name: str,
    chart_id: str = "parallel-coordinates",
    width: int = 760,
    height: int = 340,
    caption: str = "",
    best_name: str | None = None,
    of_total: int | None = None,
) -> SafeString:
    """Each training job as a line through its tuned hyperparameters and its objective value;
    darker lines are better, the best job (``best_name``, else the first with the best value) is
    drawn last in orange. ``of_total``: the rows are the best jobs and a sample of that many."""
    direction = "maximize" if maximize else "minimize"
    title = f"Tuned hyperparameters against the objective{f' ({caption})' if caption else ''}"
    if not rows:
        return _empty(chart_id, width, height, title, "No training jobs yet.", "chart-parallel")
    if not axes:
        return _empty(chart_id, width, height, title, "No tuned hyperparameters to show.", "chart-parallel")

    values = [r.value for r in rows if r.value is not None]
    top, bottom, left, right = 34, 40, 56, 72
    n_axes = len(axes) + 1
    gap = (width - left - right) / max(1, n_axes - 1)
    xs = [left + i * gap for i in range(n_axes)]
    y_lo, y_hi = height - bottom, top

    scales: list[Scale | None] = []
    for axis in axes:
        if axis.kind == "categorical":
            scales.append(Scale(-0.5, max(0.5, len(axis.categories) - 0.5), y_lo, y_hi))
        else:
            scales.append(Scale(axis.lo, axis.hi, y_lo, y_hi, log=axis.kind == "log"))
    obj_scale = Scale(min(values), max(values), y_lo, y_hi) if values else None

    shown = (f"{len(rows):,} of {of_total:,} training jobs (the {PARALLEL_TOP:,} best and an even sample of the "
             f"others)" if of_total else f"{len(rows)} training job{'s' if len(rows) != 1 else ''}")
    desc = (
        f"{shown} across {len(axes)} tuned "
        f"hyperparameter{'s' if len(axes) != 1 else ''} ({', '.join(a.name for a in axes)}) and the objective "
        f"{metric_name or ''} ({direction}). Darker lines are better; the best job is orange; "
        f"grey dashed lines have no objective value."
    )
    parts = _svg_open(chart_id, width, height, title, desc, "chart-parallel")

    # Lines: worst first so that the better ones sit on top; jobs with no value first of all.
    def rank_key(r: PcRow) -> float:
        if r.value is None:
            return -math.inf
        return r.value if maximize else -r.value

    best_row = next((r for r in rows if best_name and r.name == best_name and r.value is not None), None)
    if best_row is None and values:
        # The first of the rows (they come in creation order) to reach the best value.
        top_value = max(values) if maximize else min(values)
        best_row = next(r for r in rows if r.value == top_value)
    # The best last of all, so that it sits on top of the lines it ties with.
    ordered = sorted(rows, key=lambda r: (r is best_row, rank_key(r)))
    lo_v, hi_v = (min(values), max(values)) if values else (0.0, 1.0)
    detailed = len(rows) <= MARK_DETAIL_MAX
    width_line = 1.6 if len(rows) <= 200 else 1
    # Many lines overplot into one dark mass: the more lines, the fainter each, so that where
    # they gather (and the darker, better ones drawn last) still shows.
    opacity = 0.9 if len(rows) <= 100 else min(0.9, max(0.06, 90 / len(rows)))

    parts.append(f'<g class="marks" fill="none" stroke-width="{width_line}" stroke-opacity="{opacity}">')
    for r in ordered:
        d = []
        pen_down = False
        for i, axis in enumerate(axes):
            raw = r.hyperparameters.get(axis.name)
            if raw is None:
                pen_down = False
                continue
            if axis.kind == "categorical":
                try:
                    pos = axis.categories.index(str(raw))
                except ValueError:
                    pen_down = False
                    continue
                py = scales[i](pos)
            else:
                number = _to_float(raw)
                if number is None:
                    pen_down = False
                    continue
                py = scales[i](number)
            d.append(f"{'L' if pen_down else 'M'}{_n(xs[i])} {_n(py)}")
            pen_down = True
        if r.value is not None and obj_scale is not None:
            d.append(f"{'L' if pen_down else 'M'}{_n(xs[-1])} {_n(obj_scale(r.value))}")
        if not d:
            d.append(f"M{_n(xs[0])} {_n(y_lo)}")  # nothing to draw: keep one (invisible) mark per job
        if r is best_row:
            stroke = f' stroke="{BEST}" stroke-width="3" stroke-opacity="1"'
        elif r.value is None:
            stroke = f' stroke="{NO_VALUE}" stroke-dasharray="4 3"'
        else:
            t = (r.value - lo_v) / (hi_v - lo_v) if hi_v > lo_v else 1.0
            stroke = f' stroke="{_ramp(t if maximize else 1 - t)}"'
        klass = "mark best-mark" if r is best_row else "mark"
        best_attrs = f' data-best="{_e(r.name)}"' if r is best_row else ""
        if detailed:
            hp_text = ", ".join(f"{k}={v}" for k, v in r.hyperparameters.items())
            label = f"{r.name}: {metric_name or 'objective'} {format_value(r.value)}; {hp_text}"
            if r is best_row:
                label += " (the best training job)"
            path = f'<path class="{klass}" d="{"".join(d)}"{stroke}{best_attrs}><title>{_e(label)}</title></path>'
            parts.append(f'<a href="{_e(r.url)}" aria-label="{_e(label)}">{path}</a>' if r.url else path)
        else:
            parts.append(f'<path class="{klass}" d="{"".join(d)}"{stroke}{best_attrs}/>')
    parts.append("</g>")

    # Axes on top of the lines, with their names and a few ticks.
    parts.append('<g class="axis" aria-hidden="true">')
    for i, axis in enumerate([*axes, None]):
        x = xs[i]
        parts.append(f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{y_lo}" y2="{y_hi}" stroke="{AXIS}"/>')
        name = axis.name if axis is not None else (metric_name or "objective")
        short = name if len(name) <= 18 else name[:17] + "…"
        weight = ' font-weight="700"' if axis is None else ""
        parts.append(f'<text x="{_n(x)}" y="{top - 14}" text-anchor="middle"{weight}><title>{_e(name)}</title>{_e(short)}</text>')
        if axis is None:
            scale, labels = obj_scale, None
            if scale is None:
                continue
            ticks = scale.ticks(4) or [scale.lo, scale.hi]
        elif axis.kind == "categorical":
            scale = scales[i]
            cats = axis.categories
            stride = max(1, math.ceil(len(cats) / 8))
            ticks = [float(k) for k in range(0, len(cats), stride)]
            labels = {float(k): cats[k] for k in range(len(cats))}
        else:
            scale, labels = scales[i], None
            ticks = scale.ticks(4) or [scale.lo, scale.hi]
        for tick in ticks:
            ty = scale(tick)
            text = labels[tick] if labels else format_value(tick)
            text = text if len(text) <= 12 else text[:11] + "…"
            parts.append(f'<line x1="{_n(x - 3)}" x2="{_n(x)}" y1="{_n(ty)}" y2="{_n(ty)}" stroke="{AXIS}"/>')
            parts.append(f'<text x="{_n(x - 5)}" y="{_n(ty + 4)}" text-anchor="end" class="tick">{_e(text)}</text>')
        if axis is not None and axis.kind == "log":
            parts.append(f'<text x="{_n(x)}" y="{y_lo + 16}" text-anchor="middle" class="tick">log scale</text>')
    parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))


# ---- a training job's metric curve ----------------------------------------------------------------
def metric_curve(
    values: Sequence[float],
    *,
    metric_name: str,
    chart_id: str,
    highlight: bool = False,
    width: int = 360,
    height: int = 200,
) -> SafeString:
    """One metric's values in the order the log emitted them (per epoch, for iterative algorithms)."""
    title = f"{metric_name} per reported step"
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return _empty(chart_id, width, height, title, "No values.", "chart-curve")
    left, right, top, bottom = 56, 12, 12, 34
    x = Scale(1, max(2, len(values)), left, width - right)
    vmin, vmax = min(values), max(values)
    pad = (vmax - vmin) * 0.06 or abs(vmax) * 0.05 or 1.0
    y = Scale(vmin - pad, vmax + pad, height - bottom, top)
    desc = (
        f"{len(values)} value{'s' if len(values) != 1 else ''}, first {format_value(values[0])}, "
        f"last {format_value(values[-1])}, lowest {format_value(vmin)}, highest {format_value(vmax)}."
    )
    parts = _svg_open(chart_id, width, height, title, desc, "chart-curve")
    parts.append('<g class="axis" aria-hidden="true">')
    _y_gridlines(parts, y, 4, left, width - right, label_gap=5)
    for tick in nice_ticks(1, max(2, len(values)), 5):
        if tick == int(tick) and 1 <= tick <= len(values):
            parts.append(f'<text x="{_n(x(tick))}" y="{height - bottom + 15}" text-anchor="middle">{int(tick)}</text>')
    parts.append(f'<text x="{_n((left + width - right) / 2)}" y="{height - 4}" text-anchor="middle">step</text>')
    parts.append("</g>")
    colour = BEST if highlight else "#2f6feb"
    d = "".join(f"{'M' if i == 0 else 'L'}{_n(x(i + 1))} {_n(y(v))}" for i, v in enumerate(values))
    parts.append(f'<path class="curve" d="{d}" fill="none" stroke="{colour}" stroke-width="2"/>')
    if len(values) <= 200:
        parts.append(f'<g class="marks" fill="{colour}">')
        for i, v in enumerate(values):
            parts.append(f'<circle class="mark" cx="{_n(x(i + 1))}" cy="{_n(y(v))}" r="2.5">'
                         f'<title>{_e(f"step {i + 1}: {format_value(v)}")}</title></circle>')
        parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))
