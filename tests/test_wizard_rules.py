"""Every rule of the wizard, failing and passing, with its message shown next to the field it concerns.

The validator's rules themselves are tested in test_spec.py; here the question is whether the
wizard shows each problem where the person can fix it, on the step where it was made.
"""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from hpo_jobs import aws
from hpo_jobs.models import HpoJob, SiteSettings

from .factories import make_request
from .wizard_helpers import data_dir, fill_channels, start

pytestmark = pytest.mark.django_db

EXAMPLE_IMAGE = "hpo-portal/example-custom:latest"


@pytest.fixture
def root():
    return data_dir()


@pytest.fixture
def defs(bob_client, project, root):
    """The definitions step of a new run, its channels pointed at readable folders."""
    page = start(bob_client).next(job__name="rules-job")
    assert page.step == "definitions"
    return page.type(fill_channels(page, root))


def hp(page, name: str, field: str) -> str:
    return f"def-hp-{page.hp_index(name)}-{field}"


# ---- step 1: job settings ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["bad_name", "-leading", "trailing-", "has space", "x" * 33, "dots.not.allowed"])
def test_it_rejects_a_malformed_name(bob_client, project, name):
    page = start(bob_client).next(job__name=name)
    assert page.step == "job"
    assert page.error_near("job-name"), page.errors()


def test_it_accepts_a_well_formed_name(bob_client, project):
    assert start(bob_client).next(job__name="Good-Name-1").step == "definitions"


def test_it_rejects_a_name_taken_in_the_portal_ignoring_case(bob_client, project, make_job):
    make_job("taken-name")
    page = start(bob_client).next(job__name="TAKEN-name")
    assert page.step == "job"
    assert page.error_near("job-name") == [
        "A job named TAKEN-name already exists in the portal (names ignore case); choose another name."]


def test_it_rejects_a_name_the_local_engine_already_has(bob_client, project, settings, tmp_path):
    settings.HPO_LOCAL_ENGINE_DIR = tmp_path
    (tmp_path / "engine-job").mkdir()
    page = start(bob_client).next(job__name="Engine-Job")
    assert page.step == "job"
    assert "already exists in the local engine" in page.error_near("job-name")[0]
    assert start(bob_client).next(job__name="engine-job-2").step == "definitions"


def test_it_rejects_a_name_sagemaker_already_has(bob_client, project, moto_aws):  # noqa: F811
    aws.client("sagemaker").create_hyper_parameter_tuning_job(**make_request("in-aws"))
    page = start(bob_client).next(job__name="in-aws")
    assert page.step == "job"
    assert "already exists in SageMaker" in page.error_near("job-name")[0]
    assert start(bob_client).next(job__name="not-in-aws").step == "definitions"


def test_it_says_so_next_to_the_name_when_sagemaker_cannot_be_asked(bob_client, project, aws_env):  # noqa: F811
    client = aws.client("sagemaker", interactive=True)
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_hyper_parameter_tuning_job", service_error_code="ThrottlingException",
                                 service_message="Rate exceeded", http_status_code=400)
        page = start(bob_client).next(job__name="cannot-check")
    assert page.step == "job"
    [message] = page.error_near("job-name")
    assert message.startswith("Could not check with SageMaker whether this name is free")
    assert "Try again in a moment." in message


def test_hyperband_needs_early_stopping_off(bob_client, project):
    page = start(bob_client).next(job__name="hb", job__strategy="Hyperband", job__early_stopping="Auto")
    assert page.step == "job"
    assert page.error_near("job-early_stopping") == ["Hyperband stops training jobs early by itself: set early stopping to Off"]
    assert page.next(job__early_stopping="Off").step == "definitions"


def test_hyperband_min_resource_must_not_exceed_max(bob_client, project):
    page = start(bob_client).next(job__name="hb-res", job__strategy="Hyperband",
                                  job__hyperband_min_resource="50", job__hyperband_max_resource="10")
    assert page.step == "job"
    assert page.error_near("job-hyperband_min_resource")
    assert page.next(job__hyperband_min_resource="5").step == "definitions"


