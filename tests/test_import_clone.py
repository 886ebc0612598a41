"""Import a CreateHyperParameterTuningJob request, clone a job, and the round trip underneath both:
a request the wizard produced comes back into the wizard exactly as it was."""

from __future__ import annotations

import copy
import json

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.datastructures import MultiValueDict
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from hpo_jobs.backends import get_backend
from hpo_jobs.sagemaker import catalogue, spec
from hpo_jobs.wizard import convert
from hpo_jobs.wizard.forms import DefinitionsStepForm, JobSettingsForm, TuningResourcesForm, WizardOptions
from hpo_jobs.models import HpoJob, SiteSettings
from hpo_jobs.wizard.views import seed_data
from projects.models import Project

from .factories import EXAMPLE_IMAGE, local_request, local_request_plural
from .wizard_helpers import WizardPage, data_dir, fill_channels, import_, start

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def problems_of(response) -> str:
    return response.content.decode()


# ---- import ----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_valid_request_opens_the_wizard_at_review_and_creates_that_job(bob_client, bob, project):
    root = data_dir()
    response = import_(bob_client, local_request(root))
    assert response.status_code == 302 and "/hpo-jobs/create/?run=" in response["Location"]
    page = WizardPage(bob_client, bob_client.get(response["Location"]))
    assert page.step == "review"
    shown = page.request_json()
    expected = local_request(root)
    expected["TrainingJobDefinition"]["RoleArn"] = convert.LOCAL_ROLE_ARN  # the project's, not the request's
    # The wizard states the defaults it sends.
    expected["TrainingJobDefinition"].update(
        EnableNetworkIsolation=False, EnableInterContainerTrafficEncryption=False, EnableManagedSpotTraining=False)
    expected["Tags"] += [{"Key": "hpo-portal:project", "Value": "demo"}, {"Key": "hpo-portal:created-by", "Value": "bob"}]
    assert shown == expected
    assert "The execution role in the request is not used" in page.html
    page.submit()
    job = HpoJob.objects.get(name="imported-job")
    assert job.request == shown and job.created_by == bob


@pytest.mark.django_db
def test_the_imported_wizard_can_be_edited_before_creating(bob_client, project):
    root = data_dir()
    page = WizardPage(bob_client, bob_client.get(import_(bob_client, local_request(root))["Location"]))
    page = page.goto("definitions:0")
    assert page.step == "definitions" and page.value("def-name") == "imported-job-def"
    assert page.value(f"def-hp-{page.hp_index('max_depth')}-max") == "8"
    page = page.next({f"def-hp-{page.hp_index('max_depth')}-max": "6"}).next()
    ranges = page.request_json()["HyperParameterTuningJobConfig"]["ParameterRanges"]["IntegerParameterRanges"]
    assert ranges == [{"Name": "max_depth", "MinValue": "2", "MaxValue": "6", "ScalingType": "Linear"}]


@pytest.mark.django_db
def test_one_definition_in_the_multi_algorithm_form_is_sent_in_the_single_algorithm_form(bob_client, project):
    root = data_dir()
    request = local_request_plural(root)
    response = import_(bob_client, request)
    assert response.status_code == 302, problems_of(response)
    page = WizardPage(bob_client, bob_client.get(response["Location"]))
    assert "the portal sends one definition as TrainingJobDefinition" in page.html
    shown = page.request_json()
    assert "TrainingJobDefinitions" not in shown
    only = shown["TrainingJobDefinition"]
    assert "DefinitionName" not in only and "TuningObjective" not in only and "HyperParameterRanges" not in only
    config = shown["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:auc"}
    assert config["ParameterRanges"] == request["TrainingJobDefinitions"][0]["HyperParameterRanges"]
    # The definition's name stays the wizard's label for it.
    assert page.goto("definitions:0").value("def-name") == "xgb"


@pytest.mark.django_db
def test_the_read_only_fields_of_a_describe_output_are_ignored(bob_client, project):
    root = data_dir()
    described = local_request(root)
    described.update({
        "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/x",
        "HyperParameterTuningJobStatus": "Completed",
        "CreationTime": "2025-01-01T10:00:00Z",
        "TrainingJobStatusCounters": {"Completed": 6},
        "BestTrainingJob": {"TrainingJobName": "x-001"},
    })
    response = import_(bob_client, described)
    assert response.status_code == 302, problems_of(response)


