"""The job list: columns, filter, search, sort, server-side pagination and the empty state."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from hpo_jobs.pages.views import JOB_SORTS

from .query_plans import SORT_STEP, plan


pytestmark = pytest.mark.django_db
URL = "/projects/demo/hpo-jobs/"


def names_in(response) -> list[str]:
    html = response if isinstance(response, str) else response.content.decode()
    return re.findall(r'<tr data-job="([^"]*)"', html)


def test_it_shows_each_job_with_its_columns(alice_client, make_job, bob):
    now = timezone.now()
    make_job("xgb-auc", status="Completed", created_by=bob, completed_count=3, finished_count=4,
             best_objective_value=0.9734512,
             training_job_status_counters={"Completed": 3, "NonRetryableError": 1},
             best_training_job={"TrainingJobName": "xgb-auc-001", "FinalHyperParameterTuningJobObjectiveMetric": {
                 "MetricName": "validation:auc", "Type": "Maximize", "Value": 0.9734512}},
             started_at=now - timedelta(minutes=12, seconds=5), ended_at=now)
    html = alice_client.get(URL).content.decode()
    row = html[html.index('<tr data-job="xgb-auc"'):]
    row = row[: row.index("</tr>")]
    for text in ("xgb-auc", "Completed", "4 of 4", "1 failed", "0.973451", "validation:auc", "Bayesian", "local", "bob",
                 "12m 05s"):
        assert text in row, text
    assert 'href="/projects/demo/hpo-jobs/xgb-auc/"' in row


def test_an_empty_project_leads_to_the_wizard_and_to_import(bob_client, project):
    html = bob_client.get(URL).content.decode()
    assert "No HPO jobs in Demo yet" in html
    assert 'href="/projects/demo/hpo-jobs/create/"' in html
    assert 'href="/projects/demo/hpo-jobs/import/"' in html


def test_staff_who_are_not_members_are_not_offered_to_create(admin_client_, project):
    html = admin_client_.get(URL).content.decode()
    assert "No HPO jobs in Demo yet" in html
    assert "/hpo-jobs/create/" not in html


def test_it_filters_by_status_and_by_the_active_group(alice_client, make_job):
    make_job("running", status="InProgress")
    make_job("pending", status="Pending")
    make_job("done", status="Completed")
    make_job("broken", status="Failed")
    assert names_in(alice_client.get(URL, {"status": "Failed"})) == ["broken"]
    assert sorted(names_in(alice_client.get(URL, {"status": "active"}))) == ["pending", "running"]
    html = alice_client.get(URL).content.decode()
    assert "Active (2)" in html and "Failed (1)" in html


def test_it_searches_by_name_case_insensitively(alice_client, make_job):
    make_job("xgb-one")
    make_job("XGB-two")
    make_job("linear")
    assert sorted(names_in(alice_client.get(URL, {"q": "xgb"}))) == ["XGB-two", "xgb-one"]
    response = alice_client.get(URL, {"q": "nothing-like-this"})
    assert names_in(response) == [] and "No jobs match" in response.content.decode()


def test_it_sorts_by_name_best_value_and_creation(alice_client, make_job):
    make_job("b-job", best_objective_value=0.5)
    make_job("a-job", best_objective_value=0.9)
    make_job("c-job")  # no value yet: last whichever way
    assert names_in(alice_client.get(URL, {"sort": "name"})) == ["a-job", "b-job", "c-job"]
    assert names_in(alice_client.get(URL, {"sort": "-name"})) == ["c-job", "b-job", "a-job"]
    assert names_in(alice_client.get(URL, {"sort": "-best"})) == ["a-job", "b-job", "c-job"]
    assert names_in(alice_client.get(URL, {"sort": "best"})) == ["b-job", "a-job", "c-job"]
    assert names_in(alice_client.get(URL)) == ["c-job", "a-job", "b-job"]  # newest first


def test_it_sorts_by_duration(alice_client, make_job):
    now = timezone.now()
    make_job("short", status="Completed", started_at=now - timedelta(minutes=5), ended_at=now)
    make_job("long", status="Completed", started_at=now - timedelta(hours=5), ended_at=now)
    make_job("never-started", status="Failed", ended_at=now)  # its time counts from its creation
    # Still going: it sorts as longer than any that has ended, as in the training jobs table.
    make_job("running", status="InProgress", started_at=now - timedelta(minutes=1))
    assert names_in(alice_client.get(URL, {"sort": "-duration"})) == ["running", "long", "short", "never-started"]
    assert names_in(alice_client.get(URL, {"sort": "duration"})) == ["never-started", "short", "long", "running"]


@pytest.mark.parametrize("params", [
    {"sort": "drop table"}, {"status": "<script>"}, {"page": "x"}, {"page": "999"}, {"page": "-1"},
    {"q": "a" * 500}, {"sort": "__class__"},
])
def test_bad_parameters_fall_back_to_defaults(alice_client, make_job, params):
    make_job("only-job")
    response = alice_client.get(URL, params)
    assert response.status_code == 200


def test_it_paginates_on_the_server(alice_client, make_job):
    for i in range(30):
        make_job(f"job-{i:02d}")
    first = alice_client.get(URL)
    second = alice_client.get(URL, {"page": 2})
    assert len(names_in(first)) == 20 and len(names_in(second)) == 10
    assert not set(names_in(first)) & set(names_in(second))
    assert "Page 1 of 2" in first.content.decode()


@pytest.mark.parametrize("sort", ["-created", "name", "-best", "status"])
def test_pages_past_the_middle_read_from_the_end_and_are_the_same_pages(alice_client, make_job, project, sort):
    for i in range(75):
        make_job(f"job-{i:02d}", status=("Completed", "Failed", "InProgress")[i % 3],
                 best_objective_value=None if i % 5 == 0 else float(i % 4))
    pages = [names_in(alice_client.get(URL, {"sort": sort, "page": n})) for n in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [20, 20, 20, 15]
    everything = [name for p in pages for name in p]
    assert len(set(everything)) == 75
    # The same order as the list read in one piece.
    from hpo_jobs.pages import views

    assert everything == [row["name"] for row in views.list_jobs(project, "", "", sort).rows]


def test_it_lists_only_this_projects_jobs(alice_client, make_job, alice):
    from projects.models import Membership, Project

    other = Project.objects.create(name="Other", slug="other")
    Membership.objects.create(project=other, user=alice, role=Membership.Role.OWNER)
    make_job("mine")
    make_job("theirs", project_=other)
    assert names_in(alice_client.get(URL)) == ["mine"]


def test_job_names_with_markup_are_shown_as_text(alice_client, make_job):
    make_job("<img src=x onerror=alert(1)>")
    html = alice_client.get(URL).content.decode()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_number_of_queries_does_not_grow_with_the_jobs(alice_client, make_job, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice_client.get(URL).status_code == 200
        return len(captured)

    make_job("first", best_training_job={"TrainingJobName": "x"})
    few = count()
    for i in range(40):
        make_job(f"more-{i}", status="Completed" if i % 2 else "Failed")
    assert count() == few
    assert count() == few  # and again with a search and a filter
    with CaptureQueriesContext(connection) as captured:
        alice_client.get(URL, {"q": "more", "status": "Failed", "sort": "-duration"})
    assert len(captured) <= few + 1  # a name search counts its matches: one query more


def test_the_rows_refresh_while_a_job_is_active_and_not_once_none_is(alice_client, make_job):
    running = make_job("running", status="InProgress")
    make_job("done", status="Completed")
    html = alice_client.get(URL, {"sort": "name"}).content.decode()
    results = html[html.index('<div id="job-results"'):]
    results = results[: results.index(">")]
    assert 'hx-get="/projects/demo/hpo-jobs/?sort=name"' in results and 'hx-trigger="every 5s"' in results
    running.status = "Completed"
    running.save()
    html = alice_client.get(URL, {"sort": "name"}).content.decode()
    results = html[html.index('<div id="job-results"'):]
    results = results[: results.index(">")]
    assert "hx-trigger" not in results and 'data-live="off"' in results


def test_filters_apply_on_change_and_keep_their_state_in_the_address(alice_client, make_job):
    make_job("running", status="InProgress")
    html = alice_client.get(URL).content.decode()
    form = html[html.index('<form method="get"'):]
    form = form[: form.index(">")]
    assert 'hx-trigger="change' in form and 'hx-push-url="true"' in form
    assert 'hx-boost="true"' in html[html.index('<div id="job-results"'):][:300]  # sort and pages swap in place and push the URL


def _searched_pages(client, params: dict, pages: int) -> list[list[str]]:
    return [names_in(client.get(URL, {**params, "page": n})) for n in range(1, pages + 1)]


@pytest.mark.parametrize("sorted_alone", [True, False], ids=["few-matches", "many-matches"])
@pytest.mark.parametrize("sort", ["-created", "name", "-best", "status", "-progress"])
def test_a_search_pages_through_its_matches_first_middle_and_last(alice_client, make_job, monkeypatch,
                                                                 sorted_alone, sort):
    """Whether a search's matches are few (sorted alone) or many (met walking the order), its pages
    hold every match once, in the list's order, ties in the sort keys included."""
    from hpo_jobs.models import HpoJob
    from hpo_jobs.pages import views

    monkeypatch.setattr(views, "_few_matches", lambda matches, jobs: sorted_alone)
    for i in range(70):
        make_job(f"{'xgb' if i % 7 else 'linear'}-{i:02d}", status=("Completed", "Failed")[i % 2],
                 best_objective_value=None if i % 5 == 0 else float(i % 3), finished_count=i % 4)
    tied = timezone.now() - timedelta(days=1)
    HpoJob.objects.filter(name__endswith="0").update(created_at=tied)  # ties on the creation time too
    matching = [row["name"] for row in views.list_jobs(HpoJob.objects.first().project, "", "", sort).rows
                if "xgb" in row["name"].lower()]
    assert len(matching) == 60
    pages = _searched_pages(alice_client, {"q": "XGB", "sort": sort}, 3)
    assert [len(p) for p in pages] == [20, 20, 20]
    assert [name for p in pages for name in p] == matching
    first = alice_client.get(URL, {"q": "XGB", "sort": sort}).content.decode()
    assert "60 jobs match" in first and "Page 1 of 3" in first
    # A page past the end is the last one, read from the other end: the same rows.
    assert names_in(alice_client.get(URL, {"q": "XGB", "sort": sort, "page": 99})) == pages[-1]


