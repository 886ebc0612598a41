"""The developer guide's hyperparameter facts and the rules between hyperparameters, as the catalogue states
them (catalogue_data/SOURCES.md), checked by the validator next to the field and shown so by the wizard."""

from __future__ import annotations

import pytest

from hpo_jobs.sagemaker import catalogue
from hpo_jobs.sagemaker.catalogue import Tuned
from hpo_jobs.sagemaker.spec import ValidationContext, validate_request

from .factories import builtin_request
from .wizard_helpers import start

D = "TrainingJobDefinition"
R = "HyperParameterTuningJobConfig.ParameterRanges"  # builtin_request's ranges, moved into the definition
CTX = ValidationContext(region="us-east-1")


# ---- the hyperparameters pages of the built-ins first checked against the reference notes -------------
# key, name: (required, default, the bounds in words, the values besides numbers)
GUIDE_FACTS = {
    ("linear-learner", "feature_dim"): (False, "auto", "at least 1", ("auto",)),
    ("linear-learner", "num_calibration_samples"): (False, "auto", "at least 1", ("auto",)),
    ("linear-learner", "wd"): (False, "auto", "at least 0", ("auto",)),
    ("linear-learner", "learning_rate"): (False, "auto", "at least 1e-09", ("auto",)),
    ("linear-learner", "lr_scheduler_step"): (False, "auto", "at least 1", ("auto",)),
    ("linear-learner", "init_scale"): (False, "0.07", "at least 1e-10", ()),
    ("linear-learner", "init_sigma"): (False, "0.01", "at least 1e-10", ()),
    ("linear-learner", "margin"): (False, "1.0", "at least 0", ()),
    ("linear-learner", "quantile"): (False, "0.5", "between 1e-08 and 0.99999999", ()),
    ("linear-learner", "positive_example_weight_mult"): (False, "1.0", "above 0", ("balanced", "auto")),
    ("linear-learner", "num_classes"): (False, None, "between 3 and 1000000", ()),
    ("linear-learner", "accuracy_top_k"): (False, "3", "at least 1", ()),
    ("xgboost", "objective"): (False, "reg:squarederror", "", None),
    ("xgboost", "colsample_bynode"): (False, "1", "above 0 and at most 1", ()),
    ("xgboost", "seed"): (False, "0", "", ()),
    ("xgboost", "deterministic_histogram"): (False, "true", "", ("true", "false")),
    ("xgboost", "single_precision_histogram"): (False, "false", "", ("true", "false")),
    ("knn", "dimension_reduction_target"): (False, None, "at least 1", ()),
    ("factorization-machines", "num_factors"): (True, None, "at least 1", ()),
    ("factorization-machines", "factors_init_sigma"): (False, "0.001", "at least 0", ()),
    ("factorization-machines", "bias_lr"): (False, "0.1", "at least 0", ()),
    ("factorization-machines", "linear_init_value"): (False, None, "", ()),
    ("image-classification", "checkpoint_frequency"): (False, None, "at least 1", ()),
    ("image-classification", "resize"): (False, None, "at least 1", ()),
}


@pytest.mark.parametrize("key, name", GUIDE_FACTS, ids=[f"{k}:{n}" for k, n in GUIDE_FACTS])
def test_hyperparameters_follow_their_guide_page(key, name):
    required, default, bounds, options = GUIDE_FACTS[key, name]
    spec = catalogue.get(key).hyperparameter(name)
    assert (spec.required, spec.default, spec.bounds_text()) == (required, default, bounds)
    if options is not None:
        assert spec.options == options
    assert spec.default is None or spec.check_value(spec.default) is None


def test_linear_learners_auto_values_are_accepted_and_feature_dim_is_optional():
    algorithm = catalogue.get("linear-learner")
    assert "feature_dim" not in {hp.name for hp in algorithm.required_hyperparameters}
    assert algorithm.hyperparameter("wd").check_value("auto") is None
    assert algorithm.hyperparameter("num_classes").check_value("2") == "num_classes must be between 3 and 1000000 " \
                                                                       "(got '2')"


