"""The training jobs table sorted by a tuned hyperparameter: from keys the database keeps for each child
(TrainingJobSortKey, kept by triggers), read from an index on both databases, in the order the rows'
own values give (numbers as numbers, then text; an absent value after the numbers both ways); and
every order of the table read from an index."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hpo_jobs.models import HpoJob, TrainingJob, TrainingJobSortKey
from hpo_jobs.pages.views import TRAINING_JOB_SORTS

from .factories import multi_definition_request
from .query_plans import SORT_STEP, plan

pytestmark = pytest.mark.django_db
URL = "/projects/demo/hpo-jobs/{}/"

# (child, its definition, eta, max_depth): "shallow" tunes no eta; values as engines report them.
CHILDREN = [
    ("a", "deep", "0.5", "4"),
    ("b", "deep", "1e-3", "10"),
    ("c", "shallow", None, "2"),
    ("d", "deep", "0.25", "3"),
    ("e", "deep", "auto", "7"),  # text where a number was expected
    ("f", "deep", " 2 ", "10"),
    ("g", "shallow", None, "1"),
]
ETA_UP = ["b", "d", "a", "f", "c", "g", "e"]  # numbers; then text, absent ("") before "auto"
ETA_DOWN = ["f", "a", "d", "b", "e", "g", "c"]  # numbers; then text, "auto" before absent
DEPTH_UP = ["g", "c", "d", "a", "e", "b", "f"]


def rows(html: str) -> list[str]:
    return [name.removeprefix("mixed-") for name in re.findall(r'<tr data-training-job="([^"]*)"', html)]


def table(client, name: str, **params) -> str:
    response = client.get(URL.format(name), {"tab": "training-jobs", **params})
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def mixed_job(make_job):
    job = make_job("mixed", status=HpoJob.Status.COMPLETED, request=multi_definition_request("mixed"))
    TrainingJob.objects.bulk_create(
        TrainingJob(hpo_job=job, name=f"mixed-{name}", definition_name=definition, status="Completed",
                    objective_value=0.5, objective_metric_name="validation:auc", objective_status="Succeeded",
                    tuned_hyperparameters={"max_depth": depth, **({"eta": eta} if eta is not None else {})})
        for name, definition, eta, depth in CHILDREN
    )
    return job


def test_the_job_knows_which_hyperparameters_its_table_sorts_by(alice_client, mixed_job, make_job):
    assert mixed_job.sort_hyperparameters == ["max_depth", "eta", "subsample", "min_child_weight"]
    # Past the table's columns, no order by each (nor any key kept).
    request = multi_definition_request("wide")
    ranges = request["TrainingJobDefinitions"][0]["HyperParameterRanges"]
    ranges["CategoricalParameterRanges"] = [{"Name": f"c{i}", "Values": ["x", "y"]} for i in range(8)]
    wide = make_job("wide", request=request, children=3)
    assert wide.sort_hyperparameters == []
    assert not TrainingJobSortKey.objects.filter(hpo_job=wide).exists()
    assert 'data-sort="hp:eta"' in table(alice_client, "mixed", sort="hp:eta")
    assert 'data-sort="-objective"' in table(alice_client, "wide", sort="hp:c0")  # not offered: the default


def test_a_hyperparameter_sorts_numbers_first_then_text_both_ways(alice_client, mixed_job):
    assert rows(table(alice_client, "mixed", sort="hp:eta")) == ETA_UP
    assert rows(table(alice_client, "mixed", sort="-hp:eta")) == ETA_DOWN
    assert rows(table(alice_client, "mixed", sort="hp:max_depth")) == DEPTH_UP
    assert rows(table(alice_client, "mixed", sort="hp:eta", status="Completed", definition="deep")) == [
        n for n in ETA_UP if n not in {"c", "g"}]


def test_a_job_without_kept_keys_sorts_the_same_from_its_rows(alice_client, mixed_job):
    HpoJob.objects.filter(pk=mixed_job.pk).update(sort_hyperparameters=None)  # as if stored around save()
    assert not TrainingJobSortKey.objects.filter(hpo_job=mixed_job).exists()
    with CaptureQueriesContext(connection) as queries:
        assert rows(table(alice_client, "mixed", sort="hp:eta")) == ETA_UP
    assert not any("trainingjobsortkey" in q["sql"] for q in queries.captured_queries)
    assert rows(table(alice_client, "mixed", sort="-hp:eta")) == ETA_DOWN
    # Saving the job again keeps its keys again.
    HpoJob.objects.get(pk=mixed_job.pk).save()
    assert TrainingJobSortKey.objects.filter(hpo_job=mixed_job).count() == 4 * len(CHILDREN)
    with CaptureQueriesContext(connection) as queries:
        assert rows(table(alice_client, "mixed", sort="hp:eta")) == ETA_UP
    assert any("trainingjobsortkey" in q["sql"] for q in queries.captured_queries)


def test_the_keys_follow_the_childrens_writes_and_deletes(alice_client, mixed_job):
    TrainingJob.objects.filter(hpo_job=mixed_job, name="mixed-e").update(tuned_hyperparameters={"eta": "0.0001"})
    child = TrainingJob.objects.get(hpo_job=mixed_job, name="mixed-a")
    child.tuned_hyperparameters = {"eta": "9"}
    child.save()
    TrainingJob.objects.filter(hpo_job=mixed_job, name="mixed-d").delete()
    TrainingJob.objects.filter(hpo_job=mixed_job).update(status="Stopped")  # no key changes
    assert rows(table(alice_client, "mixed", sort="hp:eta")) == ["e", "b", "f", "a", "c", "g"]
    assert TrainingJobSortKey.objects.filter(hpo_job=mixed_job).count() == 4 * (len(CHILDREN) - 1)
    mixed_job.delete()
    assert not TrainingJobSortKey.objects.exists()


@pytest.mark.parametrize("sort", [*TRAINING_JOB_SORTS, "hp:eta", "-hp:eta"])
@pytest.mark.parametrize("last", [False, True])
def test_an_index_serves_every_order_of_the_table(alice_client, mixed_job, sort, last):
    """The page's query reads its rows in an index's order (its first page and its last, read
    backwards): no sort step in its plan, on either database."""
    with CaptureQueriesContext(connection) as queries:
        table(alice_client, "mixed", sort=sort, **({"last": 1} if last else {}))
    [sql] = [q["sql"] for q in queries.captured_queries if q["sql"].endswith("LIMIT 51")]
    found = plan(sql)
    assert "trainingjob" in found, found
    assert not re.search(SORT_STEP, found), found
    if sort.lstrip("-").startswith("hp:"):
        assert "trainingjobsortkey_up" in found or "trainingjobsortkey_down" in found, found


def test_the_keys_follow_the_polls_upserts(alice_client, mixed_job):
    """The poll writes children with one upsert (INSERT ... ON CONFLICT DO UPDATE): new rows get their
    keys, rows whose hyperparameters changed get new ones, the others keep theirs."""
    from hpo_jobs import services

    def summary(name: str, eta: str, status: str = "InProgress") -> dict:
        return {"TrainingJobName": f"mixed-{name}", "TrainingJobStatus": status, "TrainingJobDefinitionName": "deep",
                "TunedHyperParameters": {"eta": eta, "max_depth": "5"}}

    services.upsert_children(mixed_job, [summary("h", "0.0002"), summary("a", "0.5", "Completed")])
    assert rows(table(alice_client, "mixed", sort="hp:eta"))[:4] == ["h", "b", "d", "a"]
    services.upsert_children(mixed_job, [summary("h", "3"), summary("i", "0.0001")])
    assert rows(table(alice_client, "mixed", sort="hp:eta"))[:6] == ["i", "b", "d", "a", "f", "h"]
    assert TrainingJobSortKey.objects.filter(hpo_job=mixed_job).count() == 4 * (len(CHILDREN) + 2)
    assert rows(table(alice_client, "mixed", sort="hp:max_depth"))[:4] == ["g", "c", "d", "a"]