def test_a_search_with_a_status_counts_only_the_jobs_it_shows(alice_client, make_job, monkeypatch):
    """Whichever way its matches are read."""
    from hpo_jobs.pages import views

    for i in range(25):
        make_job(f"xgb-{i:02d}", status="Completed" if i < 21 else "Failed")
    make_job("linear-00", status="Completed")
    for sorted_alone in (True, False):
        monkeypatch.setattr(views, "_few_matches", lambda matches, jobs: sorted_alone)
        html = alice_client.get(URL, {"q": "xgb", "status": "Completed"}).content.decode()
        assert "21 jobs match" in html and "Page 1 of 2" in html
        second = names_in(alice_client.get(URL, {"q": "xgb", "status": "Completed", "page": 2}))
        assert second == ["xgb-00"]  # newest first: the oldest match alone on the last page
        assert names_in(alice_client.get(URL, {"q": "xgb", "status": "Failed"})) == ["xgb-24", "xgb-23", "xgb-22",
                                                                                     "xgb-21"]


def _link(html: str, rel: str) -> str | None:
    from html import unescape

    found = re.search(rf'<a class="btn btn-small" href="([^"]*)" rel="{rel}">', html)
    return unescape(found.group(1)) if found else None


@pytest.mark.parametrize("sort", ["-created", "created"])
def test_next_and_previous_seek_by_cursor_and_give_the_numbered_pages(alice_client, make_job, sort):
    """Next and Previous carry the neighbour page's cursor beside its number: following them from the
    first page to the last and back gives every job once, the pages that the numbers give, ties in
    the creation time included; the last and first pages go by number."""
    from hpo_jobs.models import HpoJob

    for i in range(95):
        make_job(f"job-{i:02d}", status=("Completed", "Failed")[i % 2])
    tied = timezone.now() - timedelta(days=1)
    HpoJob.objects.filter(name__endswith=("3", "4", "5")).update(created_at=tied)
    numbered = [names_in(alice_client.get(URL, {"sort": sort, "page": n})) for n in range(1, 6)]
    assert [len(p) for p in numbered] == [20, 20, 20, 20, 15]
    assert len({name for p in numbered for name in p}) == 95

    url, forward, links = f"{URL}?sort={sort}", [], []
    while url:
        html = alice_client.get(url).content.decode()
        forward.append(names_in(html))
        url = _link(html, "next")
        links.append(url)
    assert forward == numbered
    assert "after=" in links[0] and "page=2" in links[0]  # a middle page is sought...
    assert "after=" not in links[3] and "page=5" in links[3]  # ...the last one read from its end

    backward = [names_in(html := alice_client.get(f"{URL}?sort={sort}&page=5").content.decode())]
    url = _link(html, "prev")
    while url:
        html = alice_client.get(url).content.decode()
        backward.insert(0, names_in(html))
        url = _link(html, "prev")
    assert backward == numbered
    assert "Page 3 of 5" in alice_client.get(links[1]).content.decode()


