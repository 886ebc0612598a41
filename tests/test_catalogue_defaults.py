"""Every built-in's default definition, as the wizard makes it, is a request SageMaker would run to an
evaluated training job: in three regions, it passes botocore's validation and the portal's, names the
image AWS's own library gives, reads its channels in a content type the algorithm takes, and tunes
towards an objective metric the algorithm reports under the hyperparameters chosen."""

from __future__ import annotations

import json

import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator

from hpo_jobs.models import SiteSettings
from hpo_jobs.backends import get_backend
from hpo_jobs.sagemaker import catalogue, spec
from hpo_jobs.sagemaker import request as facts
from hpo_jobs.wizard import convert, forms

from sagemaker.core import image_uris  # noqa: E402  (AWS's own library, the reference of these tests)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sagemaker_core_resolver_once")]
REGIONS = ("us-east-1", "eu-central-1", "ap-south-1")
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
CASES = [pytest.param(algorithm, region, id=f"{algorithm.key}:{region}")
         for algorithm in catalogue.ALGORITHMS.values() for region in REGIONS]
INPUT_SHAPE = get_session().get_service_model("sagemaker").operation_model(
    "CreateHyperParameterTuningJob").input_shape


def _options(project, user, region: str) -> forms.WizardOptions:
    return forms.WizardOptions(project=project, user=user, engine=get_backend("sagemaker"), region=region,
                               instance_types=SiteSettings.load().instance_type_list, ecr_enabled=False, ecr_allowed=[])


def _example_value(hp: catalogue.HyperparameterSpec) -> str:
    """A value a person would type for a required hyperparameter the catalogue has no default for."""
    if hp.value_type == "options":
        return hp.options[0]
    if hp.pattern:
        return "H"  # DeepAR's time_freq: hourly
    if hp.is_numeric:
        low = hp.min_value if hp.min_value is not None else 1
        value = max(low, 1) + (1 if hp.min_exclusive and max(low, 1) == low else 0)
        return str(int(value))
    return "1"


def _definitions_step(draft: dict, options: forms.WizardOptions) -> forms.DefinitionsStepForm:
    data = {"definitions-drafts": json.dumps([draft]), "definitions-open": "0"}
    return forms.DefinitionsStepForm(data, options=options)


@pytest.mark.parametrize("algorithm, region", CASES)
def test_the_default_definition_is_one_sagemaker_runs(algorithm, region, project, alice):
    project.sagemaker_role_arn = ROLE
    project.save()
    options = _options(project, alice, region)
    draft = forms.new_draft(options, "definition-1")
    draft["fields"]["algorithm"] = algorithm.key
    forms.load_algorithm_defaults(draft, options)
    draft["fields"]["output_path"] = "s3://bucket/output/"
    for channel in draft["channels"]:
        channel["uri"] = f"s3://bucket/{channel['name']}/"

    # Required hyperparameters without a default are asked for before Next.
    blank = [row for row in draft["hyperparameters"]
             if row["kind"] == "Static" and not row["value"] and algorithm.hyperparameter(row["name"]).required]
    step = _definitions_step(draft, options)
    assert step.is_valid() is (not blank), [row["name"] for row in blank]
    for row in blank:
        row["value"] = _example_value(algorithm.hyperparameter(row["name"]))
    step = _definitions_step(draft, options)
    assert step.is_valid(), step.editor(0, bound=True).values()

    request = convert.build_request(
        {"job": {"name": "tune-defaults", "strategy": "Bayesian", "early_stopping": "Off", "tags": []},
         "definitions": step.cleaned_data, "resources": {"max_parallel": 2, "max_jobs": 10}},
        project, alice,
    )
    report = ParamValidator().validate(request, INPUT_SHAPE)
    assert not report.has_errors(), report.generate_report()
    problems = spec.validate_request(request, spec.ValidationContext(engine=get_backend("sagemaker"), region=region))
    assert problems == [], problems

    (read,) = facts.definitions(request)
    definition = read.data
    assert definition["AlgorithmSpecification"]["TrainingImage"] == image_uris.retrieve(
        algorithm.image_framework, region, version=algorithm.default_version, image_scope="training")
    objective = read.objective
    metric = objective["MetricName"]
    assert algorithm.objective_metric(metric) is not None
    assert objective["Type"] == algorithm.objective_metric(metric).direction
    static = definition.get("StaticHyperParameters") or {}
    assert algorithm.objective_problems(metric, static) == []
    ranges = read.ranges
    assert any(ranges.get(kind) for kind in ("IntegerParameterRanges", "ContinuousParameterRanges",
                                             "CategoricalParameterRanges")), "something is tuned"
    channels = {c["ChannelName"]: c for c in definition["InputDataConfig"]}
    assert metric.split(":", 1)[0] in channels, "the objective's data channel is given"
    for spec_channel in algorithm.required_channels:
        assert spec_channel.name in channels
    for name, channel in channels.items():
        accepted = algorithm.channel(name)
        if accepted is not None:
            # the channel's default content type, one the algorithm reads (test_catalogue.GUIDE_CHANNELS)
            assert channel.get("ContentType") == accepted.default_content_type, (name, channel.get("ContentType"))
            assert accepted.default_content_type in accepted.content_types
    modes = {definition["AlgorithmSpecification"]["TrainingInputMode"]} | {
        c["InputMode"] for c in channels.values() if c.get("InputMode")}
    assert modes <= set(algorithm.input_modes), modes