# ---- the rules between hyperparameters, through the catalogue ------------------------------------------
def test_factorization_machines_init_values_take_effect_with_their_method_only():
    fm = catalogue.get("factorization-machines")
    assert fm.hyperparameter_problems({"factors_init_sigma": "0.01"}) == []  # normal is the default method
    assert fm.hyperparameter_problems({"factors_init_method": "uniform", "factors_init_scale": "0.5"}) == []
    assert fm.hyperparameter_problems({"linear_init_method": "constant", "linear_init_value": "0.1"}) == []
    (problem,) = fm.hyperparameter_problems({"bias_init_scale": "0.5"})
    assert (problem.hyperparameter, problem.member) == ("bias_init_scale", None)
    assert problem.message == ("bias_init_scale takes effect only with bias_init_method 'uniform' (it is left at "
                               "its default, 'normal'); it would be set for nothing: set bias_init_method to "
                               "'uniform', or leave bias_init_scale out")
    (problem,) = fm.hyperparameter_problems({"factors_init_method": "constant"},
                                            {"factors_init_sigma": Tuned("Continuous", low=1e-8, high=1.0)})
    assert problem.message.startswith("factors_init_sigma takes effect only with factors_init_method 'normal' "
                                      "(it is 'constant'); it would be tuned for nothing")
    # The method tuned over values of which one uses the value: it takes effect in some training jobs.
    assert fm.hyperparameter_problems({"bias_init_scale": "0.5"},
                                      {"bias_init_method": Tuned("Categorical", values=("uniform", "normal"))}) == []
    (problem,) = fm.hyperparameter_problems({"bias_init_scale": "0.5"},
                                            {"bias_init_method": Tuned("Categorical", values=("normal", "constant"))})
    assert "(it is tuned over 'constant', 'normal')" in problem.message


def test_seq2seqs_weight_init_scale_range_follows_weight_init_type():
    s2s = catalogue.get("seq2seq")
    assert s2s.hyperparameter_problems({}, {"weight_init_scale": Tuned("Continuous", low=2.0, high=3.0)}) == []
    assert s2s.hyperparameter_problems({"weight_init_type": "uniform"},
                                       {"weight_init_scale": Tuned("Continuous", low=-1.0, high=1.0)}) == []
    problems = s2s.hyperparameter_problems({"weight_init_type": "uniform"},
                                           {"weight_init_scale": Tuned("Continuous", low=2.0, high=3.0)})
    assert [(p.member, p.message) for p in problems] == [
        ("MaxValue", "With weight_init_type 'uniform' the guide's range of weight_init_scale is -1 to 1 "
                     "(max value is 3)")]
    (problem,) = s2s.hyperparameter_problems({}, {
        "weight_init_type": Tuned("Categorical", values=("xavier", "uniform")),
        "weight_init_scale": Tuned("Continuous", low=2.0, high=3.0)})
    assert problem.message == ("weight_init_scale's range depends on weight_init_type ('uniform': -1 to 1; "
                               "'xavier': 2 to 3); tune weight_init_scale with weight_init_type fixed to one of them")
    # A static scale is the algorithm's own business under either type (its default, 2.34, applies to both).
    assert s2s.hyperparameter_problems({"weight_init_type": "uniform", "weight_init_scale": "2.34"}) == []


@pytest.mark.parametrize("key, static, needed", [
    ("xgboost", {"objective": "multi:softprob"}, "num_class"),
    ("linear-learner", {"predictor_type": "multiclass_classifier"}, "num_classes"),
    ("knn", {"dimension_reduction_type": "sign"}, "dimension_reduction_target"),
])
def test_a_hyperparameter_the_guide_requires_with_anothers_value(key, static, needed):
    algorithm = catalogue.get(key)
    ((on, value),) = static.items()
    (problem,) = algorithm.hyperparameter_problems(static)
    assert (problem.hyperparameter, problem.message) == (
        on, f"{algorithm.display_name} needs {needed} when {on} is {value!r}")
    assert algorithm.hyperparameter_problems({**static, needed: "3"}) == []
    assert algorithm.hyperparameter_problems({}) == []