def test_a_sought_page_is_not_shifted_by_a_job_created_meanwhile(alice_client, make_job):
    for i in range(45):
        make_job(f"job-{i:02d}")
    first = alice_client.get(URL).content.decode()
    second_by_cursor = _link(first, "next")
    expected = names_in(alice_client.get(second_by_cursor))
    make_job("job-new")  # newest: it joins the first page, and a numbered page 2 would repeat a job
    assert names_in(alice_client.get(second_by_cursor)) == expected
    assert names_in(alice_client.get(URL, {"page": 2}))[0] == names_in(first)[-1]


@pytest.mark.parametrize("cursor", ["garbage", "eyJ4Ijox", "WyJuYW1lIiwxXQ", ""])
def test_a_bad_or_foreign_cursor_reads_the_page_by_its_number(alice_client, make_job, cursor):
    for i in range(45):
        make_job(f"job-{i:02d}")
    by_number = names_in(alice_client.get(URL, {"page": 2}))
    for key in ("after", "before"):
        response = alice_client.get(URL, {"page": 2, key: cursor})
        assert response.status_code == 200 and names_in(response) == by_number
    # A cursor of another order (the name order does not seek) is ignored too.
    assert names_in(alice_client.get(URL, {"sort": "name", "page": 2, "after": "x"})) == names_in(
        alice_client.get(URL, {"sort": "name", "page": 2}))


