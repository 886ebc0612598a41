"""The create wizard walked step by step through the test client, as a member uses it."""

from __future__ import annotations

import botocore.session
import botocore.validate
import pytest

from hpo_jobs.sagemaker import spec
from hpo_jobs.wizard.forms import WizardOptions
from hpo_jobs.models import HpoJob, SiteSettings

from .wizard_helpers import data_dir, fill_channels, start

pytestmark = pytest.mark.django_db

EXAMPLE_IMAGE = "hpo-portal/example-custom:latest"


def assert_sendable(request: dict, project, user) -> None:
    """The request passes the validator (SageMaker's service model and rules) and botocore's own checks."""
    issues = spec.validate_request(request, WizardOptions.for_project(project, user).validation_context())
    assert issues == [], issues
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("CreateHyperParameterTuningJob").input_shape
    report = botocore.validate.ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()


def to_definitions(client, name: str):
    page = start(client).next(job__name=name)
    assert page.step == "definitions", page.errors()
    return page


def finish(page, root=None):
    """From the definitions step to the review step (channels pointed at ``root``), default resources."""
    page = page.next(fill_channels(page, root) if root is not None else None)
    assert page.step == "resources", page.errors()
    page = page.next()
    assert page.step == "review", page.errors()
    return page


def make_custom(page, root, *, name="custom-def"):
    """Turn the open definition into the example custom algorithm, filled in."""
    page = page.act("load-defaults", {"def-name": name, "def-algorithm_source": "custom", "def-image": EXAMPLE_IMAGE})
    assert page.value("def-algorithm_source") == "custom"
    assert page.value("def-hp-TOTAL_FORMS") == "0"
    page = page.act("add-row:hyperparameters", {
        "def-md-0-name": "validation:accuracy", "def-md-0-regex": "validation_accuracy=([0-9.]+)",
        "def-objective_metric": "validation:accuracy", "def-objective_type": "Maximize",
    })
    page = page.act("add-row:hyperparameters", {
        "def-hp-0-name": "learning_rate", "def-hp-0-kind": "Continuous", "def-hp-0-min": "0.0001",
        "def-hp-0-max": "1", "def-hp-0-scaling": "Logarithmic",
    })
    return page.submit(changes={
        "def-hp-1-name": "epochs", "def-hp-1-kind": "Static", "def-hp-1-value": "5",
        **fill_channels(page, root),
    }, button=("def-action", "add-row:metric_definitions"))


def test_it_creates_a_job_with_one_builtin_definition(bob_client, bob, project):
    root = data_dir()
    page = to_definitions(bob_client, "one-builtin")
    assert page.value("def-algorithm") == "xgboost"
    eta = page.hp_index("eta")
    page = page.next({
        **fill_channels(page, root),
        f"def-hp-{eta}-min": "0.05", f"def-hp-{eta}-max": "0.4",
        f"def-hp-{page.hp_index('objective')}-value": "binary:logistic",
        "def-objective_metric": "validation:auc",
    })
    assert page.step == "resources", page.errors()
    page = page.next(resources__max_parallel="3", resources__max_jobs="12")
    assert page.step == "review", page.errors()
    shown = page.request_json()
    # One definition goes out in the single-algorithm form, as SageMaker's SDK sends it: the objective
    # and the ranges in the tuning configuration, no definition name.
    assert "TrainingJobDefinitions" not in shown
    definition, config = shown["TrainingJobDefinition"], shown["HyperParameterTuningJobConfig"]
    assert not {"DefinitionName", "TuningObjective", "HyperParameterRanges"} & set(definition)
    assert definition["StaticHyperParameters"] == {"objective": "binary:logistic"}
    assert {"Name": "eta", "MinValue": "0.05", "MaxValue": "0.4", "ScalingType": "Linear"} in \
        config["ParameterRanges"]["ContinuousParameterRanges"]
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:auc"}
    assert shown["HyperParameterTuningJobConfig"]["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": 12, "MaxParallelTrainingJobs": 3}
    assert "Early stopping" in page.html and "Warm start" in page.html

    response = page.submit().response
    job = HpoJob.objects.get(name="one-builtin")
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert job.status == HpoJob.Status.PENDING and job.created_by == bob and job.project == project
    # What the review step showed is exactly what is stored and sent.
    assert job.request == shown
    assert_sendable(job.request, project, bob)


