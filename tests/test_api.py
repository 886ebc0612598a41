"""The JSON API through its HTTP interface: reads, create (the import page's rules), idempotency,
stop, clone, the catalogue, errors as problem details, and personal tokens."""

from __future__ import annotations

import copy
import html
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from hpo_jobs.api.models import ApiToken
from hpo_jobs.models import HpoJob, SiteSettings
from hpo_jobs.wizard import convert

from .factories import EXAMPLE_IMAGE, local_request, local_request_plural
from .wizard_helpers import data_dir

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/projects/demo/jobs/"
IMPORT_URL = "/projects/demo/hpo-jobs/import/"


def token_client(user, **token_fields) -> Client:
    """A client that calls the API with a fresh personal token of ``user`` (no session)."""
    token, text = ApiToken.issue(user, "tests", 90)
    if token_fields:
        ApiToken.objects.filter(pk=token.pk).update(**token_fields)
    return Client(HTTP_AUTHORIZATION=f"Bearer {text}")


def post_json(client: Client, url: str, body, **headers):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data, content_type="application/json", headers=headers)


@pytest.fixture
def bob_api(bob, project):
    return token_client(bob)


@pytest.fixture
def alice_api(alice, project):
    return token_client(alice)


# ---- reads -----------------------------------------------------------------------------------------
def test_projects_lists_mine_with_my_role(bob_api, project, make_user):
    from projects.models import Project

    Project.objects.create(name="Secret", slug="secret")
    response = bob_api.get("/api/v1/projects/")
    assert response.status_code == 200
    assert [(p["slug"], p["role"], p["can_create_jobs"]) for p in response.json()] == [("demo", "member", True)]


def test_the_job_list_filters_searches_sorts_and_pages(bob_api, make_job):
    for i in range(25):
        make_job(f"job-{i:02d}", status="Completed" if i % 2 else "InProgress")
    first = bob_api.get(JOBS, {"sort": "name", "page_size": 10}).json()
    assert first["count"] == 25 and first["pages"] == 3
    assert [j["name"] for j in first["results"]] == [f"job-{i:02d}" for i in range(10)]
    second = bob_api.get(first["next"]).json()
    assert second["results"][0]["name"] == "job-10" and second["previous"]
    done = bob_api.get(JOBS, {"status": "Completed", "q": "job-1"}).json()
    assert {j["name"] for j in done["results"]} == {"job-11", "job-13", "job-15", "job-17", "job-19"}
    assert done["status_counts"] == {"Completed": 12, "InProgress": 13}
    # A bad parameter falls back to its default, as on the page.
    assert bob_api.get(JOBS, {"sort": "nope", "status": "nope", "page": "x"}).json()["count"] == 25


def test_a_job_list_search_counts_every_match_past_the_pages_limit(bob_api, make_job, monkeypatch):
    """The page stops counting a search at SEARCH_COUNT_LIMIT; the API, read by scripts that want
    every match, counts them all and pages to the last."""
    from hpo_jobs.pages import views

    monkeypatch.setattr(views, "SEARCH_COUNT_LIMIT", 5)
    for i in range(12):
        make_job(f"job-{i:02d}")
    first = bob_api.get(JOBS, {"q": "job", "sort": "name", "page_size": 5}).json()
    assert first["count"] == 12 and first["pages"] == 3
    last = bob_api.get(JOBS, {"q": "job", "sort": "name", "page_size": 5, "page": 3}).json()
    assert [j["name"] for j in last["results"]] == ["job-10", "job-11"]


def test_a_job_shows_progress_counters_best_and_its_request(bob_api, make_job):
    job = make_job("xgb-job", children=3, status="Completed", training_job_status_counters={"Completed": 3},
                   completed_count=3)
    job.best_training_job = {
        "TrainingJobName": "xgb-job-003-abcdef12", "TrainingJobStatus": "Completed",
        "TunedHyperParameters": {"eta": "0.12"},
        "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:auc", "Value": 0.502},
    }
    job.save()
    data = bob_api.get(f"{JOBS}xgb-job/").json()
    assert data["status"] == "Completed" and data["progress"] == {"completed": 3, "total": 4, "percent": 75}
    assert {c["key"]: c["value"] for c in data["counters"]}["Completed"] == 3
    best = data["best_training_job"]
    assert best["name"] == "xgb-job-003-abcdef12" and best["value"] == 0.502
    assert best["tuned_hyperparameters"] == {"eta": "0.12"}
    assert bob_api.get(best["url"]).status_code == 200
    assert data["request"] == job.request
    assert bob_api.get(data["links"]["request"]).json() == job.request
    # Job names are case-insensitive, as on the pages.
    assert bob_api.get(f"{JOBS}XGB-JOB/").json()["name"] == "xgb-job"