@pytest.mark.django_db
def test_the_role_vpc_and_portal_tags_of_a_request_are_replaced_by_the_projects(bob_client, project):
    project.sagemaker_role_arn = "arn:aws:iam::123456789012:role/ProjectRole"
    project.save()
    root = data_dir()
    request = local_request(root)
    request["TrainingJobDefinition"]["VpcConfig"] = {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
    request["Tags"].append({"Key": "hpo-portal:created-by", "Value": "somebody-else"})
    page = WizardPage(bob_client, bob_client.get(import_(bob_client, request)["Location"]))
    shown = page.request_json()
    assert shown["TrainingJobDefinition"]["RoleArn"] == "arn:aws:iam::123456789012:role/ProjectRole"
    assert "VpcConfig" not in shown["TrainingJobDefinition"]
    assert {"Key": "hpo-portal:created-by", "Value": "bob"} in shown["Tags"]
    assert {"Key": "hpo-portal:created-by", "Value": "somebody-else"} not in shown["Tags"]


@pytest.mark.django_db
@pytest.mark.parametrize("text,message", [
    ("", "Paste a request or upload a JSON file."),
    ("{not json", "This is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2."),
    ("[1, 2]", "The request must be a JSON object ({ ... })."),
])
def test_it_explains_what_is_not_a_request(bob_client, project, text, message):
    response = import_(bob_client, text)
    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'").replace("&quot;", '"')


@pytest.mark.django_db
def test_every_broken_rule_is_listed(bob_client, project):
    root = data_dir()
    request = local_request_plural(root)
    request["HyperParameterTuningJobConfig"]["Strategy"] = "Grid"
    request["TrainingJobDefinitions"] = [copy.deepcopy(request["TrainingJobDefinitions"][0]) for _ in range(11)]
    response = import_(bob_client, request)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Grid search takes categorical ranges only" in page
    assert "can have at most 10 items (got 11)" in page
    assert "is already used by" in page  # eleven definitions named xgb
    assert not HpoJob.objects.exists()


@pytest.mark.django_db
def test_members_the_wizard_cannot_carry_are_listed_not_dropped(bob_client, project):
    root = data_dir()
    request = local_request(root)
    definition = request["TrainingJobDefinition"]
    definition["ResourceConfig"]["KeepAlivePeriodInSeconds"] = 600  # warm pools of single training jobs
    response = import_(bob_client, request)
    assert response.status_code == 400
    assert "does not support KeepAlivePeriodInSeconds" in response.content.decode()


@pytest.mark.django_db
def test_text_the_wizard_would_change_is_listed(bob_client, project):
    root = data_dir()
    request = local_request(root)
    request["TrainingJobDefinition"]["StaticHyperParameters"]["eval_metric"] = "auc "  # free text, unlike objective
    response = import_(bob_client, request)
    assert response.status_code == 400
    assert "starts or ends with spaces" in response.content.decode()


@pytest.mark.django_db
def test_a_custom_image_is_refused_when_ecr_access_is_off(bob_client, project):
    SiteSettings.objects.update_or_create(pk=1, defaults={"ecr_enabled": False})
    root = data_dir()
    request = local_request(root)
    definition, config = request["TrainingJobDefinition"], request["HyperParameterTuningJobConfig"]
    definition["AlgorithmSpecification"] = {
        "TrainingImage": EXAMPLE_IMAGE, "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "validation:accuracy", "Regex": "validation_accuracy=([0-9.]+)"}],
    }
    config["HyperParameterTuningJobObjective"]["MetricName"] = "validation:accuracy"
    definition["StaticHyperParameters"] = {"epochs": "5"}
    config["ParameterRanges"] = {"ContinuousParameterRanges": [
        {"Name": "learning_rate", "MinValue": "0.001", "MaxValue": "0.1", "ScalingType": "Logarithmic"}]}
    response = import_(bob_client, request)
    assert response.status_code == 400
    assert "Custom algorithm images are turned off on this portal" in response.content.decode()
    # With ECR access on, the same request imports.
    SiteSettings.objects.filter(pk=1).update(ecr_enabled=True)
    response = import_(bob_client, request)
    assert response.status_code == 302, problems_of(response)
    page = WizardPage(bob_client, bob_client.get(response["Location"]))
    assert page.request_json()["TrainingJobDefinition"]["AlgorithmSpecification"] == definition["AlgorithmSpecification"]


@pytest.mark.django_db
def test_a_taken_name_is_listed_and_a_new_name_fixes_it(bob_client, project, make_job):
    root = data_dir()
    make_job("imported-job")
    response = import_(bob_client, local_request(root))
    assert response.status_code == 400
    assert "is already used by another tuning job" in response.content.decode()
    response = import_(bob_client, local_request(root), name="imported-again")
    assert response.status_code == 302
    page = WizardPage(bob_client, bob_client.get(response["Location"]))
    assert page.request_json()["HyperParameterTuningJobName"] == "imported-again"


@pytest.mark.django_db
def test_a_request_can_be_uploaded(bob_client, project):
    root = data_dir()
    upload = SimpleUploadedFile("request.json", json.dumps(local_request(root)).encode(), "application/json")
    response = bob_client.post("/projects/demo/hpo-jobs/import/", {"request_file": upload})
    assert response.status_code == 302


@pytest.mark.django_db
def test_the_import_page_is_for_members(persona_clients, project):
    assert persona_clients["member"].get("/projects/demo/hpo-jobs/import/").status_code == 200
    assert persona_clients["outsider"].post("/projects/demo/hpo-jobs/import/", {"request_json": "{}"}).status_code == 404
    assert persona_clients["admin"].post("/projects/demo/hpo-jobs/import/", {"request_json": "{}"}).status_code == 403


# ---- clone -----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_clone_opens_the_wizard_filled_in_under_a_new_free_name(bob_client, bob, alice, project, make_job):
    root = data_dir()
    original = local_request(root, name="original")
    original = convert.apply_project_policy(original, project, alice)
    original["TrainingJobDefinition"]["RoleArn"] = convert.LOCAL_ROLE_ARN
    make_job("original", request=original, status=HpoJob.Status.COMPLETED)
    make_job("original-copy")  # taken: the clone is named original-copy-2
    response = bob_client.get("/projects/demo/hpo-jobs/original/clone/")
    assert response.status_code == 200
    page = WizardPage(bob_client, response)
    assert page.step == "job" and page.value("job-name") == "original-copy-2"
    assert "/hpo-jobs/create/?run=" in page.action
    page = page.next().next().next()
    assert page.step == "review", page.errors()
    shown = page.request_json()
    expected = copy.deepcopy(original)
    expected["HyperParameterTuningJobName"] = "original-copy-2"
    expected["TrainingJobDefinition"].update(
        EnableNetworkIsolation=False, EnableInterContainerTrafficEncryption=False, EnableManagedSpotTraining=False)
    expected["Tags"] = [{"Key": "team", "Value": "fraud"}, {"Key": "hpo-portal:project", "Value": "demo"},
                        {"Key": "hpo-portal:created-by", "Value": "bob"}]
    assert shown == expected
    page.submit()
    assert HpoJob.objects.get(name="original-copy-2").created_by == bob


@pytest.mark.django_db
def test_a_job_of_another_project_cannot_be_cloned(bob_client, project, make_job, make_user):
    other = Project.objects.create(name="Other", slug="other")
    make_job("elsewhere", project_=other)
    assert bob_client.get("/projects/other/hpo-jobs/elsewhere/clone/").status_code == 404
    assert bob_client.get("/projects/demo/hpo-jobs/elsewhere/clone/").status_code == 404


# ---- the round trip under import and clone --------------------------------------------------------
@pytest.mark.django_db
def test_a_one_definition_job_of_the_wizard_comes_back_unchanged_through_import_and_clone(bob_client, project):
    import botocore.session
    import botocore.validate

    root = data_dir()
    page = start(bob_client).next(job__name="one-def", job__strategy="Random")
    page = page.next({**fill_channels(page, root), "def-objective_metric": "validation:auc",
                      f"def-hp-{page.hp_index('objective')}-value": "binary:logistic"})
    page = page.next()
    assert page.step == "review", page.errors()
    page.submit()
    job = HpoJob.objects.get(name="one-def")
    request = job.request
    # The single-algorithm form, which botocore and SageMaker's rules accept as it is.
    assert "TrainingJobDefinition" in request and "TrainingJobDefinitions" not in request
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model(
        "CreateHyperParameterTuningJob").input_shape
    report = botocore.validate.ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    options = WizardOptions.for_project(project, job.created_by)
    assert spec.validate_request(request, options.validation_context()) == []

    def renamed(name: str) -> dict:
        return {**copy.deepcopy(request), "HyperParameterTuningJobName": name}

    imported = WizardPage(bob_client, bob_client.get(import_(bob_client, request, name="one-def-imported")["Location"]))
    assert imported.step == "review", imported.errors()
    assert imported.request_json() == renamed("one-def-imported")

    cloned = WizardPage(bob_client, bob_client.get("/projects/demo/hpo-jobs/one-def/clone/"))
    cloned = cloned.next().next().next()
    assert cloned.step == "review", cloned.errors()
    assert cloned.request_json() == renamed("one-def-copy")


REGION = "us-east-1"
INSTANCE_TYPES = ["ml.m5.large", "ml.c5.xlarge"]
PARENTS = ["parent-a", "parent-b"]
TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._:/-", min_size=1, max_size=12)
NAME = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
NUMBER = st.one_of(st.integers(-1000, 1000).map(str), st.floats(-100, 100, allow_nan=False).map(lambda f: f"{f:.4g}"))
CATEGORY = st.text(alphabet='abc ,"', min_size=1, max_size=6).map(str.strip).filter(bool)


def _options() -> WizardOptions:
    project = Project(name="Demo", slug="demo")
    return WizardOptions(project=project, user=User(username="bob"), engine=get_backend("sagemaker"), region=REGION,
                         instance_types=INSTANCE_TYPES, ecr_enabled=True, ecr_allowed=[],
                         warm_start_parents=[(name, name) for name in PARENTS])


@st.composite
def hyperparameter(draw, algorithm: catalogue.Algorithm | None, name: str) -> dict:
    spec_ = algorithm.hyperparameter(name) if algorithm else None
    kinds = list(spec_.allowed_types) if spec_ else list(catalogue.PARAMETER_TYPES)
    if spec_ is None or spec_.tunable_as():
        kinds.append("Auto")  # Autotune chooses the range, from an example value
    kind = draw(st.sampled_from(kinds))
    row = {"name": name, "kind": kind, "value": None, "min": None, "max": None, "scaling": "Auto", "values": []}
    if kind == "Auto":
        row["value"] = draw(TEXT)
    elif kind == "Static":
        row["value"] = draw(TEXT)
    elif kind == "Categorical":
        row["values"] = draw(st.lists(CATEGORY, min_size=1, max_size=4, unique=True))
    else:
        row.update(min=draw(NUMBER), max=draw(NUMBER), scaling=draw(st.sampled_from(catalogue.SCALING_TYPES)))
    return row


@st.composite
def channel_values(draw, name: str) -> dict:
    common = {
        "name": name, "shuffle_seed": draw(st.none() | st.integers(0, 2**40)),
        "content_type": draw(st.sampled_from(["", "text/csv"])), "compression": draw(st.sampled_from(["None", "Gzip"])),
        "record_wrapper": draw(st.sampled_from(["None", "RecordIO"])), "input_mode": draw(st.sampled_from(["", "File", "Pipe"])),
    }
    if draw(st.booleans()):  # a directory of an EFS or FSx for Lustre file system
        return {**common, "data_source": "FileSystemDataSource", "uri": f"/fsx/{name}", "s3_data_type": "S3Prefix",
                "distribution": "", "attribute_names": [],
                "file_system_id": draw(st.from_regex(r"fs-[0-9a-f]{8,17}", fullmatch=True)),
                "file_system_type": draw(st.sampled_from(["EFS", "FSxLustre"])),
                "file_system_access_mode": draw(st.sampled_from(["ro", "rw"]))}
    return {
        **common, "data_source": "S3DataSource", "uri": f"/data/{name}",
        "s3_data_type": draw(st.sampled_from(["S3Prefix", "ManifestFile", "AugmentedManifestFile"])),
        "attribute_names": draw(st.lists(NAME, unique=True, max_size=3)),
        "distribution": draw(st.sampled_from(["", "FullyReplicated", "ShardedByS3Key"])),
    }


@st.composite
def definition(draw, name: str) -> dict:
    builtin = draw(st.booleans())
    channel_names = draw(st.lists(NAME, min_size=1, max_size=3, unique=True))
    values = {
        "name": name, "input_mode": draw(st.sampled_from(["File", "Pipe", "FastFile"])),
        "channels": [draw(channel_values(channel)) for channel in channel_names],
        "output_path": "s3://bucket/out/", "instance_type": draw(st.sampled_from(INSTANCE_TYPES)),
        "instance_count": draw(st.integers(1, 4)), "volume_size": draw(st.integers(1, 100)),
        "max_runtime": draw(st.integers(1, 100_000)), "use_spot": draw(st.booleans()),
        "network_isolation": draw(st.booleans()), "inter_container_encryption": draw(st.booleans()),
    }
    values["max_wait"] = draw(st.integers(1, 200_000)) if values["use_spot"] else None
    if draw(st.booleans()):  # an instance pool instead of one instance type
        values.update(resource_kind="pool", instance_type="", instance_count=None, volume_size=None,
                      instance_configs=[{"instance_type": draw(st.sampled_from(INSTANCE_TYPES)),
                                         "instance_count": draw(st.integers(1, 4)),
                                         "volume_size": draw(st.integers(1, 100))}
                                        for _ in range(draw(st.integers(1, 6)))])
    # The optional settings (SageMaker honours them all).
    kms = st.just("") | st.from_regex(r"[a-zA-Z0-9:/_-]{1,20}", fullmatch=True)
    checkpoint = draw(st.sampled_from(["", "s3://bucket/checkpoints/"]))
    values.update(
        environment=[{"name": name, "value": draw(TEXT | st.just(""))} for name in draw(
            st.lists(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), unique=True, max_size=3))],
        output_compression=draw(st.sampled_from(["GZIP", "NONE"])), output_kms=draw(kms), volume_kms=draw(kms),
        max_pending=draw(st.none() | st.integers(1800, 2_419_200)), max_retries=draw(st.none() | st.integers(1, 30)),
        checkpoint_uri=checkpoint,
        checkpoint_local_path=draw(st.sampled_from(["", "/opt/ml/checkpoints"])) if checkpoint else "",
    )
    if builtin:
        algorithm = draw(st.sampled_from([a for a in catalogue.ALGORITHMS.values() if REGION in a.regions]))
        metric = draw(st.sampled_from(algorithm.objective_metrics))
        required = [hp.name for hp in algorithm.required_hyperparameters if hp.default is None]
        optional = [hp.name for hp in algorithm.hyperparameters if hp.name not in required]
        names = required + draw(st.lists(st.sampled_from(optional), unique=True, max_size=6))
        # The wizard lists a built-in's hyperparameters in the catalogue's order, and sends them so.
        order = [hp.name for hp in algorithm.hyperparameters]
        names.sort(key=order.index)
        values.update(algorithm_source="builtin", algorithm=algorithm.key, image=algorithm.image_uri(REGION),
                      objective_metric=metric.name, objective_type=metric.direction, metric_definitions=[],
                      hyperparameters=[draw(hyperparameter(algorithm, n)) for n in names])
    else:
        metrics = draw(st.lists(NAME, min_size=1, max_size=3, unique=True))
        names = draw(st.lists(NAME, unique=True, max_size=5))
        values.update(algorithm_source="custom", algorithm="", image=EXAMPLE_IMAGE, objective_metric=metrics[0],
                      objective_type=draw(st.sampled_from(["Maximize", "Minimize"])),
                      metric_definitions=[{"name": m, "regex": f"{m}=([0-9.]+)"} for m in metrics],
                      hyperparameters=[draw(hyperparameter(None, n)) for n in names])
    return values


