"""Request validation by SageMaker's own rules: each rule fails once and passes once, with a readable message."""

from __future__ import annotations

import copy
import dataclasses
import re

import pytest
from botocore.validate import validate_parameters

from hpo_jobs.sagemaker import catalogue, spec
from hpo_jobs.sagemaker.spec import Issue, ValidationContext, check_shape, strip_read_only, validate_request

from .factories import (
    CTX,
    DATA_DIR,
    DELETE,
    LOCAL_CTX,
    TEAM_REGISTRY,
    channel,
    custom_definition,
    edit,
    grid_request,
    hyperband_request,
    in_data_folder,
    kmeans_request,
    linear_learner_request,
    multi_request,
    single_request,
    with_,
    xgb_ranges,
)

def issues_for(request: object, ctx: ValidationContext = CTX) -> list[Issue]:
    issues = validate_request(request, ctx)
    assert all(isinstance(issue, Issue) for issue in issues)
    assert not any(issue.message == spec.INTERNAL_ERROR for issue in issues), issues
    return issues


def assert_readable(message: str) -> None:
    """Plain words: a sentence, no Python reprs of containers, no placeholders, no tracebacks."""
    assert 10 < len(message) < 400, message
    assert not re.search(r"None|Traceback|<class|\{'|\{\"|\bshape\b|Exception", message), message
    assert message[0].isalpha() or message[0] in "_'", message
    assert message == message.strip()


C = "HyperParameterTuningJobConfig"
D = "TrainingJobDefinition"
D0, D1 = "TrainingJobDefinitions[0]", "TrainingJobDefinitions[1]"


def case(id_: str, build, path: str, text: str, ctx: ValidationContext = CTX):
    return pytest.param(build, ctx, path, text, id=id_)


# ---- the valid requests ------------------------------------------------------------------------------
def test_a_realistic_single_definition_xgboost_request_has_no_issues():
    assert issues_for(single_request()) == []


def test_a_realistic_two_definition_request_has_no_issues():
    assert issues_for(multi_request()) == []


def test_the_valid_requests_also_pass_botocores_own_client_checks():
    for request in (single_request(), multi_request()):
        validate_parameters(request, spec.input_shape())


def test_without_a_context_nothing_site_specific_is_checked():
    request = single_request()
    request["TrainingJobDefinition"]["ResourceConfig"]["InstanceType"] = "ml.p4d.24xlarge"
    assert validate_request(request, ValidationContext()) == []