def test_training_jobs_come_in_cursor_pages_best_first(bob_api, make_job):
    make_job("many", children=250)
    url = f"{JOBS}many/training-jobs/"
    seen, page = [], bob_api.get(url, {"page_size": 100}).json()
    while True:
        seen += [tj["objective_value"] for tj in page["results"]]
        if not page["next"]:
            break
        page = bob_api.get(page["next"]).json()
    assert len(seen) == 250 and seen == sorted(seen, reverse=True)
    by_name = bob_api.get(url, {"sort": "name", "page_size": 5}).json()["results"]
    assert [tj["name"] for tj in by_name] == [f"many-{i:03d}-abcdef12" for i in range(1, 6)]
    assert bob_api.get(url, {"status": "Failed"}).json()["results"] == []
    assert bob_api.get(url, {"cursor": "garbage"}).status_code == 404


def test_training_job_cursors_go_both_ways_without_repeats_under_ties_and_new_rows(bob_api, make_job):
    job = make_job("tied", children=90)
    job.training_jobs.update(objective_value=0.5)  # one value for all: only the id tells them apart
    url = f"{JOBS}tied/training-jobs/"
    page = bob_api.get(url, {"page_size": 20}).json()
    assert page["previous"] is None
    forwards = [page]
    make_job("other")  # another job's rows never show
    job.training_jobs.create(name="tied-late", status="Completed", objective_value=0.5)
    while page["next"]:
        page = bob_api.get(page["next"]).json()
        forwards.append(page)
    names = [tj["name"] for p in forwards for tj in p["results"]]
    assert len(names) == len(set(names)) and len(names) in (90, 91)
    assert {f"tied-{i:03d}-abcdef12" for i in range(1, 91)} <= set(names)
    back = bob_api.get(forwards[2]["previous"]).json()
    assert back["results"] == forwards[1]["results"]
    # A cursor is of its sort: with another one it is refused, as any cursor not ours.
    cursor = parse_qs(urlsplit(forwards[1]["next"]).query)["cursor"][0]
    assert bob_api.get(url, {"cursor": cursor, "page_size": 20}).json()["results"] == forwards[2]["results"]
    assert bob_api.get(url, {"cursor": cursor, "sort": "name"}).status_code == 404


def test_a_training_job_without_an_objective_is_on_the_last_page(bob_api, make_job):
    job = make_job("nulls", children=3)
    job.training_jobs.filter(name="nulls-002-abcdef12").update(objective_value=None)
    first = bob_api.get(f"{JOBS}nulls/training-jobs/", {"page_size": 2}).json()
    rest = bob_api.get(first["next"]).json()
    names = [tj["name"] for tj in first["results"] + rest["results"]]
    assert names == ["nulls-003-abcdef12", "nulls-001-abcdef12", "nulls-002-abcdef12"]


def test_the_csv_is_the_pages_csv(bob_api, bob_client, make_job):
    make_job("csv-job", children=3)
    api = bob_api.get(f"{JOBS}csv-job/training-jobs.csv")
    page = bob_client.get("/projects/demo/hpo-jobs/csv-job/training-jobs.csv")
    assert api.status_code == 200 and api["Content-Type"].startswith("text/csv")
    assert b"".join(api.streaming_content) == b"".join(page.streaming_content)
    assert bob_api.get(f"{JOBS}csv-job/training-jobs.csv", HTTP_ACCEPT="text/csv").status_code == 200


def test_a_training_job_has_its_log_and_final_metrics(bob_api, make_job, monkeypatch):
    from hpo_jobs.backends.local import LocalBackend

    job = make_job("log-job", children=1)
    job.request["TrainingJobDefinitions"] = [{
        "DefinitionName": "d", "AlgorithmSpecification": {"TrainingImage": "img", "MetricDefinitions": [
            {"Name": "validation:auc", "Regex": "validation-auc=([0-9.]+)"}]}}]
    job.save()
    monkeypatch.setattr(LocalBackend, "get_training_job_log", lambda self, name: "round 1 validation-auc=0.61\n"
                                                                                  "round 2 validation-auc=0.75\n")
    # The metrics as the engine stored them while it followed the log (the API parses no log).
    monkeypatch.setattr(LocalBackend, "get_training_job_metrics",
                        lambda self, name, metric_definitions: {"validation:auc": [0.61, 0.75]})
    data = bob_api.get(f"{JOBS}log-job/training-jobs/log-job-001-abcdef12/").json()
    assert data["final_metrics"] == [{"name": "validation:auc", "value": 0.75, "objective": True}]
    assert data["log_tail"].endswith("validation-auc=0.75\n") and data["log_error"] == ""