def test_hyperband_fields_do_not_apply_to_other_strategies(bob_client, project, root):
    page = start(bob_client).next(job__name="not-hb", job__hyperband_max_resource="10")
    page = page.next(fill_channels(page, root)).next()
    assert "StrategyConfig" not in page.request_json()["HyperParameterTuningJobConfig"]


@pytest.fixture
def on_sagemaker(project, moto_aws):  # noqa: F811
    """The SageMaker engine (moto behind the seam) and a project with an execution role."""
    project.sagemaker_role_arn = "arn:aws:iam::123456789012:role/ProjectRole"
    project.save()
    return {f"def-ch-{i}-uri": f"s3://bucket/{name}/" for i, name in enumerate(["train", "validation"])} | {
        "def-output_path": "s3://bucket/output/"}


def test_warm_start_needs_a_type_and_one_to_five_finished_parents(bob_client, make_job, on_sagemaker):
    for index in range(6):
        make_job(f"parent-{index}", status=HpoJob.Status.COMPLETED)
    make_job("still-running", status=HpoJob.Status.IN_PROGRESS)
    page = start(bob_client)
    assert "parent-3" in page.html and "still-running" not in page.html  # picked from a list of finished jobs
    page = page.next(job__name="warm", job__warm_start_parents=["parent-0"])
    assert page.error_near("job-warm_start_type") == ["Choose how to warm start from the parent jobs you picked."]
    page = page.next(job__warm_start_type="TransferLearning", job__warm_start_parents=None)
    assert page.error_near("job-warm_start_parents") == ["Pick 1 to 5 parent tuning jobs to warm start from."]
    page = page.next(job__warm_start_parents=[f"parent-{i}" for i in range(6)])
    assert page.error_near("job-warm_start_parents") == ["Pick at most 5 parent jobs (got 6)."]
    page = page.next(job__warm_start_parents=["still-running"])
    assert page.error_near("job-warm_start_parents") == ["still-running is not a finished tuning job of this project."]
    page = page.next(job__warm_start_parents=["parent-0", "parent-1"])
    assert page.step == "definitions"


def test_warm_start_is_sent_and_shown_on_review(bob_client, make_job, on_sagemaker):
    make_job("parent-a", status=HpoJob.Status.STOPPED)
    page = start(bob_client).next(job__name="warm-review", job__warm_start_type="IdenticalDataAndAlgorithm",
                                  job__warm_start_parents=["parent-a"])
    page = page.next(on_sagemaker).next()
    assert page.step == "review", page.errors()
    assert page.request_json()["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent-a"}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    assert "IdenticalDataAndAlgorithm from parent-a" in page.html


@pytest.mark.parametrize("warm_start_type", ["IdenticalDataAndAlgorithm", "TransferLearning"])
def test_the_local_engine_warm_starts_from_a_job_of_the_project(bob_client, project, make_job, root,
                                                                warm_start_type):
    make_job("parent-a", status=HpoJob.Status.COMPLETED)
    page = start(bob_client)
    assert "does not warm start" not in page.html
    page = page.next(job__name="warm-local", job__warm_start_type=warm_start_type,
                     job__warm_start_parents=["parent-a"])
    assert page.step == "definitions", page.errors()
    page = page.next(fill_channels(page, root)).next()
    assert page.step == "review", page.errors()
    request = page.request_json()
    assert request["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent-a"}],
        "WarmStartType": warm_start_type,
    }
    assert "TrainingJobDefinition" in request  # warm start is for a single definition
    # parent-a is only a row in the portal's database here, not a job the engine ran: the engine's check
    # says so on the review, next to the parents, and nothing is created (test_e2e_local runs a real one).
    assert page.errors() == ["Job settings · Parent tuning jobs : Warm start parent parent-a is not a tuning job "
                             "of the local engine\n         Fix it"]
    page.submit()
    assert not HpoJob.objects.filter(name="warm-local").exists()


@pytest.mark.parametrize("tags,message", [
    ("no-equals-sign", "Line 1: write each tag as key=value (got 'no-equals-sign')."),
    ("a=1\n=2", "Line 2: write each tag as key=value (got '=2')."),
    ("hpo-portal:project=other", "Line 1: hpo-portal:project is set by the portal; remove this line."),
    ("a=1\na=2", "Line 2: tag a is given twice."),
])
def test_it_rejects_malformed_tags(bob_client, project, tags, message):
    page = start(bob_client).next(job__name="tags", job__tags=tags)
    assert page.error_near("job-tags") == [message]