@pytest.mark.parametrize("mode, refused", [
    ("supervised", {"window_size", "negative_samples", "sampling_threshold", "batch_size", "subwords", "min_char",
                    "max_char", "evaluation"}),
    ("skipgram", {"batch_size", "word_ngrams", "early_stopping", "patience", "min_epochs"}),
    ("batch_skipgram", {"word_ngrams", "early_stopping", "patience", "min_epochs"}),
])
def test_blazingtext_takes_each_modes_own_hyperparameters(mode, refused):
    bt = catalogue.get("blazingtext")
    static = {hp.name: hp.default for hp in bt.hyperparameters if hp.default is not None and hp.name != "mode"}
    problems = bt.hyperparameter_problems({"mode": mode, **static})
    assert {p.hyperparameter for p in problems} == refused & set(static)


@pytest.mark.parametrize("algorithm", catalogue.ALGORITHMS.values(), ids=list(catalogue.ALGORITHMS))
def test_each_rule_names_hyperparameters_and_values_of_its_algorithm(algorithm):
    for rule in algorithm.hyperparameter_rules:
        assert rule.kind in catalogue.RULE_KINDS
        target, on = algorithm.hyperparameter(rule.hyperparameter), algorithm.hyperparameter(rule.on)
        assert target is not None and on is not None, rule
        for value in (*rule.values, *rule.ranges):
            assert on.check_value(value) is None, (rule, value)
        for low, high in rule.ranges.values():
            assert target.within_bounds(low) and target.within_bounds(high) and low < high
    # The default definition breaks none of them.
    static = dict(algorithm.default_static_values)
    tuned = {hp.name: Tuned(hp.initial_type, values=hp.initial_values, low=hp.suggested_min, high=hp.suggested_max)
             for hp in algorithm.hyperparameters if hp.initial_type != "Static"}
    assert algorithm.hyperparameter_problems(static, tuned) == []


# ---- the validator: each problem next to the hyperparameter it is about ----------------------------------
def _request(key: str, static: dict, ranges: dict | None = None) -> dict:
    algorithm = catalogue.get(key)
    metric = algorithm.default_objective.name
    required = {hp.name: "10" for hp in algorithm.required_hyperparameters
                if hp.default is None and hp.is_numeric and hp.name not in static}
    request = builtin_request(key, {**required, **dict(algorithm.default_static_values), **static}, metric, ranges)
    request[D]["InputDataConfig"] = [
        {"ChannelName": c.name, "ContentType": c.default_content_type,
         "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://bucket/{c.name}/"}}}
        for c in algorithm.channels if c.required or c.name == metric.split(":")[0]]
    return request


def _issues(request: dict) -> list[tuple[str, str]]:
    return [(issue.path, issue.message) for issue in validate_request(request, CTX)]


def test_the_validator_accepts_each_rules_good_side():
    assert _issues(_request("factorization-machines", {"bias_init_method": "uniform", "bias_init_scale": "0.1"})) == []
    assert _issues(_request("seq2seq", {"weight_init_type": "uniform"}, {
        "ContinuousParameterRanges": [{"Name": "weight_init_scale", "MinValue": "-1", "MaxValue": "1"}]})) == []
    assert _issues(_request("xgboost", {"objective": "multi:softmax", "num_class": "4"})) == []


def test_a_static_value_without_effect_is_refused_next_to_it():
    issues = _issues(_request("factorization-machines", {"linear_init_value": "0.1"}))
    assert issues == [(f'{D}.StaticHyperParameters["linear_init_value"]',
                       "linear_init_value takes effect only with linear_init_method 'constant' (it is left at its "
                       "default, 'normal'); it would be set for nothing: set linear_init_method to 'constant', or "
                       "leave linear_init_value out")]


def test_a_range_without_effect_is_refused_next_to_its_name():
    issues = _issues(_request("factorization-machines", {"bias_init_method": "constant"}, {
        "ContinuousParameterRanges": [{"Name": "bias_init_sigma", "MinValue": "0.001", "MaxValue": "1"}]}))
    assert [path for path, _ in issues] == [f"{R}.ContinuousParameterRanges[0].Name"]