def test_the_catalogue_lists_built_ins_for_the_engine_in_use(bob_api, settings):
    settings.HPO_BACKEND = "local"
    data = bob_api.get("/api/v1/catalogue/").json()
    xgboost = next(a for a in data["algorithms"] if a["key"] == "xgboost")
    assert data["backend"] == "local" and xgboost["runnable"] is True
    assert "validation:auc" in [m["name"] for m in xgboost["objective_metrics"]]
    assert "eta" in [hp["name"] for hp in xgboost["hyperparameters"]]
    assert any(not a["runnable"] for a in data["algorithms"])  # some built-ins do not run locally


# ---- create ----------------------------------------------------------------------------------------
def test_create_makes_the_job_the_import_page_would(bob_api, bob, project):
    root = data_dir()
    request = local_request(root)
    request["Tags"].append({"Key": "hpo-portal:created-by", "Value": "somebody-else"})
    response = post_json(bob_api, JOBS, {"request": request})
    assert response.status_code == 201, response.content
    job = HpoJob.objects.get()
    assert response["Location"].endswith("/api/v1/projects/demo/jobs/imported-job/")
    assert response.json()["status"] == "Pending" and job.created_by == bob
    expected = local_request(root)
    expected["TrainingJobDefinition"]["RoleArn"] = convert.LOCAL_ROLE_ARN  # the project's
    expected["TrainingJobDefinition"].update(
        EnableNetworkIsolation=False, EnableInterContainerTrafficEncryption=False, EnableManagedSpotTraining=False)
    expected["Tags"] += [{"Key": "hpo-portal:project", "Value": "demo"}, {"Key": "hpo-portal:created-by", "Value": "bob"}]
    assert job.request == expected


def test_create_takes_a_new_name(bob_api, make_job):
    make_job("imported-job")
    refused = post_json(bob_api, JOBS, {"request": local_request(data_dir())})
    assert refused.status_code == 422
    assert any(e["path"] == "request.HyperParameterTuningJobName" for e in refused.json()["errors"])
    response = post_json(bob_api, JOBS, {"request": local_request(data_dir()), "name": "imported-again"})
    assert response.status_code == 201 and response.json()["name"] == "imported-again"


def test_a_retried_create_with_the_same_key_makes_one_job(bob_api):
    body = {"request": local_request(data_dir())}
    first = post_json(bob_api, JOBS, body, **{"Idempotency-Key": "run-42"})
    again = post_json(bob_api, JOBS, body, **{"Idempotency-Key": "run-42"})
    assert first.status_code == again.status_code == 201
    assert first["Location"] == again["Location"] and HpoJob.objects.count() == 1
    # The same key in the body, as client_token, is the same key.
    assert post_json(bob_api, JOBS, {**body, "client_token": "run-42"}).status_code == 201
    assert HpoJob.objects.count() == 1
    other = copy.deepcopy(body)
    other["request"]["HyperParameterTuningJobName"] = "something-else"
    conflict = post_json(bob_api, JOBS, other, **{"Idempotency-Key": "run-42"})
    assert conflict.status_code == 409 and conflict["Content-Type"] == "application/problem+json"
    assert conflict.json()["type"] == "urn:hpo-portal:problem:idempotency-key-reused"
    assert HpoJob.objects.count() == 1


def test_the_same_key_of_another_user_is_another_key(bob_api, alice_api):
    body = {"request": local_request(data_dir())}
    assert post_json(bob_api, JOBS, body, **{"Idempotency-Key": "k"}).status_code == 201
    body["request"]["HyperParameterTuningJobName"] = "alices-job"
    assert post_json(alice_api, JOBS, body, **{"Idempotency-Key": "k"}).status_code == 201
    assert HpoJob.objects.count() == 2