def test_a_search_sorts_its_matches_alone_only_when_they_are_few():
    from hpo_jobs.pages import views

    assert views._few_matches(3, 50_000) and views._few_matches(999, 50_000)
    assert not views._few_matches(1_000, 1_000) and not views._few_matches(50_000, 50_000)


@pytest.mark.parametrize("sort", ["-created", "name"])
def test_a_search_with_more_matches_than_it_counts_shows_the_first_ones(alice_client, make_job, monkeypatch, sort):
    """Past SEARCH_COUNT_LIMIT matches a name search stops counting: it says so, and its pages (the
    last one included) are the first matches of the order, not the order's end."""
    from hpo_jobs.models import HpoJob
    from hpo_jobs.pages import views

    monkeypatch.setattr(views, "SEARCH_COUNT_LIMIT", 30)
    for i in range(70):
        make_job(f"{'xgb' if i % 7 else 'linear'}-{i:02d}")
    matching = [row["name"] for row in views.list_jobs(HpoJob.objects.first().project, "", "", sort).rows
                if "xgb" in row["name"]]
    first = alice_client.get(URL, {"q": "xgb", "sort": sort}).content.decode()
    assert "More than 30 jobs match" in first and "narrow the search" in first and "Page 1 of 2" in first
    pages = _searched_pages(alice_client, {"q": "xgb", "sort": sort}, 2)
    assert [name for p in pages for name in p] == matching[:30]
    assert names_in(alice_client.get(URL, {"q": "xgb", "sort": sort, "page": 99})) == matching[20:30]
    if sort == "-created":  # Next seeks by cursor, to the same rows
        assert names_in(alice_client.get(_link(first, "next"))) == matching[20:30]
    # Under the limit the count is exact again.
    assert "10 jobs match" in alice_client.get(URL, {"q": "linear"}).content.decode()