def test_completion_criteria_are_checked_and_sent(bob_client, project, root):
    page = start(bob_client).next(job__name="criteria", job__max_jobs_not_improving="2")
    assert page.error_near("job-max_jobs_not_improving")
    page = page.next(job__max_jobs_not_improving="3", job__target_objective_value="0.97",
                     job__complete_on_convergence="on", job__random_seed="11")
    page = page.next(fill_channels(page, root)).next()
    config = page.request_json()["HyperParameterTuningJobConfig"]
    assert config["TuningJobCompletionCriteria"] == {
        "TargetObjectiveMetricValue": 0.97,
        "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3},
        "ConvergenceDetected": {"CompleteOnConvergence": "Enabled"},
    }
    assert config["RandomSeed"] == 11


def test_early_stopping_with_two_definitions_is_shown_on_review_and_on_the_job_step(bob_client, project, root):
    page = start(bob_client).next(job__name="es-two", job__early_stopping="Auto")
    page = page.act("add", fill_channels(page, root))
    page = page.next(fill_channels(page, root)).next()
    assert page.step == "review"
    problems = page.errors()
    assert any("single training job definition" in p for p in problems)
    assert ("wizard_goto_step", "job") in [(n, v) for n, v, *_ in page.buttons]
    page = page.goto("job")
    assert page.error_near("job-early_stopping") == [
        "Early stopping (Auto) is only available when tuning a single training job definition"]
    # Creating is refused while the problem is there.
    review = page.next(job__early_stopping="Auto")
    assert review.step == "job" and not HpoJob.objects.exists()


# ---- step 2: definitions --------------------------------------------------------------------------
def test_a_blank_range_end_is_an_error_next_to_it_never_dropped(defs):
    page = defs.next({hp(defs, "eta", "min"): "", hp(defs, "max_depth", "max"): ""})
    assert page.step == "definitions"
    assert page.error_near(hp(page, "eta", "min")) == ["Enter the lowest value of the range."]
    assert page.error_near(hp(page, "max_depth", "max")) == ["Enter the highest value of the range."]
    assert page.error_near(hp(page, "eta", "max")) == []


@pytest.mark.parametrize("kind,field,changes,expected", [
    ("Continuous", "min", {"min": "0.5", "max": "0.1"}, "Min value must be below max value (got 0.5 and 0.1)"),
    ("Continuous", "min", {"min": "abc"}, "Min value of a continuous range must be a number (got 'abc')"),
    ("Continuous", "min", {"min": "0", "max": "0.5", "scaling": "Logarithmic"}, "Logarithmic scaling needs values above 0"),
    ("Continuous", "max", {"min": "0.1", "max": "1", "scaling": "ReverseLogarithmic"}, "Reverse logarithmic scaling needs"),
])
def test_range_rules_show_next_to_the_field(defs, kind, field, changes, expected):
    row = defs.hp_index("eta")
    page = defs.next({f"def-hp-{row}-kind": kind, **{f"def-hp-{row}-{k}": v for k, v in changes.items()}})
    assert page.step == "definitions"
    assert any(expected in e for e in page.error_near(f"def-hp-{row}-{field}")), page.errors()
    # The same range, fixed, passes.
    fixed = page.next({f"def-hp-{row}-min": "0.1", f"def-hp-{row}-max": "0.5", f"def-hp-{row}-scaling": "Linear"})
    assert fixed.step == "resources", fixed.errors()


def test_an_integer_range_takes_whole_numbers(defs):
    row = defs.hp_index("max_depth")
    page = defs.next({f"def-hp-{row}-min": "1.5"})
    assert any("whole number" in e for e in page.error_near(f"def-hp-{row}-min"))


def test_a_builtin_static_value_is_checked_against_the_catalogue(defs):
    row = defs.hp_index("booster")
    page = defs.next({f"def-hp-{row}-value": "forest"})
    assert page.error_near(f"def-hp-{row}-value") == ["booster must be one of gbtree, gblinear, dart (got 'forest')"]
    assert page.next({f"def-hp-{row}-value": "dart"}).step == "resources"