def _hostile(kind: str) -> tuple[str, object]:
    """A request the import page refuses, as (label, request object or raw JSON text of it)."""
    request = local_request_plural(data_dir())
    definition = request["TrainingJobDefinitions"][0]
    config = request["HyperParameterTuningJobConfig"]
    text = None
    if kind in ("NaN", "Infinity", "-Infinity", "1e400"):
        text = json.dumps(request).replace('"MaxNumberOfTrainingJobs": 6', f'"MaxNumberOfTrainingJobs": {kind}')
    elif kind == "instance-count":
        definition["ResourceConfig"]["InstanceCount"] = 2**31
    elif kind == "random-seed":
        config["RandomSeed"] = 10**40
    elif kind == "volume":
        definition["ResourceConfig"]["VolumeSizeInGB"] = 2**40
    elif kind == "nul-static-value":
        definition["StaticHyperParameters"]["objective"] = "binary:logistic\x00"
    elif kind == "nul-static-name":
        definition["StaticHyperParameters"]["a\x00"] = "1"
    elif kind == "nul-content-type":
        definition["InputDataConfig"][0]["ContentType"] = "text/csv\x00"
    elif kind == "nul-output-path":
        definition["OutputDataConfig"]["S3OutputPath"] = "s3://bucket/out\x00/"
    elif kind == "eleven-grid-definitions":
        config["Strategy"] = "Grid"
        request["TrainingJobDefinitions"] = [copy.deepcopy(definition) for _ in range(11)]
    elif kind == "checkpoint":
        definition["CheckpointConfig"] = {"S3Uri": "s3://bucket/checkpoints/"}
    elif kind == "trailing-space":
        definition["StaticHyperParameters"]["objective"] = "binary:logistic "
    elif kind == "channel-outside-data-dirs":
        definition["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "/etc/"
    elif kind == "custom-image-ecr-off":
        definition["AlgorithmSpecification"] = {"TrainingImage": EXAMPLE_IMAGE, "TrainingInputMode": "File"}
    elif kind == "unknown-strategy":
        config["Strategy"] = "Magic"
    elif kind == "not-an-object":
        text = "[1, 2]"
    elif kind == "markup-name":
        request["HyperParameterTuningJobName"] = "<script>alert(1)</script>"
    return kind, text if text is not None else json.dumps(request)


HOSTILE = ["NaN", "Infinity", "-Infinity", "1e400", "instance-count", "random-seed", "volume", "nul-static-value",
           "nul-static-name", "nul-content-type", "nul-output-path", "eleven-grid-definitions", "checkpoint",
           "trailing-space", "channel-outside-data-dirs", "custom-image-ecr-off", "unknown-strategy", "not-an-object",
           "markup-name"]


@pytest.mark.parametrize("kind", HOSTILE)
def test_create_refuses_what_the_import_page_refuses_with_its_messages(kind, bob_api, bob_client, project):
    SiteSettings.objects.update_or_create(pk=1, defaults={"ecr_enabled": False})
    _label, text = _hostile(kind)
    page = bob_client.post(IMPORT_URL, {"request_json": text})
    assert page.status_code == 400
    shown = html.unescape(page.content.decode())
    response = post_json(bob_api, JOBS, '{"request": ' + text + "}")
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["type"] == "urn:hpo-portal:problem:invalid-request"
    assert problem["errors"]
    for error in problem["errors"]:
        assert error["path"].startswith("request") and error["message"] in shown, error
    assert not HpoJob.objects.exists()


@pytest.mark.parametrize("text,message", [
    ("[" * 100_000 + "]" * 100_000, "This is not JSON the portal can read"),
    ('{"request": ' + '{"a":' * 5_000 + "1" + "}" * 5_000 + "}", "This is not JSON the portal can read"),
    ('{"request": {"HyperParameterTuningJobName": ' + "9" * 5_000 + "}}", "This is not JSON the portal can read"),
    ("{not json", "This is not valid JSON"),
    ('{"request": "' + "x" * 1_100_000 + '"}', "The request is larger than 1000 kB."),
    ("[1]", "The body must be a JSON object"),
])
def test_a_body_that_is_not_a_json_object_is_a_bad_request(bob_api, project, text, message):
    response = post_json(bob_api, JOBS, text)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert message in response.json()["detail"]
    assert not HpoJob.objects.exists()


def test_a_body_without_a_request_says_which_field(bob_api, project):
    response = post_json(bob_api, JOBS, {"name": "x"})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "request", "message": "This field is required."}]


# ---- stop and clone --------------------------------------------------------------------------------
def test_stop_follows_the_pages_rules(alice_api, bob_api, make_job):
    make_job("running", status="InProgress", launch_attempts=1)
    assert post_json(bob_api, f"{JOBS}running/stop/", {}).status_code == 403  # alice created it
    response = post_json(alice_api, f"{JOBS}running/stop/", {})
    assert response.status_code == 202 and response.json()["status"] == "Stopping"
    assert post_json(alice_api, f"{JOBS}running/stop/", {}).status_code == 202  # already stopping
    make_job("done", status="Completed")
    ended = post_json(alice_api, f"{JOBS}done/stop/", {})
    assert ended.status_code == 409 and "already ended" in ended.json()["detail"]