@st.composite
def wizard_values(draw) -> dict:
    strategy = draw(st.sampled_from(["Bayesian", "Random", "Hyperband", "Grid"]))
    hyperband = strategy == "Hyperband"
    parents = draw(st.lists(st.sampled_from(PARENTS), unique=True, max_size=2))
    names = draw(st.lists(NAME, min_size=1, max_size=3, unique=True))
    tag_keys = draw(st.lists(TEXT.filter(lambda k: not k.startswith("hpo-portal")), unique=True, max_size=3))
    return {
        "job": {
            "name": draw(NAME), "strategy": strategy, "early_stopping": draw(st.sampled_from(["Off", "Auto"])),
            "hyperband_min_resource": draw(st.none() | st.integers(1, 50)) if hyperband else None,
            "hyperband_max_resource": draw(st.none() | st.integers(1, 500)) if hyperband else None,
            "warm_start_type": draw(st.sampled_from(["IdenticalDataAndAlgorithm", "TransferLearning"])) if parents else "",
            "warm_start_parents": parents,
            "target_objective_value": draw(st.none() | st.floats(-10, 10, allow_nan=False)),
            "max_jobs_not_improving": draw(st.none() | st.integers(3, 100)),
            "complete_on_convergence": draw(st.booleans()),
            "random_seed": draw(st.none() | st.integers(0, 2**31 - 1)),
            "tags": [(key, draw(TEXT | st.just(""))) for key in tag_keys],
            "autotune": draw(st.booleans()),
        },
        "definitions": [draw(definition(name)) for name in names],
        "resources": {"max_parallel": draw(st.integers(1, 20)), "max_jobs": draw(st.none() | st.integers(1, 800)),
                      "max_runtime": draw(st.none() | st.integers(120, 100_000))},
    }