def test_a_required_builtin_hyperparameter_must_be_given(defs):
    page = defs.act("load-defaults", {"def-algorithm": "knn"})
    row = page.hp_index("feature_dim")
    page = page.next()
    assert page.error_near(f"def-hp-{row}-value") == ["feature_dim is required: give it a value, or tune it as a range."]
    assert page.next({f"def-hp-{row}-value": "30"}).step == "resources"


def test_a_builtin_row_offers_only_its_allowed_types(defs):
    row = defs.hp_index("eta")
    page = defs.next({f"def-hp-{row}-kind": "Integer"})
    assert page.error_near(f"def-hp-{row}-kind") == ["eta can be Static, Continuous or Categorical."]


def test_categorical_values_are_checked(defs):
    page = defs.act("load-defaults", {"def-algorithm": "linear-learner"})
    page.type({hp(page, "feature_dim", "value"): "30"})
    row = page.hp_index("use_bias")
    assert page.value(f"def-hp-{row}-kind") == "Categorical"
    page = page.next({f"def-hp-{row}-values": "true,,false"})
    assert page.error_near(f"def-hp-{row}-values") == ["A value between commas is empty; remove the extra comma."]
    page = page.next({f"def-hp-{row}-values": ""})
    assert page.error_near(f"def-hp-{row}-values") == ["Enter the values to try, separated by commas."]
    page = page.next({f"def-hp-{row}-values": "true, false, true"})
    assert page.error_near(f"def-hp-{row}-values") == ["Value 'true' is listed twice"]
    page = page.next({f"def-hp-{row}-values": "true, false"})
    assert page.step == "resources", page.errors()


def test_grid_takes_categorical_ranges_only(bob_client, project, root):
    page = start(bob_client).next(job__name="grid", job__strategy="Grid")
    page = page.next(fill_channels(page, root))
    assert page.step == "definitions"
    # Each range Grid cannot take is named under its own row.
    assert any("Grid search takes categorical ranges only: make eta categorical" in e
               for e in page.row_errors("def-hp", page.hp_index("eta")))
    # Linear Learner with its one categorical range, the others left at their defaults: Grid is happy.
    page = page.act("load-defaults", {"def-algorithm": "linear-learner"})
    changes = {hp(page, "feature_dim", "value"): "30"}
    for index in range(int(page.value("def-hp-TOTAL_FORMS"))):
        if page.value(f"def-hp-{index}-kind") in ("Integer", "Continuous"):
            changes[f"def-hp-{index}-kind"] = "Static"
    changes[hp(page, "use_bias", "values")] = "true, false"
    page = page.next(changes)
    assert page.step == "resources", page.errors()
    page = page.next(resources__max_jobs="5")
    assert page.error_near("resources-max_jobs") == [
        "With grid search, max number of training jobs must be left out or equal the number of value combinations (2) (got 5)"]
    page = page.next(resources__max_jobs="")
    assert page.step == "review"
    assert "MaxNumberOfTrainingJobs" not in page.request_json()["HyperParameterTuningJobConfig"]["ResourceLimits"]


def test_grid_on_xgboost_tunes_numeric_parameters_as_lists_of_values(bob_client, project, root):
    page = start(bob_client).next(job__name="grid-xgb", job__strategy="Grid")
    page = page.next(fill_channels(page, root))
    changes = {}
    for index in range(int(page.value("def-hp-TOTAL_FORMS"))):
        if page.value(f"def-hp-{index}-kind") in ("Integer", "Continuous"):
            changes[f"def-hp-{index}-kind"] = "Static"
    changes.update({
        hp(page, "max_depth", "kind"): "Categorical", hp(page, "max_depth", "values"): "3, 5",
        hp(page, "eta", "kind"): "Categorical", hp(page, "eta", "values"): "0.1, 0.2, 0.3",
        hp(page, "num_round", "value"): "20", hp(page, "objective", "value"): "binary:logistic",
        "def-objective_metric": "validation:auc",
    })
    page = page.next(changes)
    assert page.step == "resources", page.errors()
    page = page.next(resources__max_jobs="")
    assert page.step == "review", page.errors()
    ranges = page.request_json()["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert sorted(ranges["CategoricalParameterRanges"], key=lambda r: r["Name"]) == [
        {"Name": "eta", "Values": ["0.1", "0.2", "0.3"]}, {"Name": "max_depth", "Values": ["3", "5"]}]
    assert not ranges.get("IntegerParameterRanges") and not ranges.get("ContinuousParameterRanges")
    # The review says how many training jobs the grid runs: 2 x 3 combinations.
    assert '<dd id="grid-combinations">6 combinations of the categorical values</dd>' in page.html