# ---- every rule: a failing case ----------------------------------------------------------------------
S3 = f"{D}.InputDataConfig[0].DataSource.S3DataSource"
FAILING = [
    # (a) the service model, walked generically
    case("model-not-an-object", lambda: ["a", "list"], "", "must be a JSON object"),
    case("model-required", with_(single_request, (f"{C}.Strategy", DELETE)), f"{C}.Strategy", "Strategy is required"),
    case("model-required-nested", with_(single_request, (f"{D}.RoleArn", DELETE)), f"{D}.RoleArn", "Role ARN is required"),
    case("model-null-optional", with_(single_request, (f"{C}.RandomSeed", None)), f"{C}.RandomSeed",
         "Random seed must be a whole number or left out (got null)"),
    case("model-unknown-member", with_(single_request, (f"{C}.Stratgey", "Random")), f"{C}.Stratgey", "Unknown field 'Stratgey'"),
    case("model-unknown-top-level", with_(single_request, ("HyperParameterTuningJobStatus", "Completed")),
         "HyperParameterTuningJobStatus", "Unknown field"),
    case("model-integer-type", with_(single_request, (f"{C}.ResourceLimits.MaxParallelTrainingJobs", "3")),
         f"{C}.ResourceLimits.MaxParallelTrainingJobs", "must be a whole number (got '3')"),
    case("model-integer-not-float", with_(single_request, (f"{C}.ResourceLimits.MaxParallelTrainingJobs", 3.0)),
         f"{C}.ResourceLimits.MaxParallelTrainingJobs", "must be a whole number (got 3.0)"),
    case("model-integer-not-bool", with_(single_request, (f"{C}.RandomSeed", True)), f"{C}.RandomSeed", "whole number"),
    case("model-boolean-type", with_(single_request, (f"{D}.EnableManagedSpotTraining", "yes")),
         f"{D}.EnableManagedSpotTraining", "must be true or false"),
    case("model-list-type", with_(single_request, ("Tags", {"Key": "a"})), "Tags", "must be a list"),
    case("model-structure-type", with_(single_request, (f"{C}.ResourceLimits", [3])), f"{C}.ResourceLimits",
         "must be an object with named fields"),
    case("model-map-type", with_(single_request, (f"{D}.StaticHyperParameters", ["num_round", "10"])),
         f"{D}.StaticHyperParameters", "must be an object of names and values"),
    case("model-map-value-type", with_(single_request, (f'{D}.StaticHyperParameters["num_round"]', 200)),
         f'{D}.StaticHyperParameters["num_round"]', "must be text (got 200)"),
    case("model-float-type", with_(single_request, (f"{C}.TuningJobCompletionCriteria.TargetObjectiveMetricValue", "0.9")),
         f"{C}.TuningJobCompletionCriteria.TargetObjectiveMetricValue", "must be a number"),
    case("model-float-finite", with_(single_request, (f"{C}.TuningJobCompletionCriteria.TargetObjectiveMetricValue", float("nan"))),
         f"{C}.TuningJobCompletionCriteria.TargetObjectiveMetricValue", "must be a finite number"),
    case("model-max-length", with_(single_request, ("HyperParameterTuningJobName", "a" * 40)),
         "HyperParameterTuningJobName", "Job name must be at most 32 characters long (got 40)"),
    case("model-min-length", with_(single_request, (f"{D}.RoleArn", "arn:aws:iam::1:r")), f"{D}.RoleArn",
         "at least 20 characters"),
    case("model-empty-string", with_(multi_request, (f"{D0}.DefinitionName", "")), f"{D0}.DefinitionName",
         "Definition name must not be empty"),
    case("model-numeric-min", with_(single_request, (f"{C}.ResourceLimits.MaxParallelTrainingJobs", 0)),
         f"{C}.ResourceLimits.MaxParallelTrainingJobs", "must be at least 1 (got 0)"),
    case("model-numeric-max", with_(single_request, (f"{C}.ResourceLimits.MaxRuntimeInSeconds", 99_999_999)),
         f"{C}.ResourceLimits.MaxRuntimeInSeconds", "must be at most 15768000"),
    case("model-pattern", with_(single_request, ("HyperParameterTuningJobName", "bad_name!")),
         "HyperParameterTuningJobName", "may contain only letters, digits and hyphens"),
    case("model-pattern-trailing-hyphen", with_(single_request, ("HyperParameterTuningJobName", "churn-")),
         "HyperParameterTuningJobName", "must start and end with a letter or digit"),
    case("model-pattern-role", with_(single_request, (f"{D}.RoleArn", "arn:aws:iam::123:role/short-account")),
         f"{D}.RoleArn", "must be an IAM role ARN"),
    case("model-pattern-s3", with_(single_request, (f"{D}.OutputDataConfig.S3OutputPath", "ml-artifacts/hpo")),
         f"{D}.OutputDataConfig.S3OutputPath", "must be an s3:// (or https://) URI"),
    case("model-pattern-unicode-tag", with_(single_request, ("Tags[0].Key", "cost center!")), "Tags[0].Key",
         "may contain only letters, digits, spaces"),
    case("model-pattern-map-key", with_(single_request, (f"{D}.Environment", {"1BAD": "x"})),
         f'{D}.Environment["1BAD"]', "must start with a letter or '_'"),
    case("model-enum", with_(single_request, (f"{C}.Strategy", "Evolutionary")), f"{C}.Strategy",
         "Strategy must be one of Bayesian, Random, Hyperband, Grid (got 'Evolutionary')"),
    case("model-large-enum", with_(single_request, (f"{D}.ResourceConfig.InstanceType", "ml.m5.huge")),
         f"{D}.ResourceConfig.InstanceType", "'ml.m5.huge' is not a valid instance type"),
    case("model-list-max", with_(single_request, (f"{C}.ParameterRanges.CategoricalParameterRanges",
                                                  [{"Name": f"p{i}", "Values": ["1"]} for i in range(31)])),
         f"{C}.ParameterRanges.CategoricalParameterRanges", "can have at most 30 items (got 31)"),
    case("model-list-min", with_(single_request, (f"{D}.InputDataConfig", [])), f"{D}.InputDataConfig",
         "must have at least 1 item (got 0)"),
    case("model-list-max-definitions", lambda: edit(multi_request(), "TrainingJobDefinitions",
                                                    [custom_definition(DefinitionName=f"d{i}") for i in range(11)]),
         "TrainingJobDefinitions", "can have at most 10 items"),
    case("model-map-max", lambda: edit(single_request(), f"{D}.StaticHyperParameters",
                                       {f"k{i}": "1" for i in range(101)}),
         f"{D}.StaticHyperParameters", "can have at most 100 entries"),

    # (b) cross-field rules: the two forms of definitions
    case("one-form-not-both", with_(single_request, ("TrainingJobDefinitions", [custom_definition()])), "",
         "not both"),
    case("one-form-at-least", with_(single_request, (D, DELETE)), "", "needs a training job definition"),
    case("several-need-name", with_(multi_request, (f"{D1}.DefinitionName", DELETE)), f"{D1}.DefinitionName",
         "needs a definition name"),
    case("several-need-objective", with_(multi_request, (f"{D1}.TuningObjective", DELETE)), f"{D1}.TuningObjective",
         "needs an objective"),
    case("several-need-ranges", with_(multi_request, (f"{D1}.HyperParameterRanges", DELETE)),
         f"{D1}.HyperParameterRanges", "needs hyperparameter ranges"),
    case("single-needs-objective", with_(single_request, (f"{C}.HyperParameterTuningJobObjective", DELETE)),
         f"{C}.HyperParameterTuningJobObjective", "Objective is required with a single training job definition"),
    case("several-no-config-objective", with_(multi_request, (f"{C}.HyperParameterTuningJobObjective",
                                                              {"Type": "Maximize", "MetricName": "validation:auc"})),
         f"{C}.HyperParameterTuningJobObjective", "each definition carries its own objective"),
    case("several-no-config-ranges", with_(multi_request, (f"{C}.ParameterRanges", xgb_ranges())),
         f"{C}.ParameterRanges", "each definition carries its own hyperparameter ranges"),
    case("single-objective-once", with_(single_request, (f"{D}.TuningObjective",
                                                         {"Type": "Maximize", "MetricName": "validation:auc"})),
         f"{D}.TuningObjective", "set the objective in the tuning configuration"),
    case("single-ranges-once", with_(single_request, (f"{D}.HyperParameterRanges", xgb_ranges())),
         f"{D}.HyperParameterRanges", "given twice"),

    # strategies
    case("grid-categorical-only", with_(grid_request, (f"{C}.ParameterRanges.IntegerParameterRanges",
                                                       xgb_ranges()["IntegerParameterRanges"])),
         f"{C}.ParameterRanges.IntegerParameterRanges[0]", "Grid search takes categorical ranges only: make "),
    case("grid-needs-a-categorical", with_(grid_request, (f"{C}.ParameterRanges.CategoricalParameterRanges", [])),
         f"{C}.ParameterRanges", "Grid search needs at least one categorical range"),
    case("grid-max-jobs-equals-combinations", lambda: grid_request(max_jobs=30),
         f"{C}.ResourceLimits.MaxNumberOfTrainingJobs", "equal the number of value combinations (6) (got 30)"),
    case("grid-at-most-750-combinations", with_(grid_request, (f"{C}.ParameterRanges.CategoricalParameterRanges",
                                                               [{"Name": n, "Values": [str(v) for v in range(10)]}
                                                                for n in ("max_depth", "max_delta_step", "num_round")])),
         f"{C}.ParameterRanges", "would run 1000 training jobs"),
    case("hyperband-early-stopping-off", with_(lambda: hyperband_request(MaxResource=20),
                                               (f"{C}.TrainingJobEarlyStoppingType", "Auto")),
         f"{C}.TrainingJobEarlyStoppingType", "Hyperband stops training jobs early by itself: set early stopping to Off"),
    case("strategy-config-hyperband-only", with_(single_request, (f"{C}.StrategyConfig",
                                                                  {"HyperbandStrategyConfig": {"MaxResource": 10}})),
         f"{C}.StrategyConfig", "only for the Hyperband strategy"),
    case("hyperband-needs-max-resource", with_(hyperband_request, (f"{D0}.StaticHyperParameters", {})),
         f"{D0}.StaticHyperParameters", "Hyperband needs a max resource"),
    case("hyperband-epochs-whole-number", with_(hyperband_request, (f'{D0}.StaticHyperParameters["epochs"]', "ten")),
         f'{D0}.StaticHyperParameters["epochs"]', "must then be a whole number"),
    case("hyperband-min-below-max", lambda: hyperband_request(MinResource=30, MaxResource=20),
         f"{C}.StrategyConfig.HyperbandStrategyConfig.MinResource", "must not exceed its max resource (got 30 and 20)"),
    case("hyperband-min-below-inferred-max", lambda: hyperband_request(MinResource=30),
         f"{C}.StrategyConfig.HyperbandStrategyConfig.MinResource", "(got 30 and 20)"),
    case("hyperband-max-20000", lambda: hyperband_request(MaxResource=20001),
         f"{C}.StrategyConfig.HyperbandStrategyConfig.MaxResource", "at most 20000 epochs"),

    # budgets
    case("parallel-at-most-total", with_(single_request, (f"{C}.ResourceLimits.MaxParallelTrainingJobs", 31)),
         f"{C}.ResourceLimits.MaxParallelTrainingJobs", "cannot exceed max number of training jobs (got 31 parallel of 30"),
    case("parallel-quota", with_(single_request, (f"{C}.ResourceLimits.MaxParallelTrainingJobs", 101),
                                 (f"{C}.ResourceLimits.MaxNumberOfTrainingJobs", 500)),
         f"{C}.ResourceLimits.MaxParallelTrainingJobs", "at most 100"),
    case("total-quota", with_(single_request, (f"{C}.ResourceLimits.MaxNumberOfTrainingJobs", 751)),
         f"{C}.ResourceLimits.MaxNumberOfTrainingJobs", "at most 750 except with the Random strategy"),
    case("total-quota-random", with_(single_request, (f"{C}.Strategy", "Random"),
                                     (f"{C}.ResourceLimits.MaxNumberOfTrainingJobs", 10_001)),
         f"{C}.ResourceLimits.MaxNumberOfTrainingJobs", "at most 10000 with the Random strategy"),

    # warm start and early stopping
    case("warm-start-one-definition", with_(multi_request, ("WarmStartConfig", {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "churn-v1"}],
        "WarmStartType": "TransferLearning"})), "WarmStartConfig", "only available when tuning a single"),
    case("warm-start-unique-parents", with_(single_request, ("WarmStartConfig", {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "churn-v1"},
                                           {"HyperParameterTuningJobName": "CHURN-V1"}],
        "WarmStartType": "IdenticalDataAndAlgorithm"})),
         "WarmStartConfig.ParentHyperParameterTuningJobs[1].HyperParameterTuningJobName", "is listed twice"),
    case("warm-start-parents-of-this-project", with_(single_request, ("WarmStartConfig", {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "someone-elses"}],
        "WarmStartType": "IdenticalDataAndAlgorithm"})),
         "WarmStartConfig.ParentHyperParameterTuningJobs[0].HyperParameterTuningJobName",
         "is not a finished (Completed, Stopped or Failed) tuning job of this project"),
    case("warm-start-parent-named", with_(single_request, ("WarmStartConfig", {
        "ParentHyperParameterTuningJobs": [{}], "WarmStartType": "IdenticalDataAndAlgorithm"})),
         "WarmStartConfig.ParentHyperParameterTuningJobs[0].HyperParameterTuningJobName", "needs the name"),
    case("warm-start-not-itself", with_(single_request, ("WarmStartConfig", {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "churn-xgb-2024-06"}],
        "WarmStartType": "IdenticalDataAndAlgorithm"})),
         "WarmStartConfig.ParentHyperParameterTuningJobs[0].HyperParameterTuningJobName", "cannot warm start from itself"),
    case("warm-start-at-most-5", with_(single_request, ("WarmStartConfig", {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": f"p{i}"} for i in range(6)],
        "WarmStartType": "TransferLearning"})),
         "WarmStartConfig.ParentHyperParameterTuningJobs", "can have at most 5 items"),
    case("early-stopping-one-definition", with_(multi_request, (f"{C}.TrainingJobEarlyStoppingType", "Auto")),
         f"{C}.TrainingJobEarlyStoppingType", "only available when tuning a single training job definition"),
    case("early-stopping-supported-builtin", with_(kmeans_request, (f"{C}.TrainingJobEarlyStoppingType", "Auto")),
         f"{C}.TrainingJobEarlyStoppingType", "K-Means does not support early stopping (Auto); set it to Off"),
    case("early-stopping-linear-learner-objective", with_(lambda: linear_learner_request("validation:binary_f_beta"),
                                                          (f"{C}.TrainingJobEarlyStoppingType", "Auto")),
         f"{C}.TrainingJobEarlyStoppingType", "only with the objective"),

    # ranges
    case("range-name-not-empty", with_(single_request, (f"{C}.ParameterRanges.IntegerParameterRanges[0].Name", "")),
         f"{C}.ParameterRanges.IntegerParameterRanges[0].Name", "Hyperparameter name must not be empty"),
    case("range-one-list-only", with_(single_request, (f"{C}.ParameterRanges.CategoricalParameterRanges",
                                                       [{"Name": "eta", "Values": ["0.1", "0.2"]}])),
         f"{C}.ParameterRanges.CategoricalParameterRanges[0].Name", "'eta' has more than one range"),
    case("static-or-tuned", with_(single_request, (f'{D}.StaticHyperParameters["eta"]', "0.2")),
         f"{C}.ParameterRanges.ContinuousParameterRanges[0].Name", "is both static and tuned"),
    case("integer-range-integers", with_(single_request, (f"{C}.ParameterRanges.IntegerParameterRanges[0].MinValue", "3.5")),
         f"{C}.ParameterRanges.IntegerParameterRanges[0].MinValue",
         "Min value of an integer range must be a whole number (got '3.5')"),
    case("continuous-range-numbers", with_(single_request, (f"{C}.ParameterRanges.ContinuousParameterRanges[0].MaxValue", "half")),
         f"{C}.ParameterRanges.ContinuousParameterRanges[0].MaxValue", "must be a number (got 'half')"),
    case("continuous-range-finite", with_(single_request, (f"{C}.ParameterRanges.ContinuousParameterRanges[0].MaxValue", "inf")),
         f"{C}.ParameterRanges.ContinuousParameterRanges[0].MaxValue", "must be a number (got 'inf')"),
    case("min-below-max", with_(single_request, (f"{C}.ParameterRanges.IntegerParameterRanges[0].MinValue", "10"),
                                (f"{C}.ParameterRanges.IntegerParameterRanges[0].MaxValue", "5")),
         f"{C}.ParameterRanges.IntegerParameterRanges[0].MinValue", "Min value must be below max value (got 10 and 5)"),
    case("min-equal-max", with_(single_request, (f"{C}.ParameterRanges.IntegerParameterRanges[0].MinValue", "5"),
                                (f"{C}.ParameterRanges.IntegerParameterRanges[0].MaxValue", "5")),
         f"{C}.ParameterRanges.IntegerParameterRanges[0].MinValue", "(both are 5); to fix a hyperparameter to one value, make it static"),
    case("logarithmic-above-zero", with_(single_request, (f"{C}.ParameterRanges.ContinuousParameterRanges[0].MinValue", "0"),
                                         (f"{C}.ParameterRanges.ContinuousParameterRanges[0].ScalingType", "Logarithmic")),
         f"{C}.ParameterRanges.ContinuousParameterRanges[0].MinValue", "Logarithmic scaling needs values above 0"),
    case("reverse-log-continuous-only", with_(single_request, (f"{C}.ParameterRanges.IntegerParameterRanges[0].ScalingType", "ReverseLogarithmic")),
         f"{C}.ParameterRanges.IntegerParameterRanges[0].ScalingType", "only for continuous ranges"),
    case("reverse-log-below-one", with_(single_request, (f"{C}.ParameterRanges.ContinuousParameterRanges[1].ScalingType", "ReverseLogarithmic")),
         f"{C}.ParameterRanges.ContinuousParameterRanges[1].MaxValue", "from 0 up to but not including 1 (max value is 1)"),
    case("reverse-log-from-zero", lambda: edit(multi_request(), f"{D1}.HyperParameterRanges.ContinuousParameterRanges[0]", {
        "Name": "lr", "MinValue": "-0.1", "MaxValue": "0.9", "ScalingType": "ReverseLogarithmic"}),
         f"{D1}.HyperParameterRanges.ContinuousParameterRanges[0].MinValue", "(min value is -0.1)"),
    case("categorical-unique", with_(multi_request, (f"{D1}.HyperParameterRanges.CategoricalParameterRanges[0].Values", ["adam", "sgd", "adam"])),
         f"{D1}.HyperParameterRanges.CategoricalParameterRanges[0].Values[2]", "Value 'adam' is listed twice"),
    case("at-most-30-tuned", with_(multi_request, (f"{D1}.HyperParameterRanges", {
        "IntegerParameterRanges": [{"Name": f"i{n}", "MinValue": "1", "MaxValue": "2"} for n in range(10)],
        "ContinuousParameterRanges": [{"Name": f"c{n}", "MinValue": "1", "MaxValue": "2"} for n in range(10)],
        "CategoricalParameterRanges": [{"Name": f"k{n}", "Values": ["a", "b"]} for n in range(11)]})),
         f"{D1}.HyperParameterRanges", "At most 30 hyperparameters can be tuned"),
    case("at-most-100-hyperparameters", with_(multi_request, (f"{D1}.StaticHyperParameters",
                                                              {"epochs": "2", **{f"s{n}": "1" for n in range(97)}})),
         D1, "at most 99 static and tuned hyperparameters together"),
    case("auto-parameters-need-autotune", with_(single_request, (f"{C}.ParameterRanges.AutoParameters",
                                                                 [{"Name": "alpha", "ValueHint": "0.1"}])),
         f"{C}.ParameterRanges.AutoParameters", "only used with Autotune"),
    case("static-name-not-empty", with_(multi_request, (f'{D1}.StaticHyperParameters[""]', "1")),
         f'{D1}.StaticHyperParameters[""]', "Hyperparameter name must not be empty"),
    case("tuning-objective-reserved", with_(multi_request, (f'{D1}.StaticHyperParameters["_tuning_objective_metric"]', "x")),
         f'{D1}.StaticHyperParameters["_tuning_objective_metric"]', "is set by SageMaker"),

    # built-in algorithms, from the catalogue
    case("builtin-objective-emitted", with_(single_request, (f"{C}.HyperParameterTuningJobObjective.MetricName", "validation:accuracy_top5")),
         f"{C}.HyperParameterTuningJobObjective.MetricName", "XGBoost cannot be tuned towards 'validation:accuracy_top5'"),
    case("builtin-objective-direction", with_(single_request, (f"{C}.HyperParameterTuningJobObjective.Type", "Minimize")),
         f"{C}.HyperParameterTuningJobObjective.Type", "validation:auc must be Maximized, not Minimized"),
    case("builtin-static-exists", with_(single_request, (f'{D}.StaticHyperParameters["learning_rate"]', "0.1")),
         f'{D}.StaticHyperParameters["learning_rate"]', "XGBoost has no hyperparameter 'learning_rate'"),
    case("builtin-range-exists", with_(single_request, (f"{C}.ParameterRanges.IntegerParameterRanges[0].Name", "depth")),
         f"{C}.ParameterRanges.IntegerParameterRanges[0].Name", "XGBoost has no hyperparameter 'depth'"),
    case("builtin-static-only-not-tuned", with_(single_request, (f"{C}.ParameterRanges.CategoricalParameterRanges",
                                                                 [{"Name": "booster", "Values": ["gbtree", "dart"]}])),
         f"{C}.ParameterRanges.CategoricalParameterRanges[0].Name", "booster cannot be tuned (static only), not as Categorical"),
    case("builtin-allowed-range-type", with_(single_request, (f"{C}.ParameterRanges.ContinuousParameterRanges[0].Name", "num_round"),
                                             (f'{D}.StaticHyperParameters["num_round"]', DELETE)),
         f"{C}.ParameterRanges.ContinuousParameterRanges[0].Name", "num_round can be tuned only as Integer or Categorical, not as Continuous"),
    case("builtin-static-bounds", with_(single_request, (f'{D}.StaticHyperParameters["colsample_bytree"]', "1.5")),
         f'{D}.StaticHyperParameters["colsample_bytree"]', "colsample_bytree must be between 0 and 1 (got '1.5')"),
    case("builtin-static-options", with_(single_request, (f'{D}.StaticHyperParameters["booster"]', "forest")),
         f'{D}.StaticHyperParameters["booster"]', "booster must be one of gbtree, gblinear, dart"),
    case("builtin-range-bounds", with_(single_request, (f"{C}.ParameterRanges.ContinuousParameterRanges[1].MaxValue", "1.5")),
         f"{C}.ParameterRanges.ContinuousParameterRanges[1].MaxValue", "subsample must be between 0 and 1 (got 1.5)"),
    case("builtin-range-exclusive-bound", with_(linear_learner_request, (f"{C}.ParameterRanges.CategoricalParameterRanges",
                                                                         [{"Name": "positive_example_weight_mult", "Values": ["balanced", "0"]}])),
         f"{C}.ParameterRanges.CategoricalParameterRanges[0].Values[1]", "must be above 0"),
    case("builtin-categorical-options", with_(linear_learner_request, (f"{C}.ParameterRanges.CategoricalParameterRanges",
                                                                       [{"Name": "use_bias", "Values": ["true", "maybe"]}])),
         f"{C}.ParameterRanges.CategoricalParameterRanges[0].Values[1]", "use_bias must be one of true, false (got 'maybe')"),
    case("builtin-categorical-numeric-bounds", with_(grid_request, (f"{C}.ParameterRanges.CategoricalParameterRanges[1].Values", ["0.1", "1.5"])),
         f"{C}.ParameterRanges.CategoricalParameterRanges[1].Values[1]", "eta must be between 0 and 1 (got '1.5')"),
    case("builtin-required", with_(single_request, (f'{D}.StaticHyperParameters["num_round"]', DELETE)),
         f"{D}.StaticHyperParameters", "XGBoost needs the hyperparameter num_round (number of boosting rounds)"),
    case("builtin-image-region", lambda: single_request(), f"{D}.AlgorithmSpecification.TrainingImage",
         "This XGBoost image is from region us-east-1, but jobs run in eu-west-1: use 141502667606.dkr.ecr.eu-west-1",
         dataclasses.replace(CTX, region="eu-west-1")),
    case("builtin-region-known", linear_learner_request, f"{D}.AlgorithmSpecification.TrainingImage",
         "SageMaker publishes no Linear Learner image in xx-nowhere-9", dataclasses.replace(CTX, region="xx-nowhere-9")),

    # custom algorithms and metric definitions
    case("custom-objective-defined", with_(multi_request, (f"{D1}.TuningObjective.MetricName", "validation:ndcg")),
         f"{D1}.TuningObjective.MetricName", "must be one of this definition's metric definitions (train:loss, validation:loss)"),
    case("custom-needs-metric-definitions", with_(multi_request, (f"{D1}.AlgorithmSpecification.MetricDefinitions", DELETE)),
         f"{D1}.TuningObjective.MetricName", "none are defined"),
    case("metric-regex-compiles", with_(multi_request, (f"{D1}.AlgorithmSpecification.MetricDefinitions[1].Regex", "loss=([0-9")),
         f"{D1}.AlgorithmSpecification.MetricDefinitions[1].Regex", "Metric regex for 'train:loss': not a valid regular expression"),
    case("metric-regex-one-group", with_(multi_request, (f"{D1}.AlgorithmSpecification.MetricDefinitions[1].Regex", "loss=[0-9.]+")),
         f"{D1}.AlgorithmSpecification.MetricDefinitions[1].Regex", "must have exactly one capturing group, the metric's value (has 0)"),
    case("metric-regex-not-two-groups", with_(multi_request, (f"{D1}.AlgorithmSpecification.MetricDefinitions[1].Regex", "(train)_loss=([0-9.]+)")),
         f"{D1}.AlgorithmSpecification.MetricDefinitions[1].Regex", "(has 2)"),
    case("metric-names-unique", with_(multi_request, (f"{D1}.AlgorithmSpecification.MetricDefinitions[1].Name", "validation:loss")),
         f"{D1}.AlgorithmSpecification.MetricDefinitions[1].Name", "Metric 'validation:loss' is defined twice"),
    case("image-or-algorithm-name", with_(multi_request, (f"{D1}.AlgorithmSpecification.AlgorithmName", "my-algo")),
         f"{D1}.AlgorithmSpecification", "Give a training image or an algorithm name, not both"),
    case("image-needed", with_(single_request, (f"{D}.AlgorithmSpecification.TrainingImage", DELETE)),
         f"{D}.AlgorithmSpecification.TrainingImage", "Choose a built-in algorithm or give a training image"),
    case("custom-images-off", multi_request, f"{D1}.AlgorithmSpecification.TrainingImage",
         "Custom algorithm images are turned off on this portal", dataclasses.replace(CTX, ecr_enabled=False)),
    case("custom-image-allowed-registry", with_(multi_request, (f"{D1}.AlgorithmSpecification.TrainingImage",
                                                                "999999999999.dkr.ecr.us-east-1.amazonaws.com/miner:1")),
         f"{D1}.AlgorithmSpecification.TrainingImage", "is not from a registry this portal allows (allowed: " + TEAM_REGISTRY),
    case("custom-image-prefix-boundary", multi_request, f"{D1}.AlgorithmSpecification.TrainingImage", "not from a registry",
         dataclasses.replace(CTX, ecr_allowed=(TEAM_REGISTRY + "rank",))),
    case("algorithm-name-allowed", with_(multi_request, (f"{D1}.AlgorithmSpecification.TrainingImage", DELETE),
                                         (f"{D1}.AlgorithmSpecification.AlgorithmName", "marketplace-algo")),
         f"{D1}.AlgorithmSpecification.AlgorithmName", "is not under a prefix this portal allows"),
    case("algorithm-name-custom-off", with_(multi_request, (f"{D1}.AlgorithmSpecification.TrainingImage", DELETE),
                                            (f"{D1}.AlgorithmSpecification.AlgorithmName", "marketplace-algo")),
         f"{D1}.AlgorithmSpecification.AlgorithmName", "Custom algorithms are turned off", dataclasses.replace(CTX, ecr_enabled=False)),

    # names
    case("job-name-free", with_(single_request, ("HyperParameterTuningJobName", "Taken-Job")),
         "HyperParameterTuningJobName", "Job name 'Taken-Job' is already used by another tuning job"),
    case("job-name-check-unavailable", single_request, "HyperParameterTuningJobName",
         "Could not check whether job name 'churn-xgb-2024-06' is free",
         dataclasses.replace(CTX, name_taken=lambda name: 1 / 0)),
    case("definition-names-unique", with_(multi_request, (f"{D1}.DefinitionName", "xgboost")), f"{D1}.DefinitionName",
         "Definition name 'xgboost' is already used by TrainingJobDefinitions[0]"),
    case("channel-names-unique", with_(single_request, (f"{D}.InputDataConfig[1].ChannelName", "train")),
         f"{D}.InputDataConfig[1].ChannelName", "Channel name 'train' is used twice in this definition"),

    # instances, time, environment, data sources
    case("max-wait-spot-only", with_(single_request, (f"{D}.StoppingCondition.MaxWaitTimeInSeconds", 7200)),
         f"{D}.StoppingCondition.MaxWaitTimeInSeconds", "Max wait time is only for managed spot training"),
    case("max-wait-at-least-runtime", with_(single_request, (f"{D}.EnableManagedSpotTraining", True),
                                            (f"{D}.StoppingCondition.MaxWaitTimeInSeconds", 1800)),
         f"{D}.StoppingCondition.MaxWaitTimeInSeconds", "must be at least the max runtime (got 1800 and 3600 seconds)"),
    case("training-runtime-28-days", with_(single_request, (f"{D}.StoppingCondition.MaxRuntimeInSeconds", 28 * 86400 + 1)),
         f"{D}.StoppingCondition.MaxRuntimeInSeconds", "A training job can run at most 28 days"),
    case("instance-type-offered", with_(single_request, (f"{D}.ResourceConfig.InstanceType", "ml.p4d.24xlarge")),
         f"{D}.ResourceConfig.InstanceType", "Instance type 'ml.p4d.24xlarge' is not offered on this portal"),
    case("instance-type-offered-in-configs", with_(single_request, (f"{D}.ResourceConfig", DELETE),
                                                   (f"{D}.HyperParameterTuningResourceConfig", {"InstanceConfigs": [
                                                       {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
                                                       {"InstanceType": "ml.p5.48xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}]})),
         f"{D}.HyperParameterTuningResourceConfig.InstanceConfigs[1].InstanceType", "is not offered on this portal"),
    case("one-resource-config", with_(single_request, (f"{D}.HyperParameterTuningResourceConfig", {"InstanceType": "ml.m5.xlarge"})),
         D, "Give ResourceConfig or HyperParameterTuningResourceConfig, not both"),
    case("resource-config-needed", with_(single_request, (f"{D}.ResourceConfig", DELETE)), f"{D}.ResourceConfig",
         "Resource configuration (instance type and count) is required"),
    case("instance-type-needed", with_(single_request, (f"{D}.ResourceConfig", {"InstanceCount": 1})),
         f"{D}.ResourceConfig.InstanceType", "Choose an instance type"),
    case("instance-configs-exclusive", with_(single_request, (f"{D}.ResourceConfig", DELETE),
                                             (f"{D}.HyperParameterTuningResourceConfig", {"InstanceType": "ml.m5.xlarge", "InstanceConfigs": [
                                                 {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}]})),
         f"{D}.HyperParameterTuningResourceConfig.InstanceType", "With instance configs, leave out instance type"),
    case("instance-preferences-exclusive", with_(single_request, (f"{D}.ResourceConfig.InstancePreferences",
                                                                  [{"InstanceType": "ml.m5.large"}])),
         f"{D}.ResourceConfig.InstancePreferences", "cannot be combined with an instance type"),
    case("environment-48-in-total", lambda: edit(edit(multi_request(), f"{D0}.Environment", {f"A{i}": "1" for i in range(25)}),
                                                 f"{D1}.Environment", {f"B{i}": "1" for i in range(24)}),
         f"{D1}.Environment", "At most 48 environment variables in total across all definitions (got 49)"),
    case("one-data-source", with_(single_request, (f"{D}.InputDataConfig[0].DataSource.FileSystemDataSource", {
        "FileSystemId": "fs-0123456789abcdef0", "FileSystemAccessMode": "ro", "FileSystemType": "EFS",
        "DirectoryPath": "/data"})),
         f"{D}.InputDataConfig[0].DataSource", "exactly one of S3DataSource, FileSystemDataSource and DatasetSource (got 2)"),

    # a channel's augmented manifest: Pipe mode, with the attributes to read; attributes for nothing else
    case("augmented-manifest-pipe-only", with_(single_request, (f"{S3}.S3DataType", "AugmentedManifestFile"),
                                               (f"{S3}.AttributeNames", ["source-ref"])),
         f"{D}.InputDataConfig[0].InputMode", "Pipe input mode only (got File)"),
    case("augmented-manifest-own-mode", with_(single_request, (f"{S3}.S3DataType", "AugmentedManifestFile"),
                                              (f"{S3}.AttributeNames", ["source-ref"]),
                                              (f"{D}.AlgorithmSpecification.TrainingInputMode", "Pipe"),
                                              (f"{D}.InputDataConfig[0].InputMode", "FastFile")),
         f"{D}.InputDataConfig[0].InputMode", "Pipe input mode only (got FastFile)"),
    case("augmented-manifest-attributes", with_(single_request, (f"{S3}.S3DataType", "AugmentedManifestFile"),
                                                (f"{D}.InputDataConfig[0].InputMode", "Pipe")),
         f"{S3}.AttributeNames", "needs the names of the attributes"),
    case("attributes-only-augmented", with_(single_request, (f"{S3}.AttributeNames", ["source-ref"])),
         f"{S3}.AttributeNames", "read from an augmented manifest only"),
    # (c) the local engine
    case("local-runnable", kmeans_request, f"{D}.AlgorithmSpecification.TrainingImage",
         "K-Means is not runnable on the local engine (it runs XGBoost, Linear Learner and k-NN); run it on SageMaker",
         dataclasses.replace(LOCAL_CTX)),
    case("local-no-s3", single_request, f"{D}.InputDataConfig[0].DataSource.S3DataSource.S3Uri",
         "Channel 'train': the local engine reads local folders, not s3:// URIs", LOCAL_CTX),
    case("local-absolute", with_(single_request, (f"{D}.InputDataConfig[0].DataSource.S3DataSource.S3Uri", "data/train")),
         f"{D}.InputDataConfig[0].DataSource.S3DataSource.S3Uri", "give an absolute folder path or a file:// URI", LOCAL_CTX),
    case("local-inside-data-dirs", with_(single_request, (f"{D}.InputDataConfig[0].DataSource.S3DataSource.S3Uri", "/etc")),
         f"{D}.InputDataConfig[0].DataSource.S3DataSource.S3Uri", "is not in this project's data folders", LOCAL_CTX),
    case("local-dotdot", with_(single_request, (f"{D}.InputDataConfig[0].DataSource.S3DataSource.S3Uri", f"{DATA_DIR}/../../etc")),
         f"{D}.InputDataConfig[0].DataSource.S3DataSource.S3Uri", "is not in this project's data folders", LOCAL_CTX),
    case("local-encoded-dotdot", with_(single_request, (f"{D}.InputDataConfig[0].DataSource.S3DataSource.S3Uri", f"file://{DATA_DIR}/%2e%2e/x")),
         f"{D}.InputDataConfig[0].DataSource.S3DataSource.S3Uri", "is not in this project's data folders", LOCAL_CTX),
    case("local-sibling-prefix", with_(single_request, (f"{D}.InputDataConfig[0].DataSource.S3DataSource.S3Uri", f"{DATA_DIR}-other/x")),
         f"{D}.InputDataConfig[0].DataSource.S3DataSource.S3Uri", "is not in this project's data folders", LOCAL_CTX),
    case("local-file-uri-host", with_(single_request, (f"{D}.InputDataConfig[0].DataSource.S3DataSource.S3Uri", f"file://evil.example{DATA_DIR}/x")),
         f"{D}.InputDataConfig[0].DataSource.S3DataSource.S3Uri", "give an absolute folder path or a file:// URI", LOCAL_CTX),
    case("local-no-other-sources", with_(single_request, (f"{D}.InputDataConfig[0].DataSource", {"FileSystemDataSource": {
        "FileSystemId": "fs-0123456789abcdef0", "FileSystemAccessMode": "ro", "FileSystemType": "EFS", "DirectoryPath": "/data"}})),
         f"{D}.InputDataConfig[0].DataSource.FileSystemDataSource", "reads channels from local folders only", LOCAL_CTX),
    case("local-custom-images", multi_request, f"{D1}.AlgorithmSpecification.TrainingImage",
         "The local engine cannot run image", LOCAL_CTX),
    case("local-no-algorithm-resources", with_(multi_request, (f"{D1}.AlgorithmSpecification.TrainingImage", DELETE),
                                               (f"{D1}.AlgorithmSpecification.AlgorithmName", "marketplace-algo")),
         f"{D1}.AlgorithmSpecification.AlgorithmName", "not SageMaker algorithm resources", LOCAL_CTX),
]


@pytest.mark.parametrize("build, ctx, path, text", FAILING)
def test_it_reports(build, ctx, path, text, local_data):
    issues = issues_for(in_data_folder(build(), local_data), ctx)
    matching = [issue for issue in issues if issue.path == path and text in issue.message]
    assert matching, f"expected {text!r} at {path!r}; got {issues}"
    assert_readable(matching[0].message)


# ---- every rule: a passing case at its boundary --------------------------------------------------------
def local_request(uri: str) -> dict:
    request = single_request()
    for item in request[D]["InputDataConfig"]:
        item["DataSource"]["S3DataSource"]["S3Uri"] = uri + "/" + item["ChannelName"]
    return request


PASSING = [
    pytest.param(single_request, CTX, id="single"),
    pytest.param(multi_request, CTX, id="multi"),
    pytest.param(with_(single_request, ("Tags[0].Key", "Kostenstelle Größe 名前 ١٢٣ a_b.c:d/e=f+g-h@i")), CTX, id="unicode-tag"),
    pytest.param(with_(single_request, ("HyperParameterTuningJobName", "a" * 32)), CTX, id="name-32-chars"),
    pytest.param(with_(single_request, ("HyperParameterTuningJobName", "a--b")), CTX, id="name-inner-hyphens"),
    pytest.param(with_(single_request, (f"{C}.ResourceLimits.MaxParallelTrainingJobs", 30)), CTX, id="parallel-equals-total"),
    pytest.param(with_(single_request, (f"{C}.ResourceLimits.MaxNumberOfTrainingJobs", 750)), CTX, id="total-750"),
    pytest.param(with_(single_request, (f"{C}.Strategy", "Random"), (f"{C}.ResourceLimits.MaxNumberOfTrainingJobs", 10_000),
                       (f"{C}.ResourceLimits.MaxParallelTrainingJobs", 100)), CTX, id="random-10000-100-parallel"),
    pytest.param(lambda: grid_request(max_jobs=6), CTX, id="grid-max-equals-combinations"),
    pytest.param(grid_request, CTX, id="grid-max-omitted"),
    pytest.param(lambda: hyperband_request(MinResource=1, MaxResource=20000), CTX, id="hyperband-max-given"),
    pytest.param(lambda: hyperband_request(MinResource=20), CTX, id="hyperband-max-from-epochs"),
    pytest.param(with_(lambda: hyperband_request(), (f'{D0}.StaticHyperParameters', {"num_epochs": "50"})), CTX, id="hyperband-num-epochs"),
    pytest.param(with_(single_request, ("WarmStartConfig", {"ParentHyperParameterTuningJobs": [
        {"HyperParameterTuningJobName": "churn-v1"}, {"HyperParameterTuningJobName": "Churn-V2"}],
        "WarmStartType": "IdenticalDataAndAlgorithm"})), CTX, id="warm-start-two-parents"),
    pytest.param(with_(single_request, ("WarmStartConfig", {"ParentHyperParameterTuningJobs": [
        {"HyperParameterTuningJobName": "anything"}], "WarmStartType": "TransferLearning"})),
        dataclasses.replace(CTX, warm_start_parents=None), id="warm-start-parents-unchecked"),
    pytest.param(with_(single_request, (f"{C}.TrainingJobEarlyStoppingType", "Auto")), CTX, id="early-stopping-xgboost"),
    pytest.param(with_(linear_learner_request, (f"{C}.TrainingJobEarlyStoppingType", "Auto")), CTX, id="early-stopping-linear-learner"),
    pytest.param(with_(multi_request, ("TrainingJobDefinitions", [custom_definition()]),
                       (f"{C}.TrainingJobEarlyStoppingType", "Auto")), CTX, id="early-stopping-one-of-list"),
    pytest.param(kmeans_request, CTX, id="kmeans"),
    pytest.param(linear_learner_request, CTX, id="linear-learner"),
    pytest.param(with_(linear_learner_request, (f"{C}.ParameterRanges.CategoricalParameterRanges",
                                                [{"Name": "positive_example_weight_mult", "Values": ["balanced", "auto", "2.5"]}])),
                 CTX, id="builtin-categorical-numeric-or-option"),
    pytest.param(with_(single_request, (f"{C}.ParameterRanges.ContinuousParameterRanges[0].ScalingType", "Logarithmic")),
                 CTX, id="logarithmic-positive"),
    pytest.param(with_(single_request, (f"{C}.ParameterRanges.ContinuousParameterRanges[1].MaxValue", "0.99"),
                       (f"{C}.ParameterRanges.ContinuousParameterRanges[1].ScalingType", "ReverseLogarithmic")),
                 CTX, id="reverse-logarithmic-below-one"),
    pytest.param(with_(single_request, (f"{C}.ParameterRanges.IntegerParameterRanges[0].MinValue", "0"),
                       (f"{C}.ParameterRanges.IntegerParameterRanges[0].MaxValue", "1")), CTX, id="min-just-below-max"),
    pytest.param(with_(multi_request, (f"{D1}.HyperParameterRanges", {
        "IntegerParameterRanges": [{"Name": f"i{n}", "MinValue": "1", "MaxValue": "2"} for n in range(10)],
        "ContinuousParameterRanges": [{"Name": f"c{n}", "MinValue": "1", "MaxValue": "2"} for n in range(10)],
        "CategoricalParameterRanges": [{"Name": f"k{n}", "Values": ["a", "b"]} for n in range(10)]})), CTX, id="30-tuned"),
    pytest.param(with_(multi_request, (f"{D1}.StaticHyperParameters", {"epochs": "2", **{f"s{n}": "1" for n in range(96)}})),
                 CTX, id="99-hyperparameters"),
    pytest.param(with_(single_request, ("Autotune", {"Mode": "Enabled"}), (f"{C}.ParameterRanges.AutoParameters",
                                                                          [{"Name": "alpha", "ValueHint": "0.1"}])),
                 CTX, id="auto-parameters-with-autotune"),
    pytest.param(with_(single_request, ("HyperParameterTuningJobName", "taken-job-2")), CTX, id="job-name-free"),
    pytest.param(lambda: edit(single_request(), f"{D}.AlgorithmSpecification.TrainingImage",
                              catalogue.get("xgboost").image_uri("eu-west-1")),
                 dataclasses.replace(CTX, region="eu-west-1"), id="builtin-image-of-the-region"),
    pytest.param(multi_request, dataclasses.replace(CTX, ecr_allowed=(TEAM_REGISTRY.rstrip("/"),)), id="allowed-without-trailing-slash"),
    pytest.param(multi_request, dataclasses.replace(CTX, ecr_allowed=(TEAM_REGISTRY + "ranker",)), id="allowed-exact-repository"),
    pytest.param(with_(multi_request, (f"{D1}.AlgorithmSpecification.TrainingImage", DELETE),
                       (f"{D1}.AlgorithmSpecification.AlgorithmName", "arn:aws:sagemaker:us-east-1:123456789012:algorithm/ranker")),
                 dataclasses.replace(CTX, ecr_allowed=("arn:aws:sagemaker:us-east-1:123456789012:algorithm/",)), id="algorithm-name-allowed"),
    pytest.param(with_(single_request, (f"{D}.EnableManagedSpotTraining", True), (f"{D}.StoppingCondition.MaxWaitTimeInSeconds", 3600)),
                 CTX, id="spot-wait-equals-runtime"),
    pytest.param(with_(single_request, (f"{D}.StoppingCondition.MaxRuntimeInSeconds", 28 * 86400)), CTX, id="runtime-28-days"),
    pytest.param(with_(single_request, (f"{D}.ResourceConfig", DELETE), (f"{D}.HyperParameterTuningResourceConfig", {
        "AllocationStrategy": "Prioritized", "InstanceConfigs": [
            {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}]})), CTX, id="instance-configs"),
    pytest.param(lambda: edit(edit(multi_request(), f"{D0}.Environment", {f"A{i}": "1" for i in range(24)}),
                              f"{D1}.Environment", {f"B{i}": "1" for i in range(24)}), CTX, id="48-environment-variables"),
    pytest.param(with_(single_request, (f"{S3}.S3DataType", "AugmentedManifestFile"),
                       (f"{S3}.AttributeNames", ["source-ref", "class"]),
                       (f"{D}.InputDataConfig[0].InputMode", "Pipe")), CTX, id="augmented-manifest-in-pipe-mode"),
    pytest.param(with_(single_request, (f"{S3}.S3DataType", "AugmentedManifestFile"),
                       (f"{S3}.AttributeNames", ["source-ref"]),
                       (f"{D}.AlgorithmSpecification.TrainingInputMode", "Pipe")), CTX,
                 id="augmented-manifest-in-the-definitions-pipe-mode"),
    pytest.param(lambda: local_request(str(DATA_DIR)), LOCAL_CTX, id="local-absolute-path"),
    pytest.param(lambda: local_request(f"file://{DATA_DIR}/churn"), LOCAL_CTX, id="local-file-uri"),
    pytest.param(lambda: local_request(f"file://localhost{DATA_DIR}/a/../b"), LOCAL_CTX, id="local-file-uri-localhost-dotdot-inside"),
    pytest.param(lambda: edit(edit(linear_learner_request(), f"{D}.InputDataConfig", [
        channel("train", f"{DATA_DIR}/t"), channel("validation", f"{DATA_DIR}/v")]),
                              f"{C}.TrainingJobEarlyStoppingType", "Auto"), LOCAL_CTX, id="local-linear-learner"),
    pytest.param(lambda: edit(edit(multi_request(), "TrainingJobDefinitions", [custom_definition(
        InputDataConfig=[channel("train", f"{DATA_DIR}/ranker")])]),
        f"{D0}.AlgorithmSpecification.TrainingImage", "hpo-portal/example-custom:latest"), LOCAL_CTX, id="local-custom-image"),
]


@pytest.mark.parametrize("build, ctx", PASSING)
def test_it_accepts(build, ctx, local_data):
    assert issues_for(in_data_folder(build(), local_data), ctx) == []


def test_a_tune_only_hyperparameter_cannot_be_static(monkeypatch):
    # No built-in in the reference has a tune-only hyperparameter; the rule is data-driven, so check it
    # against a spec that has one.
    xgb = catalogue.get("xgboost")
    tune_only = dataclasses.replace(xgb.hyperparameter("num_round"), allowed_types=("Integer",))
    monkeypatch.setitem(catalogue._hp_index(xgb.key), "num_round", tune_only)
    issues = issues_for(single_request())
    assert Issue(f'{D}.StaticHyperParameters["num_round"]', "num_round must be tuned, not static") in issues


def test_a_symlink_out_of_the_data_folder_is_refused(local_data, tmp_path):
    outside = tmp_path / "secrets"
    outside.mkdir()
    (outside / "train").mkdir()
    (outside / "validation").mkdir()
    (local_data / "innocent").symlink_to(outside)
    for channel_name in ("train", "validation"):
        (local_data / "fine" / channel_name).mkdir(parents=True)
    issues = issues_for(local_request(str(local_data / "innocent")), LOCAL_CTX)
    assert [i.path for i in issues] == [f"{D}.InputDataConfig[0].DataSource.S3DataSource.S3Uri",
                                        f"{D}.InputDataConfig[1].DataSource.S3DataSource.S3Uri"]
    assert "is not in this project's data folders" in issues[0].message
    assert issues_for(local_request(str(local_data / "fine")), LOCAL_CTX) == []


def test_a_data_folder_given_through_a_symlink_still_admits_its_own_paths(settings, tmp_path):
    real = tmp_path / "real"
    for channel_name in ("train", "validation"):
        (real / channel_name).mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    settings.HPO_LOCAL_DATA_DIRS = [tmp_path / "link"]
    assert issues_for(local_request(str(real)), LOCAL_CTX) == []


def test_with_no_data_folders_every_local_channel_is_refused(settings):
    settings.HPO_LOCAL_DATA_DIRS = []
    issues = issues_for(local_request(str(DATA_DIR)), LOCAL_CTX)
    assert issues and all("has no data folders" in i.message for i in issues)


def test_it_never_asks_the_engine_about_a_malformed_name():
    asked = []
    ctx = dataclasses.replace(CTX, name_taken=lambda name: asked.append(name) or False)
    issues_for(edit(single_request(), "HyperParameterTuningJobName", "bad name"), ctx)
    issues_for(single_request(), ctx)
    assert asked == ["churn-xgb-2024-06"]


def test_issues_are_not_repeated():
    issues = issues_for(edit(single_request(), f"{D}.InputDataConfig[1].ChannelName", "train"))
    assert len(issues) == len(set(issues))
    assert [i.path for i in issues if "twice" in i.message] == [f"{D}.InputDataConfig[1].ChannelName"]


# ---- the generic service-model checker ---------------------------------------------------------------
def test_the_walker_finds_nothing_in_the_valid_requests():
    for request in (single_request(), multi_request(), grid_request(), hyperband_request(MaxResource=9)):
        assert check_shape(request) == []


def test_the_walker_reads_the_model_rejecting_a_long_name_a_bad_enum_and_a_bad_pattern():
    issues = check_shape(edit(edit(edit(single_request(), "HyperParameterTuningJobName", "x" * 33),
                                   f"{C}.Strategy", "Annealing"),
                              f"{D}.InputDataConfig[0].ChannelName", "train data"))
    assert [i.path for i in issues] == ["HyperParameterTuningJobName", f"{C}.Strategy",
                                        f"{D}.InputDataConfig[0].ChannelName"]
    # The limits in the messages come from the model itself, not from constants in our code.
    model = spec.input_shape()
    assert str(model.members["HyperParameterTuningJobName"].metadata["max"]) in issues[0].message
    assert all(value in issues[1].message
               for value in model.members["HyperParameterTuningJobConfig"].members["Strategy"].metadata["enum"])
    assert issues[2].message.startswith("Channel name may contain only letters, digits")


def test_the_walker_checks_any_shape_given():
    shape = spec.input_shape().members["HyperParameterTuningJobConfig"].members["ResourceLimits"]
    assert check_shape({"MaxParallelTrainingJobs": 0, "Extra": 1}, shape, "Limits") == [
        Issue("Limits.MaxParallelTrainingJobs", "Max parallel training jobs must be at least 1 (got 0)"),
        Issue("Limits.Extra", "Unknown field 'Extra' in Resource limits: SageMaker does not accept it here"),
    ]


def test_the_walker_finds_every_problem_botocores_client_finds_and_more():
    request = edit(edit(single_request(), "HyperParameterTuningJobName", "x" * 40), f"{C}.ResourceLimits.MaxParallelTrainingJobs", 0)
    with pytest.raises(Exception, match="MaxParallelTrainingJobs"):
        validate_parameters(request, spec.input_shape())  # botocore sees the minimum, not the maximum
    assert {i.path for i in check_shape(request)} == {"HyperParameterTuningJobName",
                                                      f"{C}.ResourceLimits.MaxParallelTrainingJobs"}


# ---- Java patterns ----------------------------------------------------------------------------------
def _all_patterns(shape, seen=None) -> set[str]:
    seen = set() if seen is None else seen
    if shape.name in seen:
        return set()
    seen.add(shape.name)
    found = {shape.metadata["pattern"]} if "pattern" in shape.metadata else set()
    children = (list(shape.members.values()) if shape.type_name == "structure"
                else [shape.member] if shape.type_name == "list"
                else [shape.key, shape.value] if shape.type_name == "map" else [])
    for child in children:
        found |= _all_patterns(child, seen)
    return found


def test_every_pattern_in_the_operation_translates_to_python():
    patterns = _all_patterns(spec.input_shape())
    assert len(patterns) >= 15
    for pattern in patterns:
        assert spec.compile_java_regex(pattern) is not None, pattern


@pytest.mark.parametrize("pattern, text, matches", [
    (r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", "Größe 名前 ١٢٣ x_y", True),
    (r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", "emoji 🙂", False),
    (r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", "a!b", False),
    (r"\pL+", "äbc", True),
    (r"\P{N}+", "abc", True),
    (r"\P{N}+", "ab1", False),
    (".+", "one line", True),
    (".+", "two\rlines", False),  # Java's "." stops at \r, \u0085, \u2028 too
    (".+", "x\u2028y", False),
    (r"[\S\s]*", "any\nthing\r", True),
    (r"\w+", "héllo", False),  # Java's \w is ASCII
    (r"\d{12}", "١٢٣٤٥٦٧٨٩٠١٢", False),  # and so is \d
    (r"(?<year>\d{4})", "2024", True),
    (r"[a-z0-9-\.]{3}", "a-.", True),
    (r"([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)", "algo-", False),
])
def test_java_patterns_mean_in_python_what_they_mean_in_java(pattern, text, matches):
    assert (spec.compile_java_regex(pattern).fullmatch(text) is not None) is matches


@pytest.mark.parametrize("pattern", [r"\Qa.b\E", r"a*+", r"[a-z&&[def]]", r"\p{javaLowerCase}", r"a\z", r"[]a]", r"\h"])
def test_java_constructs_it_does_not_know_are_refused_not_misread(pattern):
    with pytest.raises(ValueError):
        spec.translate_java_regex(pattern)
    assert spec.compile_java_regex(pattern) is None


# ---- import -------------------------------------------------------------------------------------------
def test_strip_read_only_turns_a_describe_response_into_a_request():
    request = single_request()
    described = copy.deepcopy(request)
    del described["Tags"]
    described.update({
        "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/churn",
        "HyperParameterTuningJobStatus": "Completed", "CreationTime": "2024-06-01T10:00:00Z",
        "TrainingJobStatusCounters": {"Completed": 30}, "ObjectiveStatusCounters": {"Succeeded": 30},
        "BestTrainingJob": {"TrainingJobName": "x"}, "ResponseMetadata": {"HTTPStatusCode": 200},
    })
    described[D]["SomethingNew"] = {"nested": True}
    described[D]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["Unmodelled"] = 1
    stripped = strip_read_only(described)
    expected = copy.deepcopy(request)
    del expected["Tags"]
    assert stripped == expected
    assert issues_for(stripped) == []
    assert "SomethingNew" in described[D], "the input is not modified"


def test_strip_read_only_keeps_values_of_the_wrong_type_for_the_validator_to_report():
    data = {"HyperParameterTuningJobName": 5, "HyperParameterTuningJobConfig": "oops", "TrainingJobDefinitions": {"a": 1}}
    assert strip_read_only(data) == data
    assert strip_read_only(["not", "a", "dict"]) == ["not", "a", "dict"]  # type: ignore[arg-type]


def test_input_shape_is_the_operations_input_and_is_cached():
    assert spec.input_shape() is spec.input_shape()
    assert spec.input_shape().name == "CreateHyperParameterTuningJobRequest"
    assert set(spec.input_shape().required_members) == {"HyperParameterTuningJobName", "HyperParameterTuningJobConfig"}


@pytest.mark.parametrize("uri, allowed", [
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1", True),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com", True),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/x:1", False),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.comx/x:1", False),
    ("999999999999.dkr.ecr.us-east-1.amazonaws.com/x:1", False),
])
def test_allowed_by_matches_prefixes_only_at_a_boundary(uri, allowed):
    assert spec.allowed_by(uri, ["  ", "123456789012.dkr.ecr.us-east-1.amazonaws.com"]) is allowed
    assert spec.allowed_by(uri, []) is False


def test_it_refuses_reserved_and_repeated_tag_keys():
    request = multi_request()
    request["Tags"] = [{"Key": "aws:cost", "Value": "x"}, {"Key": "team", "Value": "a"}, {"Key": "team", "Value": "b"}]
    issues = {(i.path, i.message) for i in spec.validate_request(request, spec.ValidationContext())}
    assert ("Tags[0].Key", "Tag keys starting with 'aws:' are reserved for AWS (got 'aws:cost')") in issues
    assert ("Tags[2].Key", "Tag 'team' is given twice") in issues
    request["Tags"] = [{"Key": "team", "Value": "a"}]
    assert not [i for i in spec.validate_request(request, spec.ValidationContext()) if i.path.startswith("Tags")]


@pytest.mark.parametrize("name", ["create", "Import"])
def test_it_refuses_job_names_of_the_portals_own_pages(name):
    request = multi_request()
    request["HyperParameterTuningJobName"] = name
    issues = [i for i in validate_request(request, ValidationContext()) if i.path == "HyperParameterTuningJobName"]
    assert len(issues) == 1 and "the name of one of the portal's own pages" in issues[0].message
