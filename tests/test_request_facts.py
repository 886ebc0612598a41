"""SageMaker's facts about a request (hpo_jobs.sagemaker.request): its definitions in either form, the
form one or several definitions go out in, a grid's size, timestamps, statuses and error codes; and
that the module is Django-free, so the local engine's processes and any tool can read it."""

from __future__ import annotations

import copy
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import botocore.session
import pytest

from hpo_jobs.sagemaker import request as facts

from .factories import grid_request, multi_request, single_request, xgb_ranges


# ---- definitions, in either form --------------------------------------------------------------------------
def test_the_singular_form_reads_its_objective_and_ranges_from_the_tuning_configuration():
    request = single_request()
    (definition,) = facts.definitions(request)
    assert definition.name == "" and definition.index == 0
    assert definition.data is request["TrainingJobDefinition"]
    assert definition.objective == {"Type": "Maximize", "MetricName": "validation:auc"}
    assert definition.ranges == xgb_ranges()
    assert definition.static == {"num_round": "200", "objective": "binary:logistic", "eval_metric": "auc"}
    assert (definition.path, definition.objective_path, definition.ranges_path) == (
        "TrainingJobDefinition", "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective",
        "HyperParameterTuningJobConfig.ParameterRanges")
    assert facts.single_algorithm(request)


def test_the_plural_form_reads_each_definitions_own_objective_and_ranges():
    request = multi_request()
    xgb, ranker = facts.definitions(request)
    assert (xgb.name, ranker.name) == ("xgboost", "ranker")
    assert ranker.objective == {"Type": "Minimize", "MetricName": "validation:loss"}
    assert ranker.ranges["CategoricalParameterRanges"] == [{"Name": "optimizer", "Values": ["adam", "sgd"]}]
    assert ranker.static == {"epochs": "20"}
    assert ranker.path == "TrainingJobDefinitions[1]"
    assert ranker.ranges_path == "TrainingJobDefinitions[1].HyperParameterRanges"
    assert not facts.single_algorithm(request)


def test_a_describe_response_reads_as_its_request():
    described = {**single_request(), "HyperParameterTuningJobStatus": "Completed",
                 "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:1:hyper-parameter-tuning-job/x"}
    assert facts.definitions(described) == facts.definitions(single_request())


@pytest.mark.parametrize("malformed", [None, "text", {}, {"TrainingJobDefinitions": "oops"},
                                       {"TrainingJobDefinitions": [1, None]},
                                       {"HyperParameterTuningJobConfig": 5, "TrainingJobDefinition": 7}])
def test_a_malformed_request_is_read_as_far_as_it_goes(malformed):
    read = facts.definitions(malformed)
    assert all(d.objective == {} and d.ranges == {} for d in read)
    assert facts.objective(malformed) == {}


def test_the_jobs_objective_is_the_configurations_or_the_first_definitions():
    assert facts.objective(single_request()) == {"Type": "Maximize", "MetricName": "validation:auc"}
    assert facts.objective(multi_request()) == {"Type": "Maximize", "MetricName": "validation:auc"}


# ---- the form a request goes out in -------------------------------------------------------------------------
def test_one_definition_goes_out_in_the_singular_form():
    request = multi_request()
    xgb = facts.definitions(request)[0].as_plural()
    single = facts.with_definitions(request, [xgb])
    assert "TrainingJobDefinitions" not in single
    assert not {"DefinitionName", "TuningObjective", "HyperParameterRanges"} & set(single["TrainingJobDefinition"])
    config = single["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:auc"}
    assert config["ParameterRanges"] == xgb_ranges()
    assert request == multi_request()  # the request given is left as it was


def test_several_definitions_go_out_in_the_plural_form():
    request = single_request()
    definitions = [facts.definitions(multi_request())[i].as_plural() for i in (0, 1)]
    several = facts.with_definitions(request, definitions)
    assert "TrainingJobDefinition" not in several
    assert several["TrainingJobDefinitions"] == multi_request()["TrainingJobDefinitions"]
    assert not {"HyperParameterTuningJobObjective", "ParameterRanges"} & set(several["HyperParameterTuningJobConfig"])