def _through_the_forms(values: dict, options: WizardOptions) -> dict:
    """What the wizard's forms make of step data seeded from ``values`` (as import and clone do)."""
    # Stored step data, read back as the wizard's storage hands it to the forms.
    data = {step: MultiValueDict(step_data) for step, step_data in seed_data(values, options).items()}
    job = JobSettingsForm(data=data["job"], prefix="job", options=options)
    definitions = DefinitionsStepForm(data=data["definitions"], prefix="definitions", options=options)
    resources = TuningResourcesForm(data=data["resources"], prefix="resources")
    assert job.is_valid(), job.errors
    assert definitions.is_valid(), [e.form.errors for e in definitions._editors.values()]  # noqa: SLF001
    assert resources.is_valid(), resources.errors
    return {"job": job.cleaned_data, "definitions": definitions.cleaned_data, "resources": resources.cleaned_data}


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=wizard_values())
def test_a_request_the_wizard_builds_comes_back_into_the_wizard_unchanged(values):
    options = _options()
    request = convert.build_request(values, options.project, options.user)
    back = convert.request_to_wizard_data(request)
    assert convert.build_request(back, options.project, options.user) == request
    # Through the forms too: the step data import and clone seed, validated as the wizard does.
    assert convert.build_request(_through_the_forms(back, options), options.project, options.user) == request


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=wizard_values())
def test_every_problem_in_a_built_request_has_a_place_in_the_wizard(values):
    """Whatever the validator finds in a request the wizard built, the wizard can say where: next to a
    field of a step, or (role, VPC, the whole request) on the review step."""
    options = _options()
    sources: dict = {}
    request = convert.build_request(values, options.project, options.user, sources=sources)
    for issue in spec.validate_request(request, options.validation_context()):
        location = convert.locate(issue.path, sources)
        assert location is not None or issue.path == "", issue
        if location is not None:
            assert location[0] in ("job", "definitions", "resources", "policy"), (issue, location)


# ---- settings beyond the basics, kept through import and clone -----------------------------------------
@pytest.mark.django_db
def test_an_uncompressed_output_is_kept_through_import_and_clone(bob_client, project):
    root = data_dir()
    request = local_request(root, name="no-gzip")
    request["TrainingJobDefinition"]["OutputDataConfig"]["CompressionType"] = "NONE"
    page = WizardPage(bob_client, bob_client.get(import_(bob_client, request)["Location"]))
    assert page.step == "review", page.errors()
    assert page.request_json()["TrainingJobDefinition"]["OutputDataConfig"] == {
        "S3OutputPath": "s3://bucket/output/", "CompressionType": "NONE"}
    assert "Output compression" in page.html and "NONE" in page.html  # the review says so
    page.submit()
    job = HpoJob.objects.get(name="no-gzip")
    assert job.request["TrainingJobDefinition"]["OutputDataConfig"]["CompressionType"] == "NONE"

    cloned = WizardPage(bob_client, bob_client.get("/projects/demo/hpo-jobs/no-gzip/clone/"))
    cloned = cloned.next().next().next()
    assert cloned.step == "review", cloned.errors()
    assert cloned.request_json()["TrainingJobDefinition"]["OutputDataConfig"]["CompressionType"] == "NONE"