def test_factorization_machines_channels_default_to_recordio_protobuf(project, alice):
    options = _options(project, alice, "us-east-1")
    draft = forms.new_draft(options, "definition-1")
    draft["fields"]["algorithm"] = "factorization-machines"
    forms.load_algorithm_defaults(draft, options)
    assert {c["name"]: c["content_type"] for c in draft["channels"]} == {
        "train": "application/x-recordio-protobuf", "test": "application/x-recordio-protobuf"}


def test_a_blazingtext_mode_that_never_reports_the_objective_is_refused_next_to_the_mode(project, alice):
    project.sagemaker_role_arn = ROLE
    project.save()
    options = _options(project, alice, "us-east-1")
    draft = forms.new_draft(options, "definition-1")
    draft["fields"]["algorithm"] = "blazingtext"
    forms.load_algorithm_defaults(draft, options)
    assert draft["fields"]["objective_metric"] == "validation:accuracy"
    mode = next(row for row in draft["hyperparameters"] if row["name"] == "mode")
    assert (mode["kind"], mode["value"]) == ("Static", "supervised")
    mode["value"] = "skipgram"
    definition = {"TuningObjective": {"MetricName": "validation:accuracy", "Type": "Maximize"},
                  "StaticHyperParameters": {"mode": "skipgram"}}
    problems = catalogue.get("blazingtext").objective_problems("validation:accuracy", definition["StaticHyperParameters"])
    assert problems == [("mode", "validation:accuracy is only reported with mode 'supervised'; with 'skipgram' no "
                                 "training job would report the objective metric")]
    request = {
        "HyperParameterTuningJobName": "tune-bt",
        "HyperParameterTuningJobConfig": {"Strategy": "Bayesian", "ResourceLimits": {"MaxNumberOfTrainingJobs": 2,
                                                                                     "MaxParallelTrainingJobs": 1},
                                          "HyperParameterTuningJobObjective": definition["TuningObjective"]},
        "TrainingJobDefinition": {
            "StaticHyperParameters": definition["StaticHyperParameters"],
            "HyperParameterRanges": {"IntegerParameterRanges": [{"Name": "epochs", "MinValue": "5", "MaxValue": "15"}]},
            "AlgorithmSpecification": {"TrainingImage": catalogue.get("blazingtext").image_uri("us-east-1"),
                                       "TrainingInputMode": "File"},
            "RoleArn": ROLE,
            "InputDataConfig": [{"ChannelName": n, "ContentType": "text/plain", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://bucket/{n}/"}}} for n in ("train", "validation")],
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/output/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    }
    problems = spec.validate_request(request, spec.ValidationContext(region="us-east-1"))
    assert [(p.path, p.message) for p in problems] == [
        ('TrainingJobDefinition.StaticHyperParameters["mode"]',
         "validation:accuracy is only reported with mode 'supervised'; with 'skipgram' no training job would report "
         "the objective metric")]


@pytest.mark.parametrize("key, metric, static, absent", [
    ("xgboost", "validation:auc", {"objective": "binary:logistic"}, ()),
    ("kmeans", "test:msd", {}, ("local_lloyd_max_iter",)),
    ("blazingtext", "validation:accuracy", {"mode": "supervised"}, ()),
    ("linear-learner", "validation:binary_classification_accuracy", {"predictor_type": "binary_classifier"},
     ("epochs",)),
])
def test_defaults_that_run(key, metric, static, absent, project, alice):
    options = _options(project, alice, "us-east-1")
    draft = forms.new_draft(options, "definition-1")
    draft["fields"]["algorithm"] = key
    forms.load_algorithm_defaults(draft, options)
    assert draft["fields"]["objective_metric"] == metric
    rows = {row["name"]: row for row in draft["hyperparameters"]}
    for name, value in static.items():
        assert (rows[name]["kind"], rows[name]["value"]) == ("Static", value)
    for name in absent:
        assert (rows[name]["kind"], rows[name]["value"]) == ("Static", ""), "left to the algorithm's default"
