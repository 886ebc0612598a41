"""Adversarial inputs, personas and paths: never a server error, never a half-saved job, never a leak."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from hpo_jobs.models import HpoJob

from .factories import local_request
from .wizard_helpers import WizardPage, data_dir, fill_channels, start

pytestmark = pytest.mark.django_db

IMPORT_URL = "/projects/demo/hpo-jobs/import/"


# ---- import: odd JSON ------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 5_000 + "1" + "}" * 5_000,
    '{"HyperParameterTuningJobName": ' + "9" * 5_000 + "}",
], ids=["deep-array", "deep-object", "5000-digit-integer"])
def test_import_of_json_python_cannot_read_is_a_message_next_to_the_field(bob_client, project, text):
    response = bob_client.post(IMPORT_URL, {"request_json": text})
    assert response.status_code == 400
    assert "This is not JSON the portal can read" in response.content.decode()
    assert not HpoJob.objects.exists()


def test_an_uploaded_deeply_nested_file_is_a_message_next_to_the_upload(bob_client, project):
    upload = SimpleUploadedFile("deep.json", b"[" * 100_000 + b"]" * 100_000)
    response = bob_client.post(IMPORT_URL, {"request_file": upload})
    assert response.status_code == 400
    assert "This is not JSON the portal can read" in response.content.decode()


@pytest.mark.parametrize("text", ["[1, 2]", '"text"', "3", "null", "NaN"])
def test_import_of_json_that_is_not_an_object_says_so(bob_client, project, text):
    response = bob_client.post(IMPORT_URL, {"request_json": text})
    assert response.status_code == 400
    assert "The request must be a JSON object" in response.content.decode()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_import_with_non_finite_numbers_is_refused_with_a_reason(bob_client, project, literal):
    text = json.dumps(local_request(data_dir())).replace('"MaxNumberOfTrainingJobs": 6',
                                                          f'"MaxNumberOfTrainingJobs": {literal}')
    response = bob_client.post(IMPORT_URL, {"request_json": text})
    assert response.status_code == 400
    assert "MaxNumberOfTrainingJobs" in response.content.decode()
    assert not HpoJob.objects.exists()


# ---- the wizard: tampered posts ---------------------------------------------------------------------
def _management_field(page) -> str:
    return next(name for name, _ in page.fields if name.endswith("-current_step"))


@pytest.mark.parametrize("step", ["zzz", ["job", "zzz"]], ids=["unknown-step", "two-values"])
def test_a_tampered_current_step_is_a_bad_request_not_a_server_error(bob_client, project, step):
    page = start(bob_client)
    response = bob_client.post(page.action, {**dict(page.fields), _management_field(page): step})
    assert response.status_code == 400
    # The run is intact: the page still opens at its step.
    assert WizardPage(bob_client, bob_client.get(page.action)).step == "job"


def test_a_missing_management_form_is_a_bad_request(bob_client, project):
    page = start(bob_client)
    data = {name: value for name, value in page.fields if not name.endswith("-current_step")}
    assert bob_client.post(page.action, data).status_code == 400


def test_tampered_drafts_json_never_fails_the_page(bob_client, project):
    page = start(bob_client).next(job__name="qa-drafts")
    assert page.step == "definitions"
    for drafts in ("[" * 100_000 + "]" * 100_000, "[" + "9" * 5_000 + "]", "zz", '{"a": 1}',
                   '[1, "x", null, {"fields": [1], "hyperparameters": {"a": 1}}]',
                   '[{"fields": {"name": 5, "algorithm": ["x"]}, "hyperparameters": [1, {"name": {}}]}]'):
        after = page.next({"definitions-drafts": drafts})
        assert after.status == 200, drafts[:40]
    assert not HpoJob.objects.exists()


@pytest.mark.parametrize("total", ["100000", "-5", "abc", "9" * 5_000, None])
def test_tampered_row_counts_never_fail_the_page(bob_client, project, total):
    page = start(bob_client).next(job__name="qa-rows")
    after = page.next({"def-hp-TOTAL_FORMS": total, "def-ch-TOTAL_FORMS": total, "def-md-TOTAL_FORMS": total})
    assert after.status == 200 and after.step == "definitions"


# ---- job names in URLs -------------------------------------------------------------------------------
@pytest.mark.parametrize("written", ["job-a", "JOB-A", "Job-A"])
def test_every_page_of_a_job_answers_to_its_name_in_any_case(bob_client, project, make_job, written):
    make_job("job-a", children=1)
    base = f"/projects/demo/hpo-jobs/{written}/"
    for suffix in ("", "request.json", "training-jobs.csv", "parts/header/", "clone/"):
        assert bob_client.get(base + suffix).status_code == 200, suffix
    page = WizardPage(bob_client, bob_client.get(base + "clone/"))
    assert page.value("job-name") == "job-a-copy"


@pytest.mark.parametrize("name", ["job%20a", "%00", "x" * 300, "job-a.json", "%C3%BC", "job-a%2F.."])
def test_odd_job_names_in_urls_are_not_found(bob_client, project, make_job, name):
    make_job("job-a", children=1)
    for suffix in ("", "request.json", "training-jobs.csv", "parts/header/", "clone/", "training-jobs/job-a-001-abcdef12/"):
        assert bob_client.get(f"/projects/demo/hpo-jobs/{name}/{suffix}").status_code == 404, suffix


# ---- methods -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_the_import_page_answers_only_get_and_post(bob_client, project, method):
    assert getattr(bob_client, method)(IMPORT_URL).status_code == 405
    assert bob_client.get(IMPORT_URL).status_code == 200


# ---- project pages -------------------------------------------------------------------------------------
def test_adding_a_member_when_two_usernames_differ_only_in_case(alice_client, project, make_user):
    upper, lower = make_user("Carol"), make_user("carol")
    response = alice_client.post("/projects/demo/members/add/", {"username": "carol", "role": "member"})
    assert response.status_code == 302
    assert project.memberships.filter(user=lower).exists() and not project.memberships.filter(user=upper).exists()
    # A spelling that matches both, and neither exactly, is a message next to the field.
    response = alice_client.post("/projects/demo/members/add/", {"username": "CAROL", "role": "member"})
    assert response.status_code == 400
    assert "Carol" in response.content.decode() and not project.memberships.filter(user=upper).exists()


@pytest.mark.parametrize("action", ["role", "remove"])
def test_a_member_id_too_large_for_the_database_is_not_found(alice_client, project, action):
    response = alice_client.post(f"/projects/demo/members/{'9' * 30}/{action}/", {"role": "owner"})
    assert response.status_code == 404


def test_a_project_cannot_take_the_address_of_the_new_project_page(alice_client, alice):
    from projects.models import Project

    response = alice_client.post("/projects/new/", {"name": "New", "slug": ""})
    assert response.status_code == 200 and not Project.objects.filter(slug="new").exists()
    assert "choose another" in response.content.decode()
    response = alice_client.post("/projects/new/", {"name": "Whatever", "slug": "new"})
    assert not Project.objects.filter(slug="new").exists()


def test_staff_outside_a_project_read_it_but_create_no_job_there(admin_client_, project, make_job):
    make_job("job-a", children=1)
    for url in ("/projects/demo/", "/projects/demo/hpo-jobs/", "/projects/demo/hpo-jobs/job-a/",
                "/projects/demo/hpo-jobs/job-a/training-jobs.csv", "/projects/demo/hpo-jobs/job-a/parts/overview/"):
        assert admin_client_.get(url).status_code == 200, url
    for url in ("/projects/demo/hpo-jobs/create/", "/projects/demo/hpo-jobs/import/", "/projects/demo/hpo-jobs/job-a/clone/"):
        assert admin_client_.get(url).status_code == 403, url
        assert admin_client_.post(url, {"request_json": "{}"}).status_code == 403, url
    assert HpoJob.objects.count() == 1


# ---- import: numbers beyond what SageMaker reads ----------------------------------------------------------
@pytest.mark.parametrize("where", ["instance-count", "random-seed", "volume"])
def test_an_integer_beyond_32_bits_is_refused_at_import_with_its_field(bob_client, project, where):
    request = local_request(data_dir())
    definition = request["TrainingJobDefinition"]
    if where == "instance-count":
        definition["ResourceConfig"]["InstanceCount"], field = 2**31, "InstanceCount"
    elif where == "random-seed":
        request["HyperParameterTuningJobConfig"]["RandomSeed"], field = 10**40, "RandomSeed"
    else:
        definition["ResourceConfig"]["VolumeSizeInGB"], field = 2**40, "VolumeSizeInGB"
    response = bob_client.post(IMPORT_URL, {"request_json": json.dumps(request)})
    assert response.status_code == 400
    assert field in response.content.decode() and "2147483647" in response.content.decode()


# ---- the wizard: runs and steps out of order ----------------------------------------------------------------
def test_another_users_run_token_opens_nothing_of_that_run(bob_client, alice_client, project):
    page = start(bob_client).next(job__name="bobs-secret-name")
    assert page.step == "definitions"
    theirs = WizardPage(alice_client, alice_client.get(page.action))
    assert theirs.status == 200 and theirs.step == "job"
    assert "bobs-secret-name" not in theirs.html
    # And posting to it with Bob's page gets Alice nothing of Bob's either, and creates nothing.
    response = alice_client.post(page.action, {**dict(page.fields), "wizard_create": "1"})
    assert response.status_code in (200, 302) and "bobs-secret-name" not in response.content.decode()
    assert not HpoJob.objects.exists()


@pytest.mark.parametrize("token", ["<script>", "a" * 64, "a" * 65, "", "%00"])
def test_a_garbage_run_token_starts_a_new_run(bob_client, project, token):
    response = bob_client.get(f"/projects/demo/hpo-jobs/create/?run={token}")
    assert response.status_code == 200
    assert "<script>" not in response.content.decode().split("<body", 1)[-1].replace("&lt;script&gt;", "")
    response = bob_client.post(f"/projects/demo/hpo-jobs/create/?run={token}", {"wizard_create": "1"})
    assert response.status_code in (302, 400)
    assert not HpoJob.objects.exists()


def test_pressing_create_from_a_forged_review_step_creates_nothing(bob_client, project):
    page = start(bob_client)
    response = bob_client.post(page.action, {**dict(page.fields), _management_field(page): "review",
                                             "wizard_create": "1"})
    assert response.status_code == 200
    after = WizardPage(bob_client, response)
    assert after.errors(), "the review shows what is missing"
    assert not HpoJob.objects.exists()


@pytest.mark.parametrize("goto", ["zzz", "definitions:99", "definitions:-1", "definitions:" + "9" * 5000, "definitions:²", "review", ":"])
def test_goto_any_step_value_never_fails(bob_client, project, goto):
    page = start(bob_client)
    response = bob_client.post(page.action, {**dict(page.fields), "wizard_goto_step": goto})
    assert response.status_code == 200
    assert not HpoJob.objects.exists()


@pytest.mark.parametrize("where", ["static-value", "static-name", "content-type", "output-path"])
def test_a_null_character_is_refused_at_import_where_it_is(bob_client, project, where):
    """The wizard's fields refuse NUL (and PostgreSQL cannot store it in JSON): the import says so, at its path."""
    request = local_request(data_dir())
    definition = request["TrainingJobDefinition"]
    if where == "static-value":
        definition["StaticHyperParameters"]["objective"], field = "binary:logistic\x00", "StaticHyperParameters"
    elif where == "static-name":
        definition["StaticHyperParameters"]["a\x00"], field = "1", "StaticHyperParameters"
    elif where == "content-type":
        definition["InputDataConfig"][0]["ContentType"], field = "text/csv\x00", "ContentType"
    else:
        definition["OutputDataConfig"]["S3OutputPath"], field = "s3://bucket/out\x00/", "S3OutputPath"
    response = bob_client.post(IMPORT_URL, {"request_json": json.dumps(request)})
    assert response.status_code == 400
    text = response.content.decode()
    assert field in text and "null character" in text


