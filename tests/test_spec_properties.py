"""Random and hostile requests: validation returns Issues and never raises, whatever arrives."""

from __future__ import annotations

import copy
import dataclasses
import math

from botocore.validate import validate_parameters
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpo_jobs.sagemaker import spec
from hpo_jobs.sagemaker.spec import Issue, ValidationContext, strip_read_only, validate_request

from .factories import (
    CTX,
    LOCAL_CTX,
    custom_definition,
    grid_request,
    hyperband_request,
    linear_learner_request,
    multi_request,
    single_request,
)


def _member_names(shape, seen=None) -> set[str]:
    seen = set() if seen is None else seen
    if shape.name in seen:
        return set()
    seen.add(shape.name)
    names: set[str] = set()
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            names |= {name} | _member_names(member, seen)
    elif shape.type_name == "list":
        names |= _member_names(shape.member, seen)
    elif shape.type_name == "map":
        names |= _member_names(shape.value, seen)
    return names


MEMBER_NAMES = sorted(_member_names(spec.input_shape()))

HOSTILE_STRINGS = [
    "", " ", "\x00", "\r\n", "../../etc/passwd", "file:///etc/passwd", "file://host/x", "s3://", "%2e%2e/%2e%2e",
    "a" * 100_000, "\u202egnp.exe", "🙂" * 300, "${jndi:ldap://x}", "<script>alert(1)</script>", "\\", "[", "(",
    "(((((((((((a*)*)*)*)*)*)*)*)*)*)*)", "(a|a)*$", "9" * 5000, "nan", "inf", "-inf", "-0", "1e309", "0x1f",
    "Ω≈ç√∫", "\ud7ff\ue000", "ml.m5.xlarge", "Grid", "Hyperband", "Auto", "Logarithmic", "ReverseLogarithmic",
    "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1", "/srv/hpo-portal-test-data/../x",
]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40), st.sampled_from(HOSTILE_STRINGS),
)
keys = st.one_of(st.text(max_size=20), st.sampled_from(MEMBER_NAMES), st.sampled_from(HOSTILE_STRINGS[:12]))
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(keys, children, max_size=6),
    max_leaves=40,
)


def deep(depth: int, kind: str) -> object:
    """A value nested ``depth`` levels deep, built without recursion."""
    value: object = "leaf"
    for _ in range(depth):
        value = [value] if kind == "list" else {"TrainingJobDefinition": value}
    return value


special_values = st.one_of(
    json_values,
    # Copied, because a mutation may append to a drawn [] or {}: a shared one would change later examples.
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 2**64, -1, 0, True, [], {}, "", 1e308]).map(copy.deepcopy),
    # Deeper values are covered by a dedicated test: the harness itself (repr, deepcopy) recurses.
    st.builds(deep, st.integers(min_value=50, max_value=200), st.sampled_from(["list", "dict"])),
    st.builds(lambda n: "x" * n, st.integers(min_value=0, max_value=200_000)),
)

contexts = st.sampled_from([
    CTX,
    LOCAL_CTX,
    ValidationContext(),
    dataclasses.replace(CTX, name_taken=lambda name: 1 / 0, ecr_enabled=False),
    dataclasses.replace(LOCAL_CTX, project=None),
    dataclasses.replace(CTX, region="cn-north-1", instance_types=(), ecr_allowed=("",)),
])

VALID_REQUESTS = [single_request, multi_request, grid_request, lambda: hyperband_request(MaxResource=10),
                  linear_learner_request, lambda: {**multi_request(), "TrainingJobDefinitions": [custom_definition()]}]


def _paths(value, prefix=()):
    """Every path (a tuple of keys and indexes) into a JSON tree, down to 12 levels."""
    yield prefix
    if len(prefix) >= 12:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


def _apply(request: dict, path: tuple, action: str, value: object) -> dict:
    if not path:
        return value if action == "replace" else request  # type: ignore[return-value]
    node = request
    for step in path[:-1]:
        node = node[step]
    last = path[-1]
    if action == "replace":
        node[last] = value
    elif action == "delete":
        del node[last]
    elif action == "insert" and isinstance(node[last], dict):
        node[last]["UnknownMember"] = value
    elif action == "insert" and isinstance(node[last], list):
        node[last].append(value)
    elif action == "duplicate" and isinstance(node[last], list) and node[last]:
        node[last].append(copy.deepcopy(node[last][0]))
    return request


@st.composite
def mutated_requests(draw):
    request = draw(st.sampled_from(VALID_REQUESTS))()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        if not isinstance(request, dict):
            break
        path = draw(st.sampled_from(list(_paths(request))))
        action = draw(st.sampled_from(["replace", "replace", "delete", "insert", "duplicate"]))
        request = _apply(request, path, action, draw(special_values))
    return request


def assert_well_formed(issues: object) -> None:
    assert isinstance(issues, list)
    for issue in issues:
        assert isinstance(issue, Issue)
        assert isinstance(issue.path, str) and isinstance(issue.message, str) and issue.message
        assert issue.message != spec.INTERNAL_ERROR, "a rule raised"
        assert len(issue.message) < 2000 and len(issue.path) < 2000


SETTINGS = settings(max_examples=3 * settings.default.max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                             HealthCheck.data_too_large])


@SETTINGS
@given(json_values, contexts)
def test_random_json_never_raises(request, ctx):
    assert_well_formed(validate_request(request, ctx))


@SETTINGS
@given(st.dictionaries(st.sampled_from(MEMBER_NAMES), json_values, max_size=8), contexts)
def test_random_objects_made_of_real_member_names_never_raise(request, ctx):
    assert_well_formed(validate_request(request, ctx))


@SETTINGS
@given(mutated_requests(), contexts)
def test_mutated_valid_requests_never_raise(request, ctx):
    before = copy.deepcopy(request)
    issues = validate_request(request, ctx)
    assert_well_formed(issues)
    assert repr(request) == repr(before), "validation does not change the request"


@SETTINGS
@given(mutated_requests())
def test_what_we_accept_botocores_client_accepts_too(request):
    # Our checks are a superset of botocore's client-side ones: a request without issues never fails there.
    if validate_request(request, ValidationContext()) == []:
        validate_parameters(request, spec.input_shape())


@SETTINGS
@given(st.one_of(json_values, mutated_requests()))
def test_strip_read_only_never_raises_and_is_idempotent(data):
    stripped = strip_read_only(data)
    assert repr(strip_read_only(stripped)) == repr(stripped)


def test_deeply_nested_values_anywhere_are_reported_not_recursed_into():
    for kind in ("list", "dict"):
        request = single_request()
        request["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] = deep(100_000, kind)
        request["Tags"] = deep(100_000, kind)
        issues = validate_request(request, CTX)
        assert_well_formed(issues)
        assert issues


def test_huge_and_non_finite_values_are_refused_cleanly():
    request = single_request()
    limits = request["HyperParameterTuningJobConfig"]["ResourceLimits"]
    limits["MaxParallelTrainingJobs"] = 10**400
    limits["MaxNumberOfTrainingJobs"] = float("inf")
    request["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"][0]["MaxValue"] = "1e400"
    request["HyperParameterTuningJobName"] = "n" * 10**6
    issues = validate_request(request, CTX)
    assert_well_formed(issues)
    paths = {issue.path for issue in issues}
    assert {"HyperParameterTuningJobName",
            "HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs",
            "HyperParameterTuningJobConfig.ParameterRanges.ContinuousParameterRanges[0].MaxValue"} <= paths
    assert all(math.isfinite(len(issue.message)) and len(issue.message) < 400 for issue in issues)