def test_clone_returns_a_request_to_edit_under_a_free_name(bob_api, project):
    created = post_json(bob_api, JOBS, {"request": local_request(data_dir())})
    clone = bob_api.get(created.json()["links"]["clone"]).json()
    assert clone["name"] == "imported-job-copy"
    assert clone["request"]["HyperParameterTuningJobName"] == "imported-job-copy"
    assert post_json(bob_api, JOBS, {"request": clone["request"]}).status_code == 201


# ---- errors and tokens -----------------------------------------------------------------------------
def test_errors_are_problem_details(bob_api, project):
    response = bob_api.get(f"{JOBS}no-such-job/")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
    assert response.json() == {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "No such HPO job"}
    assert bob_api.get("/api/v1/no/such/route/").json()["status"] == 404


@pytest.mark.parametrize("header,message", [
    ("Bearer hpo_000000000000_nothing", "This API token is not valid."),
    ("Bearer not-a-token", "This API token is not valid."),
    ("Bearer", "The Authorization header must read: Bearer <token>."),
])
def test_a_bad_token_is_401_with_a_reason(header, message, project):
    response = Client(HTTP_AUTHORIZATION=header).get("/api/v1/projects/")
    assert response.status_code == 401 and response.json()["detail"] == message
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_or_revoked_token_is_refused(bob, project):
    expired = token_client(bob, expires_at=timezone.now() - timedelta(seconds=1))
    assert expired.get("/api/v1/projects/").json()["detail"] == "This API token has expired; create a new one."
    revoked = token_client(bob, revoked_at=timezone.now())
    assert revoked.get("/api/v1/projects/").json()["detail"] == "This API token has been revoked."


def test_a_token_is_stored_hashed_and_records_its_use(bob, project):
    token, text = ApiToken.issue(bob, "laptop", 30)
    assert text.startswith(f"hpo_{token.key_id}_") and text not in token.digest
    assert not ApiToken.objects.filter(digest__contains=text.split("_", 2)[2]).exists()
    assert Client(HTTP_AUTHORIZATION=f"Bearer {text}").get("/api/v1/projects/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert abs((token.expires_at - timezone.now()) - timedelta(days=30)) < timedelta(minutes=1)


def test_the_session_works_for_the_browser_with_csrf(bob, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    assert client.get("/api/v1/projects/").status_code == 200
    refused = post_json(client, JOBS, {"request": local_request(data_dir())})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    client.get("/account/tokens/")  # sets the CSRF cookie
    response = post_json(client, JOBS, {"request": local_request(data_dir())},
                         **{"X-CSRFToken": client.cookies["csrftoken"].value})
    assert response.status_code == 201


def test_the_schema_and_the_docs_are_served_by_the_portal(anon_client):
    schema = anon_client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200 and "/api/v1/projects/{slug}/jobs/" in schema.json()["paths"]
    docs = anon_client.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in docs and "cdn" not in docs.lower() and "/static/drf_spectacular_sidecar/" in docs


def test_the_readmes_example_request_is_accepted(bob_api, settings):
    """examples/api/xgb-request.json, with @DATA@ set to a folder of the demo's datasets, as the README does."""
    from pathlib import Path

    from hpo_jobs.local_engine.demo_data import write_demo_datasets

    # Not the demo's own folder: the wizard offers that one by default, which other tests rely on not existing.
    from hpo_jobs.backends import get_backend

    root = get_backend("local").data_folders("demo")[0] / "readme-example"
    write_demo_datasets(root)
    text = (Path(settings.BASE_DIR) / "examples" / "api" / "xgb-request.json").read_text()
    response = post_json(bob_api, JOBS, '{"request": ' + text.replace("@DATA@", str(root.resolve())) + "}")
    assert response.status_code == 201, response.content


def test_a_job_carries_what_its_definitions_and_configuration_tabs_show(bob_api, make_job):
    from hpo_jobs.pages import presenters

    job = make_job("shown-job", children=1)
    data = bob_api.get(f"{JOBS}shown-job/").json()
    assert data["configuration"] == json.loads(json.dumps(presenters.present_request(job.request)))
    assert [d["name"] for d in data["configuration"]["definitions"]] == [
        d["name"] for d in presenters.present_definitions(job.request)]