def test_a_range_outside_the_guides_range_for_the_type_is_refused_at_its_bound():
    issues = _issues(_request("seq2seq", {"weight_init_type": "uniform"}, {
        "ContinuousParameterRanges": [{"Name": "weight_init_scale", "MinValue": "-2", "MaxValue": "1"}]}))
    assert issues == [(f"{R}.ContinuousParameterRanges[0].MinValue",
                       "With weight_init_type 'uniform' the guide's range of weight_init_scale is -1 to 1 (min value "
                       "is -2)")]


def test_a_needed_hyperparameter_is_asked_for_next_to_the_one_needing_it():
    assert _issues(_request("xgboost", {"objective": "multi:softmax"})) == [
        (f'{D}.StaticHyperParameters["objective"]', "XGBoost needs num_class when objective is 'multi:softmax'")]
    assert _issues(_request("knn", {"dimension_reduction_type": "fjlt"})) == [
        (f'{D}.StaticHyperParameters["dimension_reduction_type"]',
         "k-NN needs dimension_reduction_target when dimension_reduction_type is 'fjlt'")]


# ---- the validator: a channel's content type is one the built-in reads ------------------------------------
def test_a_content_type_the_built_in_does_not_read_is_refused_next_to_it():
    request = _request("factorization-machines", {})
    request[D]["InputDataConfig"][0]["ContentType"] = "text/csv"
    assert _issues(request) == [(f"{D}.InputDataConfig[0].ContentType", "Factorization Machines reads its train "
                                 "channel as application/x-recordio-protobuf (got 'text/csv')")]


@pytest.mark.parametrize("key, channel, content_type", [
    ("randomcutforest", "test", "text/csv;label_size=1"),
    ("randomcutforest", "test", "text/csv"),  # its parameters are the algorithm's to read
    ("image-classification", "train", "application/x-recordio; label-format=class-id"),
    ("xgboost", "train", "TEXT/LIBSVM"),
])
def test_a_content_type_the_built_in_reads_passes_with_any_parameters(key, channel, content_type):
    request = _request(key, {})
    (index,) = [i for i, c in enumerate(request[D]["InputDataConfig"]) if c["ChannelName"] == channel]
    request[D]["InputDataConfig"][index]["ContentType"] = content_type
    assert [path for path, _ in _issues(request) if path.endswith("ContentType")] == []