@pytest.mark.parametrize("build", [single_request, multi_request])
def test_reading_and_writing_the_definitions_gives_the_request_back(build):
    request = build()
    assert facts.with_definitions(request, [d.as_plural() for d in facts.definitions(request)]) == request


def test_a_definitions_name_is_kept_in_the_plural_form_only():
    (definition,) = facts.definitions(single_request())
    assert "DefinitionName" not in definition.as_plural()
    (xgb, _) = facts.definitions(multi_request())
    assert xgb.as_plural()["DefinitionName"] == "xgboost"


# ---- grid size and budget ----------------------------------------------------------------------------------
def test_a_grids_size_is_the_product_of_its_value_counts():
    assert facts.grid_size({"CategoricalParameterRanges": [{"Name": "a", "Values": ["1", "2", "3"]},
                                                           {"Name": "b", "Values": ["x", "y"]}]}) == 6
    assert facts.grid_size({}) == 1
    assert facts.grid_combinations(grid_request()) == 6
    assert facts.max_training_jobs(grid_request()) == 6  # left out: every combination
    assert facts.max_training_jobs(grid_request(max_jobs=6)) == 6
    assert facts.max_training_jobs(single_request()) == 30


def test_a_grid_of_several_definitions_runs_each_definitions_combinations():
    request = multi_request()
    for definition, values in zip(request["TrainingJobDefinitions"], (["1", "2"], ["a", "b", "c"])):
        definition["HyperParameterRanges"] = {"CategoricalParameterRanges": [{"Name": "p", "Values": values}]}
    assert facts.grid_combinations(request) == 5


# ---- times, statuses, errors --------------------------------------------------------------------------------
@pytest.mark.parametrize("value,expected", [
    (datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
    ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
    ("2026-01-02T03:04:05+00:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
    (0, datetime(1970, 1, 1, tzinfo=timezone.utc)),
    (None, None), ("", None), ("not a time", None), (True, None),
])
def test_timestamps_are_read_as_aware_datetimes(value, expected):
    assert facts.to_datetime(value) == expected


def test_the_status_vocabulary_is_sagemakers():
    model = botocore.session.get_session().get_service_model("sagemaker")
    assert set(facts.TUNING_JOB_STATUSES) == set(model.shape_for("HyperParameterTuningJobStatus").enum)
    assert set(facts.TRAINING_JOB_STATUSES) <= set(model.shape_for("TrainingJobStatus").enum)
    counters = model.shape_for("TrainingJobStatusCounters").members
    assert set(facts.STATUS_COUNTERS) == set(counters) and set(facts.FINISHED_COUNTERS) < set(counters)
    assert set(facts.OBJECTIVE_STATUSES) == set(model.shape_for("ObjectiveStatus").enum)


@pytest.mark.parametrize("code,status,kind", [
    ("ThrottlingException", 400, "transient"), ("SomethingNew", 503, "transient"), ("SomethingNew", 429, "transient"),
    ("ResourceLimitExceeded", 400, "quota"), ("ResourceNotFound", 400, "not_found"),
    ("ResourceInUse", 400, "already_exists"), ("ExpiredTokenException", 400, "credentials"),
    ("AccessDeniedException", 400, "access_denied"), ("ValidationException", 400, "permanent"),
])
def test_botocore_error_codes_are_sorted_by_what_a_retry_can_do(code, status, kind):
    assert facts.error_kind(code, status) == kind


# ---- Django-free ------------------------------------------------------------------------------------------
def test_the_facts_are_read_without_django():
    # A fresh interpreter that cannot import Django at all still reads a request.
    program = (
        "import sys\n"
        "class NoDjango:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'django' or name.startswith('django.'):\n"
        "            raise ImportError('django is not available here')\n"
        "sys.meta_path.insert(0, NoDjango())\n"
        "from hpo_jobs.sagemaker import request\n"
        "print(len(request.definitions({'TrainingJobDefinitions': [{'DefinitionName': 'a'}, {}]})))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=False,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    assert not any(name.startswith("django") for name in _imports_of(facts))


def _imports_of(module) -> list[str]:
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(module))
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    return names


def test_the_copies_given_are_never_changed():
    request = single_request()
    before = copy.deepcopy(request)
    facts.with_definitions(request, [d.as_plural() for d in facts.definitions(request)])
    assert request == before