def test_a_numeric_value_list_is_checked_against_the_parameters_bounds(bob_client, project, root):
    page = start(bob_client).next(job__name="grid-bounds", job__strategy="Grid")
    page = page.next({**fill_channels(page, root),
                      hp(page, "subsample", "kind"): "Categorical", hp(page, "subsample", "values"): "0.5, 7"})
    assert page.step == "definitions"
    assert any("7" in e for e in page.error_near(hp(page, "subsample", "values"))), page.errors()


def test_a_builtin_metric_has_its_own_direction(defs):
    page = defs.next({"def-objective_metric": "validation:rmse", "def-objective_type": "Maximize"})
    page = page.next()
    assert page.request_json()["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] == {
        "Type": "Minimize", "MetricName": "validation:rmse"}


def test_a_metric_the_builtin_cannot_be_tuned_towards_is_refused(defs):
    page = defs.next({"def-objective_metric": "validation:made-up"})
    assert page.step == "definitions"
    assert any("cannot be tuned towards 'validation:made-up'" in e for e in page.error_near("def-objective_metric"))


def test_definition_names_follow_the_pattern_and_are_unique(defs, root):
    page = defs.next({"def-name": "bad name"})
    assert page.error_near("def-name")
    page = page.act("add", {"def-name": "same"})
    page = page.next({"def-name": "same", **fill_channels(page, root)})
    assert page.step == "definitions"
    assert any("is already used by" in e for e in page.error_near("def-name"))
    assert page.next({"def-name": "other"}).step == "resources"


def test_the_first_definition_with_a_problem_is_opened(defs, root):
    page = defs.act("add", {hp(defs, "eta", "min"): ""})
    assert page.value("definitions-open") == "1"
    page = page.next(fill_channels(page, root))
    assert page.step == "definitions" and page.value("definitions-open") == "0"
    assert page.error_near(hp(page, "eta", "min")) == ["Enter the lowest value of the range."]
    assert "1 problem" in page.html


def test_channels_are_checked(defs, root, tmp_path):
    page = defs.next({"def-ch-0-uri": str(tmp_path)})
    assert any("is not in this project's data folders" in e for e in page.error_near("def-ch-0-uri"))
    page = page.next({"def-ch-0-uri": str(root / "train"), "def-ch-1-name": "train"})
    assert any("is used twice" in e for e in page.error_near("def-ch-1-name"))
    page = page.next({"def-ch-1-name": "", "def-ch-0-uri": ""})
    assert page.error_near("def-ch-1-name") == ["Name the channel, e.g. train."]
    assert page.error_near("def-ch-0-uri") == ["Enter where this channel's data is."]
    # Removing every channel leaves one blank row to fill in; a forged empty list is refused too.
    page = page.act("remove-row:channels:1").act("remove-row:channels:0")
    assert page.value("def-ch-TOTAL_FORMS") == "1"
    page = page.next({"def-ch-TOTAL_FORMS": "0", "def-ch-INITIAL_FORMS": "0"})
    assert "Give at least 1 of the channels." in page.table_errors("def-ch")


def test_at_most_twenty_channels(defs, root):
    page = defs
    for _ in range(18):
        page = page.act("add-row:channels")
    assert page.value("def-ch-TOTAL_FORMS") == "20"
    assert [b for b in page.buttons if b[1] == "add-row:channels"]
    page = page.act("add-row:channels")
    assert page.value("def-ch-TOTAL_FORMS") == "20" and "At most 20 rows here." in page.html