def test_a_page_by_number_skips_ids_only(alice_client, make_job):
    """An OFFSET reads ids alone (the skipped rows' requests and JSON are never read); the page's own
    rows are then read by id."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(75):
        make_job(f"job-{i:02d}")
    for page in (2, 3):  # before and past the middle
        with CaptureQueriesContext(connection) as captured:
            assert len(names_in(alice_client.get(URL, {"page": page, "sort": "name"}))) == 20
        offsets = [q["sql"] for q in captured if "OFFSET" in q["sql"] and "hpo_jobs_hpojob" in q["sql"]]
        assert offsets and all(q.split(" FROM ")[0].count(",") == 0 for q in offsets), offsets


@pytest.mark.parametrize("sort", JOB_SORTS)
def test_every_order_of_the_list_reads_its_ids_from_an_index_both_ways(project, make_job, sort):
    """A page by number skips ids in the order (from either end): on both databases an index gives
    the order, with no sort step, whatever the list holds."""
    from hpo_jobs.pages import views

    for i, value in enumerate([0.5, None, 0.9]):
        make_job(f"job-{i}", best_objective_value=value)
    listing = views.list_jobs(project, "", "", sort, count_limit=views.SEARCH_COUNT_LIMIT)
    assert listing.sort == sort
    for ids in (listing.ids, listing.ids.reverse()):
        found = plan(*ids.query.sql_with_params())
        assert "hpojob_" in found, found
        assert not re.search(SORT_STEP, found), found


@pytest.mark.parametrize("address", [URL, "/api/v1/projects/demo/jobs/"])
def test_a_page_by_number_reads_its_rows_by_their_ids_alone(alice_client, make_job, address):
    """After skipping ids in the order, the page's rows are read by id, with none of the filters that
    found the ids beside them: SQLite would otherwise walk a filter's index, through every job of the
    project, to meet the 20 it wants."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(45):
        make_job(f"xgb-{i:02d}", status="Completed")
    make_job("other", status="Completed")
    with CaptureQueriesContext(connection) as queries:
        response = alice_client.get(address, {"q": "xgb", "status": "Completed", "page": 2, "page_size": 20})
    assert response.status_code == 200
    if address == URL:
        names = names_in(response)
    else:
        names = [job["name"] for job in response.json()["results"]]
    # Newest first: the second page of the 45 matches ("other" does not match).
    per_page = len(names) if address == URL else 20
    assert names == [f"xgb-{i:02d}" for i in range(44 - per_page, 44 - 2 * per_page, -1)]
    [rows] = [q["sql"] for q in queries.captured_queries if "objective_metric" in q["sql"]]
    where = rows.rsplit(" WHERE ", 1)[1]
    assert '"id" IN (' in where and "LIKE" not in where and "status" not in where, where
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {rows}")
            assert "INTEGER PRIMARY KEY" in str(cursor.fetchall())