def test_a_paste_too_large_for_a_form_gets_a_page_that_says_what_to_do(bob_client, project):
    response = bob_client.post(IMPORT_URL, {"request_json": "x" * 10_000_000})
    assert response.status_code == 400
    assert "can be at most 1 MB" in response.content.decode()
    assert not HpoJob.objects.exists()


def test_a_tampered_hidden_direction_of_a_builtin_metric_does_not_stall_the_step(bob_client, project):
    """A built-in metric's direction is a hidden field: a bad value there cannot be shown, so it must not block."""
    root = data_dir()
    page = start(bob_client).next(job__name="qa-direction")
    page = page.next({**fill_channels(page, root), "def-objective_metric": "validation:auc", "def-objective_type": "zz"})
    assert page.step == "resources", page.errors()
    review = page.next()
    assert review.request_json()["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize", "MetricName": "validation:auc"}


# ---- job pages: query parameters nobody wrote down ------------------------------------------------------------
ODD_QUERIES = ["sort=garbage", "sort=-", "page=-1", "page=0", "page=abc", "page=999999", "page=" + "9" * 5_000,
               "page=1e3", "status=%3Cscript%3E", "q=%25", "q=_", "q=" + "x" * 10_000, "q=%00", "q=%ED%A0%80",
               "tab=zzz", "definition=zz", "q=a&q=b"]


@pytest.mark.parametrize("query", ODD_QUERIES)
def test_odd_query_parameters_never_fail_a_job_page(bob_client, project, make_job, query):
    make_job("job-a", children=3)
    for url in ("/projects/demo/hpo-jobs/?", "/projects/demo/hpo-jobs/job-a/?tab=training-jobs&",
                "/projects/demo/hpo-jobs/job-a/parts/training-jobs/?", "/projects/demo/hpo-jobs/job-a/parts/header/?"):
        response = bob_client.get(url + query)
        assert response.status_code == 200, url
        assert "<script>" not in response.content.decode().split("</head>", 1)[-1]
