"""The inline SVG charts (hpo_jobs/pages/charts.py): one mark per training job, labelled, escaped, valid XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest

from hpo_jobs.pages import charts

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def parse(svg: str) -> ET.Element:
    """The chart as XML: a chart that does not parse is broken markup (or unescaped data)."""
    return ET.fromstring(str(svg))


def marks(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter() if "mark" in (e.get("class") or "").split()]


def history(values, **kwargs):
    points = [charts.HistoryPoint(f"job-{i:03d}", T0 + timedelta(minutes=i), v, f"/tj/{i}") for i, v in enumerate(values)]
    return charts.objective_history(points, metric_name="validation:auc", **kwargs)


def test_history_has_one_mark_per_training_job_with_its_name_and_value():
    chart = history([0.7, 0.9, 0.8, 0.95], maximize=True)
    root = parse(chart.svg)
    assert chart.marks == 4 and len(marks(root)) == 4
    titles = [m.find(f"{SVG}title").text for m in marks(root)]
    assert titles[1].startswith("job-001: 0.9 at 2026-01-05")


def test_history_is_an_image_labelled_by_its_title_and_description():
    root = parse(history([0.7, 0.9], maximize=True).svg)
    assert root.get("role") == "img"
    labelled_by = root.get("aria-labelledby").split()
    ids = {e.get("id"): e for e in root.iter() if e.get("id")}
    assert [ids[i].tag for i in labelled_by] == [f"{SVG}title", f"{SVG}desc"]
    assert "validation:auc" in ids[labelled_by[0]].text and "maximize" in ids[labelled_by[0]].text
    assert "Best: 0.9 (job-001)" in ids[labelled_by[1]].text


def test_each_mark_is_a_keyboard_reachable_link_to_its_training_job():
    root = parse(history([0.7, 0.9], maximize=True).svg)
    links = [e for e in root.iter(f"{SVG}a")]
    assert [a.get("href") for a in links] == ["/tj/0", "/tj/1"]
    assert all(a.get("aria-label") for a in links)


@pytest.mark.parametrize("maximize,expected", [(True, [0.7, 0.9, 0.9, 0.95]), (False, [0.7, 0.7, 0.7, 0.7])])
def test_best_so_far_follows_the_direction(maximize, expected):
    chart = history([0.7, 0.9, 0.8, 0.95], maximize=maximize)
    assert [best for _, best in chart.best] == expected


def test_history_orders_jobs_by_time_not_by_listing():
    points = [
        charts.HistoryPoint("late", T0 + timedelta(hours=1), 0.9),
        charts.HistoryPoint("early", T0, 0.5),
    ]
    chart = charts.objective_history(points, maximize=True, metric_name="m")
    assert [p.name for p, _ in chart.best] == ["early", "late"]


def test_above_the_detail_limit_marks_stay_one_per_job_but_bare(monkeypatch):
    monkeypatch.setattr(charts, "MARK_DETAIL_MAX", 5)
    chart = history([0.5 + i / 100 for i in range(12)], maximize=True)
    root = parse(chart.svg)
    assert len(marks(root)) == 12
    assert all(m.find(f"{SVG}title") is None for m in marks(root))
    assert not list(root.iter(f"{SVG}a"))


def test_an_empty_history_says_so():
    chart = charts.objective_history([], maximize=True, metric_name="m")
    root = parse(chart.svg)
    assert chart.marks == 0 and not marks(root)
    assert "No training job has an objective value yet." in ET.tostring(root, encoding="unicode")


def test_names_with_markup_are_text_in_the_svg():
    evil = '<script>alert("x")</script>&"'
    points = [charts.HistoryPoint(evil, T0, 0.5, url='/x?a=1&b="2"')]
    svg = str(charts.objective_history(points, maximize=True, metric_name=evil).svg)
    assert "<script>" not in svg
    root = parse(svg)
    assert marks(root)[0].find(f"{SVG}title").text.startswith(evil)
    assert next(root.iter(f"{SVG}a")).get("href") == '/x?a=1&b="2"'


# ---- parallel coordinates --------------------------------------------------------------------------
RANGES = {
    "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"}],
    "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "10"}],
    "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}],
}


def test_axes_come_from_the_ranges_and_widen_to_what_jobs_used():
    axes = charts.axes_for(RANGES, [{"eta": "0.8", "max_depth": "3", "booster": "gblinear", "extra": "7"}])
    by_name = {a.name: a for a in axes}
    # Integer, continuous and categorical ranges in turn (as the Definitions tab lists them), then the rest.
    assert [a.name for a in axes] == ["max_depth", "eta", "booster", "extra"]
    assert by_name["eta"].kind == "log" and by_name["eta"].hi == 0.8
    assert by_name["max_depth"].kind == "linear" and (by_name["max_depth"].lo, by_name["max_depth"].hi) == (2, 10)
    assert by_name["booster"].categories == ["gbtree", "dart", "gblinear"]
    assert by_name["extra"].kind == "linear"


def test_parallel_coordinates_draw_one_line_per_job():
    rows = [
        charts.PcRow(f"j{i}", {"eta": str(0.01 * (i + 1)), "max_depth": str(2 + i), "booster": "dart"}, 0.5 + i / 10, f"/tj/{i}")
        for i in range(5)
    ] + [charts.PcRow("failed", {"eta": "0.1", "max_depth": "4", "booster": "gbtree"}, None)]
    svg = charts.parallel_coordinates(rows, charts.axes_for(RANGES, [r.hyperparameters for r in rows]),
                                      maximize=True, metric_name="validation:auc")
    root = parse(svg)
    paths = marks(root)
    assert len(paths) == 6
    assert root.get("role") == "img"
    best = [p for p in paths if p.get("stroke") == charts.BEST]
    assert len(best) == 1 and best[0].find(f"{SVG}title").text.startswith("j4:")
    no_value = [p for p in paths if p.get("stroke-dasharray")]
    assert len(no_value) == 1 and no_value[0].find(f"{SVG}title").text.startswith("failed:")
    # Axis names are drawn, each with its full name as a title.
    texts = [t.text for t in root.iter(f"{SVG}title")]
    assert {"eta", "max_depth", "booster", "validation:auc"} <= set(texts)


def test_parallel_coordinates_escape_hyperparameter_names_and_values():
    evil = "<img src=x onerror=alert(1)>"
    rows = [charts.PcRow("j", {evil: evil}, 1.0)]
    svg = str(charts.parallel_coordinates(rows, charts.axes_for({}, [rows[0].hyperparameters]), maximize=True,
                                          metric_name="m"))
    assert "<img" not in svg
    parse(svg)


def test_minimize_makes_the_lowest_value_the_best_line():
    rows = [charts.PcRow("low", {"x": "1"}, 0.1), charts.PcRow("high", {"x": "2"}, 0.9)]
    root = parse(charts.parallel_coordinates(rows, charts.axes_for({}, [r.hyperparameters for r in rows]),
                                             maximize=False, metric_name="loss"))
    best = [p for p in marks(root) if p.get("stroke") == charts.BEST]
    assert best[0].find(f"{SVG}title").text.startswith("low:")


# ---- metric curve and ticks ------------------------------------------------------------------------
def test_metric_curve_has_a_point_per_value_and_says_first_and_last():
    root = parse(charts.metric_curve([0.9, 0.8, 0.75], metric_name="validation:rmse", chart_id="c1"))
    assert len(marks(root)) == 3
    desc = root.find(f"{SVG}desc").text
    assert "first 0.9" in desc and "last 0.75" in desc


@pytest.mark.parametrize("lo,hi", [(0, 1), (0.93, 0.97), (-5, 1200), (1e-6, 3e-6)])
def test_nice_ticks_are_round_and_inside_the_range(lo, hi):
    ticks = charts.nice_ticks(lo, hi)
    assert 2 <= len(ticks) <= 12
    assert all(lo - 1e-12 <= t <= hi + 1e-12 for t in ticks)
    steps = {round(b - a, 12) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1


def test_format_value_keeps_six_significant_digits():
    assert charts.format_value(0.98765432) == "0.987654"
    assert charts.format_value(12345678.0) == "1.235e+07"
    assert charts.format_value(None) == "—"