def test_an_instance_type_not_offered_is_refused(defs):
    page = defs.next({"def-instance_type": "ml.p5.48xlarge"})
    assert page.error_near("def-instance_type") == [
        "Instance type ml.p5.48xlarge is not offered on this portal; choose one of the list."]


def test_spot_training_needs_a_long_enough_wait(defs):
    page = defs.next({"def-use_spot": "on"})
    assert page.error_near("def-max_wait") == [
        "Spot training needs the longest time to wait for capacity, at least the max runtime."]
    page = page.next({"def-max_wait": "60", "def-max_runtime": "3600"})
    assert any("at least the max runtime" in e for e in page.error_near("def-max_wait"))
    page = page.next({"def-max_wait": "7200"})
    assert page.step == "resources"


def test_a_training_job_runs_at_most_28_days(defs):
    page = defs.next({"def-max_runtime": str(29 * 24 * 3600)})
    assert any("at most 28 days" in e for e in page.error_near("def-max_runtime"))


def test_a_forged_list_of_eleven_definitions_is_refused(defs):
    drafts = defs.drafts * 11
    for index, draft in enumerate(drafts):
        draft["fields"]["name"] = f"d{index}"
    page = defs.next({"definitions-drafts": json.dumps(drafts), "def-name": "d0"})
    assert page.step == "definitions"
    assert "A tuning job can have at most 10 training job definitions (got 11)." in page.errors()


# ---- custom algorithms -----------------------------------------------------------------------------
@pytest.fixture
def custom(defs):
    SiteSettings.objects.filter(pk=1).update(ecr_enabled=True)
    page = defs.act("load-defaults", {"def-algorithm_source": "custom", "def-image": EXAMPLE_IMAGE})
    return page.act("add-row:hyperparameters", {
        "def-md-0-name": "validation:accuracy", "def-md-0-regex": "validation_accuracy=([0-9.]+)",
        "def-objective_metric": "validation:accuracy",
    })


@pytest.mark.parametrize("regex,message", [
    ("validation_accuracy=[0-9.]+", "Must have exactly one capturing group, the metric's value (has 0)."),
    ("(a)=([0-9.]+)", "Must have exactly one capturing group, the metric's value (has 2)."),
    ("acc=([0-9.]+", "Not a valid regular expression"),
])
def test_a_metric_regex_must_compile_and_capture_one_group(custom, regex, message):
    page = custom.next({"def-md-0-regex": regex, "def-hp-0-name": "lr", "def-hp-0-min": "0.1", "def-hp-0-max": "1"})
    assert page.step == "definitions"
    assert any(e.startswith(message) for e in page.error_near("def-md-0-regex")), page.error_near("def-md-0-regex")


def test_a_custom_objective_must_be_a_defined_metric(custom):
    page = custom.next({"def-objective_metric": "validation:f1", "def-hp-0-name": "lr", "def-hp-0-min": "0.1",
                        "def-hp-0-max": "1"})
    assert any("must be one of this definition's metric definitions" in e for e in page.error_near("def-objective_metric"))
    page = page.next({"def-objective_metric": "validation:accuracy"})
    assert page.step == "resources", page.errors()


def test_a_custom_row_needs_a_name_and_a_value(custom):
    page = custom.act("add-row:hyperparameters").next({"def-hp-1-kind": "Static"})
    assert page.error_near("def-hp-0-name") == ["Enter the hyperparameter's name, or remove the row."]
    assert page.error_near("def-hp-1-value") == ["Enter a value, or remove the row."]


def test_at_most_forty_metric_definitions(custom):
    page = custom
    drafts = page.drafts
    assert drafts
    changes = {"def-md-TOTAL_FORMS": "41", "def-md-INITIAL_FORMS": "41"}
    for index in range(41):
        changes[f"def-md-{index}-name"] = f"m{index}"
        changes[f"def-md-{index}-regex"] = f"m{index}=([0-9.]+)"
    page = page.next({**changes, "def-objective_metric": "m0", "def-hp-0-name": "lr", "def-hp-0-min": "0.1",
                      "def-hp-0-max": "1"})
    assert "At most 40 metric definitions per definition." in page.table_errors("def-md")


