"""The two exports: training-jobs.csv (every child, a column per hyperparameter, streamed) and
request.json (the exact request the job sent)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from .factories import build_job


pytestmark = pytest.mark.django_db


def csv_rows(response) -> list[dict[str, str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_has_every_child_with_its_hyperparameters_as_columns(alice_client, project, alice):
    job = build_job(project, alice, "exported", 60, seed=5)
    response = alice_client.get("/projects/demo/hpo-jobs/exported/training-jobs.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="exported-training-jobs.csv"'
    rows = csv_rows(response)
    assert len(rows) == 60
    assert list(rows[0])[:12] == ["training_job_name", "definition_name", "status", "objective_metric", "objective_value",
                                  "objective_status", "creation_time", "start_time", "end_time", "duration_seconds",
                                  "failure_reason", "best_training_job"]
    assert list(rows[0])[12:] == ["max_depth", "eta", "subsample", "min_child_weight"]
    by_name = {r["training_job_name"]: r for r in rows}
    for tj in job.training_jobs.all():
        row = by_name[tj.name]
        assert row["status"] == tj.status
        assert row["failure_reason"] == tj.failure_reason
        assert (float(row["objective_value"]) if row["objective_value"] else None) == tj.objective_value
        assert {k: row[k] for k in tj.tuned_hyperparameters} == tj.tuned_hyperparameters
        assert row["creation_time"] == tj.creation_time.isoformat()


def test_hyperparameters_the_definitions_do_not_declare_still_get_a_column(alice_client, make_job):
    job = make_job("undeclared", children=2)  # make_job's request declares no ranges; children carry eta
    job.training_jobs.filter(name__startswith="undeclared-002").update(tuned_hyperparameters={"eta": "0.3", "status": "x"})
    rows = csv_rows(alice_client.get("/projects/demo/hpo-jobs/undeclared/training-jobs.csv"))
    assert list(rows[0])[12:] == ["eta", "hyperparameter:status"]
    assert [r["eta"] for r in rows] == ["0.1", "0.3"]
    assert [r["hyperparameter:status"] for r in rows] == ["", "x"]


def test_cells_a_spreadsheet_would_run_are_quoted_but_numbers_stay_numbers(alice_client, make_job):
    job = make_job("formulas", children=1)
    job.training_jobs.update(failure_reason='=HYPERLINK("http://evil")', tuned_hyperparameters={"eta": "-0.5", "x": "+cmd"})
    row = csv_rows(alice_client.get("/projects/demo/hpo-jobs/formulas/training-jobs.csv"))[0]
    assert row["failure_reason"] == "'=HYPERLINK(\"http://evil\")"
    assert row["eta"] == "-0.5" and row["x"] == "'+cmd"


def test_markup_in_names_reaches_the_csv_as_plain_text(alice_client, make_job):
    job = make_job("<img src=x>", children=1)
    job.training_jobs.update(tuned_hyperparameters={"<script>": "<img>"})
    response = alice_client.get(f"/projects/demo/hpo-jobs/{job.name}/training-jobs.csv")
    assert response["Content-Type"].startswith("text/csv")
    row = csv_rows(response)[0]
    assert row["<script>"] == "<img>"


def test_the_csv_costs_the_same_queries_for_few_or_many_children(alice_client, project, alice):
    build_job(project, alice, "few", 3, seed=1)
    build_job(project, alice, "many", 400, seed=1)

    def queries(name: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            rows = csv_rows(alice_client.get(f"/projects/demo/hpo-jobs/{name}/training-jobs.csv"))
        assert rows
        return len(captured)

    assert queries("few") == queries("many")


def test_request_json_is_the_exact_stored_request(alice_client, project, alice):
    job = build_job(project, alice, "as-sent", 1)
    response = alice_client.get("/projects/demo/hpo-jobs/as-sent/request.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="as-sent-request.json"'
    assert json.loads(response.content) == job.request


def test_request_json_keeps_unicode_and_markup_as_data(alice_client, make_job):
    request = {
        "HyperParameterTuningJobName": "tagged",
        "HyperParameterTuningJobConfig": {"Strategy": "Random", "ResourceLimits": {"MaxNumberOfTrainingJobs": 1}},
        "Tags": [{"Key": "owner", "Value": "Zoë <script>"}],
    }
    make_job("tagged", request=request)
    response = alice_client.get("/projects/demo/hpo-jobs/tagged/request.json")
    assert json.loads(response.content)["Tags"][0]["Value"] == "Zoë <script>"
    assert response["Content-Type"].startswith("application/json")  # never rendered as a page


def test_an_outsider_gets_neither_export(charlie_client, make_job):
    make_job("secret", children=1)
    assert charlie_client.get("/projects/demo/hpo-jobs/secret/training-jobs.csv").status_code == 404
    assert charlie_client.get("/projects/demo/hpo-jobs/secret/request.json").status_code == 404