def test_it_creates_a_job_with_two_definitions_builtin_and_custom(bob_client, bob, project):
    site = SiteSettings.load()
    site.ecr_enabled = True
    site.save()
    root = data_dir()
    page = to_definitions(bob_client, "two-defs")
    page = page.act("add", {**fill_channels(page, root), "def-name": "xgb"})
    assert page.value("definitions-open") == "1" and len(page.drafts) == 2
    page = make_custom(page, root)
    page = page.act("remove-row:metric_definitions:1")
    page = page.next()
    assert page.step == "resources", page.errors()
    page = page.next()
    assert page.step == "review", page.errors()
    shown = page.request_json()
    builtin, custom = shown["TrainingJobDefinitions"]
    assert builtin["DefinitionName"] == "xgb"
    assert custom == {
        "DefinitionName": "custom-def",
        "TuningObjective": {"Type": "Maximize", "MetricName": "validation:accuracy"},
        "HyperParameterRanges": {"ContinuousParameterRanges": [
            {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "1", "ScalingType": "Logarithmic"}]},
        "StaticHyperParameters": {"epochs": "5"},
        "AlgorithmSpecification": {
            "TrainingImage": EXAMPLE_IMAGE, "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "validation:accuracy", "Regex": "validation_accuracy=([0-9.]+)"}],
        },
        "InputDataConfig": custom["InputDataConfig"],
        "OutputDataConfig": {"S3OutputPath": "s3://hpo-portal-local/demo/output/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "EnableNetworkIsolation": False,
        "EnableInterContainerTrafficEncryption": False,
        "EnableManagedSpotTraining": False,
        "RoleArn": "arn:aws:iam::000000000000:role/hpo-portal-local-engine",
    }
    assert [c["ChannelName"] for c in custom["InputDataConfig"]] == ["train", "validation"]
    page.submit()
    job = HpoJob.objects.get(name="two-defs")
    assert job.request == shown
    assert_sendable(job.request, project, bob)


def test_it_tags_the_request_with_the_project_and_creator_beside_the_users_tags(alice_client, alice, project):
    root = data_dir()
    page = start(alice_client).next(job__name="tagged", job__tags="team=vision\ncost-centre=42")
    page = finish(page, root)
    tags = page.request_json()["Tags"]
    assert tags == [
        {"Key": "team", "Value": "vision"}, {"Key": "cost-centre", "Value": "42"},
        {"Key": "hpo-portal:project", "Value": "demo"}, {"Key": "hpo-portal:created-by", "Value": "alice"},
    ]


def test_the_role_and_vpc_come_from_the_project(bob_client, project):
    project.sagemaker_role_arn = "arn:aws:iam::123456789012:role/ProjectRole"
    project.vpc_subnets = "subnet-0123abcd"
    project.vpc_security_group_ids = "sg-0123abcd\nsg-4567ef01"
    project.save()
    root = data_dir()
    page = to_definitions(bob_client, "with-role")
    page = finish(page, root)
    definition = page.request_json()["TrainingJobDefinition"]
    assert definition["RoleArn"] == "arn:aws:iam::123456789012:role/ProjectRole"
    assert definition["VpcConfig"] == {"Subnets": ["subnet-0123abcd"], "SecurityGroupIds": ["sg-0123abcd", "sg-4567ef01"]}
    assert "arn:aws:iam::123456789012:role/ProjectRole" in page.html  # the review step says which role
    # Nothing on the page lets a member choose them.
    assert "RoleArn" not in "".join(name for name, _ in page.fields)


def test_back_and_forward_keep_what_was_typed(bob_client, project):
    root = data_dir()
    page = start(bob_client).next(job__name="keep-typed", job__random_seed="7", job__tags="a=b")
    eta = page.hp_index("eta")
    # Typed on the definitions step, including an invalid value, then Back without Next.
    page = page.back({f"def-hp-{eta}-min": "0.2", f"def-hp-{eta}-max": "oops", "def-name": "typed-name"})
    assert page.step == "job"
    assert page.value("job-name") == "keep-typed" and page.value("job-random_seed") == "7"
    page = page.next()
    assert page.step == "definitions"
    assert page.value("def-name") == "typed-name"
    assert page.value(f"def-hp-{eta}-min") == "0.2" and page.value(f"def-hp-{eta}-max") == "oops"
    page = page.next({f"def-hp-{eta}-max": "0.3", **fill_channels(page, root)})
    page = page.next(resources__max_jobs="20")
    assert page.step == "review"
    page = page.goto("resources")
    assert page.value("resources-max_jobs") == "20"
    page = page.goto("definitions")
    assert page.value(f"def-hp-{eta}-max") == "0.3"


def test_reloading_a_run_shows_its_step_with_what_was_typed(bob_client, project):
    page = start(bob_client).next(job__name="reloaded")
    again = bob_client.get(page.action)
    assert again.status_code == 200
    from .wizard_helpers import WizardPage

    reloaded = WizardPage(bob_client, again)
    assert reloaded.step == "definitions" and reloaded.run == page.run


def test_two_wizards_in_two_tabs_do_not_overwrite_each_other(bob_client, project):
    root = data_dir()
    first = start(bob_client).next(job__name="tab-one")
    second = start(bob_client).next(job__name="tab-two")
    assert first.run != second.run
    first = finish(first, root)
    second = finish(second, root)
    assert first.request_json()["HyperParameterTuningJobName"] == "tab-one"
    assert second.request_json()["HyperParameterTuningJobName"] == "tab-two"
    first.submit()
    second.submit()
    assert set(HpoJob.objects.values_list("name", flat=True)) == {"tab-one", "tab-two"}


def test_a_double_click_on_create_makes_one_job(bob_client, project):
    root = data_dir()
    page = finish(to_definitions(bob_client, "clicked-twice"), root)
    # The first click's response has not arrived when the second click posts the same page.
    session_before = dict(bob_client.session.items())
    first = page.submit().response
    job = HpoJob.objects.get(name="clicked-twice")
    assert first["Location"] == job.get_absolute_url()

    # Second click, read after the first finished: the run is done, so it goes to the job.
    second = page.submit().response
    assert second.status_code == 302 and second["Location"] == job.get_absolute_url()

    # Second click, racing the first: its session still holds the run's data.
    session = bob_client.session
    for key, value in session_before.items():
        session[key] = value
    session.pop("hpo_wizard_done", None)
    session.save()
    racing = page.submit().response
    assert racing.status_code == 302 and racing["Location"] == job.get_absolute_url()
    assert HpoJob.objects.count() == 1


def test_a_name_taken_while_the_wizard_was_open_sends_the_person_back_to_the_name(bob_client, alice, project, make_job):
    root = data_dir()
    page = to_definitions(bob_client, "raced-name")
    page = finish(page, root)
    make_job("Raced-Name", created_by=alice)
    page = page.submit()
    assert page.status == 200 and page.step == "job"
    assert any("already exists" in e for e in page.error_near("job-name"))
    # Nothing was lost: a new name and the job is created.
    page = page.next(job__name="raced-name-2")
    page = finish(page, root)
    page.submit()
    assert HpoJob.objects.filter(name="raced-name-2").exists()


def test_a_post_to_an_ended_run_starts_a_new_wizard(bob_client, project):
    page = start(bob_client)
    session = bob_client.session
    for key in [k for k in session.keys() if k.startswith("wizard_")]:
        del session[key]
    session.save()
    response = page.submit(job__name="late").response
    assert response.status_code == 302 and response["Location"] == "/projects/demo/hpo-jobs/create/"


def test_definitions_can_be_added_copied_edited_and_removed(bob_client, project):
    root = data_dir()
    page = to_definitions(bob_client, "many-defs")
    page = page.act("add", {"def-name": "first", **fill_channels(page, root)})
    assert [d["fields"]["name"] for d in page.drafts] == ["first", "definition-2"]
    page = page.act("copy:0", {"def-name": "second"})
    names = [d["fields"]["name"] for d in page.drafts]
    assert names == ["first", "first-copy", "second"]
    assert page.value("definitions-open") == "1" and page.value("def-name") == "first-copy"
    # The copy carries everything, channels included.
    assert page.value("def-ch-0-uri") == (root / "train").as_uri() + "/"
    page = page.act("edit:2")
    assert page.value("def-name") == "second"
    page = page.act("remove:0")
    assert [d["fields"]["name"] for d in page.drafts] == ["first-copy", "second"]
    assert page.value("def-name") == "second"  # the open definition stays open
    # Up to ten: then Add and Copy are disabled, and a forged press is refused with a reason.
    for _ in range(8):
        page = page.act("add")
    assert len(page.drafts) == 10
    add = [b for b in page.buttons if b[:2] == ("def-action", "add")][0]
    assert add[3] is True  # disabled
    forged = page.client.post(page.action, {**{n: v for n, v in page.fields}, "def-action": "add"})
    assert b"at most 10 training job definitions" in forged.content


def test_removing_every_definition_asks_for_one(bob_client, project):
    page = to_definitions(bob_client, "no-defs").act("remove:0")
    assert page.drafts == []
    page = page.next()
    assert page.step == "definitions"
    assert "Add at least one training job definition." in page.errors()


def test_rows_are_added_and_removed(bob_client, project):
    page = to_definitions(bob_client, "rows")
    total = int(page.value("def-hp-TOTAL_FORMS"))
    page = page.act("add-row:hyperparameters")
    assert int(page.value("def-hp-TOTAL_FORMS")) == total + 1
    page = page.act("remove-row:hyperparameters:%d" % total, {f"def-hp-{total}-name": "extra"})
    assert int(page.value("def-hp-TOTAL_FORMS")) == total
    page = page.act("add-row:channels")
    assert page.value("def-ch-TOTAL_FORMS") == "3"
    page = page.act("remove-row:channels:0")
    assert [page.value("def-ch-0-name"), page.value("def-ch-1-name")] == ["validation", ""]


def test_choosing_another_builtin_lists_its_hyperparameters(bob_client, project):
    page = to_definitions(bob_client, "switch-algo")
    # Without JavaScript the select cannot reload the table: any button does it, and Next stops to show it.
    page = page.next({"def-algorithm": "knn"})
    assert page.step == "definitions"
    assert page.value("def-loaded_algorithm") == "knn"
    names = {v for n, v in page.fields if n.startswith("def-hp-") and n.endswith("-name")}
    assert {"k", "sample_size", "feature_dim"} <= names and "eta" not in names
    assert page.value("def-objective_metric") == "test:accuracy"
    assert any("Check the hyperparameters just loaded" in e for e in page.errors())


def test_a_builtin_lists_every_hyperparameter_with_defaults_and_suggested_ranges(bob_client, project):
    from hpo_jobs.sagemaker import catalogue

    page = to_definitions(bob_client, "listing")
    xgboost = catalogue.get("xgboost")
    names = [v for n, v in page.fields if n.startswith("def-hp-") and n.endswith("-name")]
    # Every one is on the page: those that matter first, the others behind "All hyperparameters".
    assert sorted(names) == sorted(hp.name for hp in xgboost.hyperparameters)
    main = page.html[page.html.index('id="hp-main"'): page.html.index('id="hp-more"')]
    rest = page.html[page.html.index('id="hp-more"'):]
    for name in ("num_round", "eta", "max_depth", "objective"):  # required, tuned, a choice with no default
        assert f'value="{name}"' in main and f'value="{name}"' not in rest, name
    for name in ("nthread", "verbosity"):  # left at their defaults
        assert f'value="{name}"' in rest and f'value="{name}"' not in main, name
    eta = page.hp_index("eta")
    assert page.value(f"def-hp-{eta}-kind") == "Continuous"
    assert (page.value(f"def-hp-{eta}-min"), page.value(f"def-hp-{eta}-max")) == ("0.1", "0.5")
    assert "Default 0.3." in page.html and "Suggested range 0.1–0.5." in page.html
    # Each row offers only the types the algorithm allows for it.
    booster = page.hp_index("booster")
    row = page.html[page.html.index(f'name="def-hp-{booster}-kind"'):]
    row = row[: row.index("</select>")]
    assert ">Static<" in row and ">Continuous<" not in row


def test_ecr_off_hides_custom_images_and_refuses_a_posted_one(bob_client, project):
    SiteSettings.objects.update_or_create(pk=1, defaults={"ecr_enabled": False})
    page = to_definitions(bob_client, "no-ecr")
    assert 'value="custom"' not in page.html
    page = page.next({"def-algorithm_source": "custom", "def-image": EXAMPLE_IMAGE})
    assert page.step == "definitions"
    # The forged choice is refused next to the field, never sent.
    assert page.errors()