def test_a_custom_image_the_local_engine_cannot_run_is_refused(custom):
    page = custom.next({"def-image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:1", "def-hp-0-name": "lr",
                        "def-hp-0-min": "0.1", "def-hp-0-max": "1"})
    assert any("The local engine cannot run image" in e for e in page.error_near("def-image"))


# ---- step 3: tuning resources ------------------------------------------------------------------------
@pytest.fixture
def resources(defs):
    page = defs.next()
    assert page.step == "resources"
    return page


def test_parallel_jobs_cannot_exceed_the_total(resources):
    page = resources.next(resources__max_parallel="8", resources__max_jobs="4")
    assert page.error_near("resources-max_parallel") == [
        "Max parallel training jobs cannot exceed max number of training jobs (got 8 parallel of 4 in all)"]
    assert page.next(resources__max_parallel="4").step == "review"


def test_the_budget_has_sagemakers_bounds(resources):
    page = resources.next(resources__max_jobs="751")
    assert any("at most 750" in e for e in page.error_near("resources-max_jobs"))
    page = page.next(resources__max_jobs="10", resources__max_runtime="60")
    assert any("at least 120" in e for e in page.error_near("resources-max_runtime"))
    assert page.next(resources__max_runtime="7200").step == "review"


def test_the_review_lists_a_missing_role_on_sagemaker(bob_client, project, root, settings):
    settings.HPO_BACKEND = "sagemaker"
    settings.SAGEMAKER_ROLE_ARN = ""
    SiteSettings.load()
    page = start(bob_client)
    # The sagemaker name check is not reached in this test: the job step is filled in the local way.
    settings.HPO_BACKEND = "local"
    page = page.next(job__name="no-role")
    settings.HPO_BACKEND = "sagemaker"
    changes = {f"def-ch-{i}-uri": f"s3://bucket/{n}/" for i, n in enumerate(["train", "validation"])}
    page = page.next({**changes, "def-output_path": "s3://bucket/out/"})
    page = page.next()
    assert page.step == "review"
    assert any("no SageMaker execution role" in e for e in page.errors())
    response = page.submit()
    assert response.step == "review" and not HpoJob.objects.exists()


# ---- built-in algorithms' defaults -------------------------------------------------------------------
def test_choosing_knn_names_the_evaluation_channel_after_its_test_metrics(project, alice):
    # k-NN's objective metrics are all test:…; with the default train/validation channels every
    # training job of a k-NN job failed ("Tuning k-NN needs a test channel").
    from hpo_jobs.wizard import forms

    options = forms.WizardOptions.for_project(project, alice)
    draft = forms.new_draft(options, "definition-1")
    assert [c["name"] for c in draft["channels"]] == ["train", "validation"]
    draft["fields"]["algorithm"] = "knn"
    forms.load_algorithm_defaults(draft, options)
    assert draft["fields"]["objective_metric"].startswith("test:")
    assert [c["name"] for c in draft["channels"]] == ["train", "test"]
    # Back to XGBoost (validation:… metrics): the channel follows.
    draft["fields"]["algorithm"] = "xgboost"
    forms.load_algorithm_defaults(draft, options)
    assert [c["name"] for c in draft["channels"]] == ["train", "validation"]


@pytest.mark.parametrize("algorithm, value", [("linear-learner", "binary_classifier"), ("knn", "classifier")])
def test_predictor_type_is_required_and_starts_filled_in(project, alice, algorithm, value):
    # SageMaker requires predictor_type for Linear Learner and k-NN. The wizard showed it blank with a
    # "default binary_classifier" placeholder, accepted it blank, and every training job then failed
    # with "Hyperparameter predictor_type is required".
    from hpo_jobs.sagemaker import catalogue
    from hpo_jobs.wizard import forms

    spec = next(h for h in catalogue.get(algorithm).hyperparameters if h.name == "predictor_type")
    assert spec.required
    options = forms.WizardOptions.for_project(project, alice)
    draft = forms.new_draft(options, "definition-1")
    draft["fields"]["algorithm"] = algorithm
    forms.load_algorithm_defaults(draft, options)
    row = next(r for r in draft["hyperparameters"] if r["name"] == "predictor_type")
    assert (row["kind"], row["value"]) == ("Static", value)