def test_channels_the_built_in_does_not_name_and_unset_content_types_are_left_alone():
    request = _request("factorization-machines", {})
    request[D]["InputDataConfig"][0].pop("ContentType")
    request[D]["InputDataConfig"].append({"ChannelName": "extra", "ContentType": "text/csv", "DataSource": {
        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/extra/"}}})
    assert _issues(request) == []


# ---- the validator: the channels a built-in needs ----------------------------------------------------------
@pytest.mark.parametrize("key", sorted(catalogue.ALGORITHMS))
def test_a_built_in_without_a_train_channel_is_refused_at_its_channels(key):
    request = _request(key, {})
    algorithm = catalogue.get(key)
    request[D]["InputDataConfig"] = [c for c in request[D]["InputDataConfig"] if c["ChannelName"] != "train"]
    assert (f"{D}.InputDataConfig", f"{algorithm.display_name} needs a train channel") in _issues(request)


def test_an_objective_computed_on_a_channel_the_job_lacks_is_refused_at_the_metric():
    request = _request("xgboost", {"objective": "binary:logistic"})
    request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] = {
        "Type": "Maximize", "MetricName": "validation:auc"}
    (validation,) = [c for c in request[D]["InputDataConfig"] if c["ChannelName"] == "validation"]
    request[D]["InputDataConfig"].remove(validation)
    assert _issues(request) == [(
        "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective.MetricName",
        "XGBoost reports validation:auc on its validation channel, which this definition does not have: add a "
        "validation channel, or choose an objective metric of a channel it has")]
    request[D]["InputDataConfig"].append(validation)
    assert _issues(request) == []


# ---- the wizard: the message next to the row ------------------------------------------------------------
@pytest.fixture
def fm_definitions(bob_client, project, moto_aws):
    """The definitions step of a new run on SageMaker with Factorization Machines' defaults loaded."""
    project.sagemaker_role_arn = "arn:aws:iam::123456789012:role/ProjectRole"
    project.save()
    page = start(bob_client).next(job__name="fm-rules")
    assert page.step == "definitions", page.errors()
    page = page.act("load-defaults", {"def-algorithm": "factorization-machines"})
    changes = {f"def-ch-{i}-uri": f"s3://bucket/{page.value(f'def-ch-{i}-name')}/"
               for i in range(int(page.value("def-ch-TOTAL_FORMS")))}
    changes |= {"def-output_path": "s3://bucket/output/",
                f"def-hp-{page.hp_index('feature_dim')}-value": "100",
                f"def-hp-{page.hp_index('num_factors')}-value": "64"}
    return page.type(changes)


def test_the_wizard_runs_factorization_machines_defaults(fm_definitions):
    page = fm_definitions.next()
    assert page.step == "resources", page.errors()


def test_the_wizard_shows_an_init_value_without_effect_next_to_it(fm_definitions):
    row = fm_definitions.hp_index("factors_init_scale")
    page = fm_definitions.next({f"def-hp-{row}-kind": "Static", f"def-hp-{row}-value": "0.5"})
    assert page.step == "definitions"
    assert page.error_near(f"def-hp-{row}-value") == [
        "factors_init_scale takes effect only with factors_init_method 'uniform' (it is left at its default, "
        "'normal'); it would be set for nothing: set factors_init_method to 'uniform', or leave factors_init_scale "
        "out"]
    # With the uniform method, the scale applies and the tuned sigma (a default range) no longer does.
    method, sigma = fm_definitions.hp_index("factors_init_method"), fm_definitions.hp_index("factors_init_sigma")
    page = page.next({f"def-hp-{method}-kind": "Static", f"def-hp-{method}-value": "uniform"})
    assert page.error_near(f"def-hp-{sigma}-name") == [
        "factors_init_sigma takes effect only with factors_init_method 'normal' (it is 'uniform'); it would be tuned "
        "for nothing: set factors_init_method to 'normal', or leave factors_init_sigma out"], page.errors()
    page = page.next({f"def-hp-{sigma}-kind": "Static", f"def-hp-{sigma}-value": ""})
    assert page.step == "resources", page.errors()


def test_the_wizard_shows_a_content_type_the_algorithm_does_not_read_next_to_it(fm_definitions):
    assert fm_definitions.value("def-ch-0-content_type") == "application/x-recordio-protobuf"
    page = fm_definitions.next({"def-ch-0-content_type": "text/csv"})
    assert page.step == "definitions"
    assert page.error_near("def-ch-0-content_type") == [
        "Factorization Machines reads its train channel as application/x-recordio-protobuf (got 'text/csv')"]


# ---- the local engine's runners take every hyperparameter the catalogue offers -------------------------
RUNNER_NAMES = """
import json
from hpo_jobs.local_engine.algorithms import knn_train, linear_learner_train, xgboost_train as x
print(json.dumps({
    "xgboost": sorted(set(x.NUMERIC) | set(x.CHOICES) | x.TEXT | x.OWN | x.IGNORED),
    "linear-learner": sorted(linear_learner_train.USED | linear_learner_train.IGNORED),
    "knn": sorted(knn_train.USED | knn_train.IGNORED),
}))
"""


def test_each_local_runner_accepts_every_hyperparameter_of_its_catalogue_entry():
    # In a process of its own: the XGBoost runner puts stand-ins for SciPy's modules in sys.modules.
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", RUNNER_NAMES], capture_output=True, text=True, check=True).stdout
    accepted = json.loads(out)
    assert set(accepted) == {a.key for a in catalogue.ALGORITHMS.values() if a.runnable_locally}
    for key, names in accepted.items():
        offered = {hp.name for hp in catalogue.get(key).hyperparameters}
        assert offered <= set(names), (key, sorted(offered - set(names)))
