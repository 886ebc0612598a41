"""Schemathesis over the API's own schema, against a live server: for every operation, generated
requests never get a server error, and every response (status, content type, headers, body)
matches what the schema says.

The path parameters name a real project, job and training job, so that the answers are the real
ones rather than 404s; the query strings and bodies are generated. The API takes a bad query
parameter as its default (as the pages do) and refuses a body the import page refuses (422) even
when the schema's shape allows it, so the two checks that assume otherwise are left out.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from hpo_jobs.api.models import ApiToken

pytestmark = pytest.mark.django_db(transaction=True)

MAX_EXAMPLES = 12  # per operation: about 15 operations, well under a minute in all


@pytest.fixture
def api_world(project, make_job, alice):
    job = make_job("fuzz-job", children=3, status="InProgress", launch_attempts=1)
    _token, text = ApiToken.issue(alice, "schemathesis", 1)
    return {
        "path": {"slug": project.slug, "name": job.name, "training_job_name": job.training_jobs.first().name},
        "headers": {"Authorization": f"Bearer {text}"},
    }


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the schema the portal serves."""
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return [(method.upper(), path) for path, item in sorted(paths.items()) for method in item]


OPERATIONS = _operations()


def test_the_schema_lists_every_operation():
    assert len(OPERATIONS) >= 11 and ("POST", "/api/v1/projects/{slug}/jobs/") in OPERATIONS


@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_api_matches_its_schema(method, path, api_world, live_server):
    loaded = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/?format=json")
    operation = loaded[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        for key in list(case.path_parameters or {}):
            if key in api_world["path"]:
                case.path_parameters[key] = api_world["path"][key]
        case.call_and_validate(
            base_url=live_server.url,
            headers=api_world["headers"],
            excluded_checks=[schemathesis.checks.negative_data_rejection,
                             schemathesis.checks.positive_data_acceptance],
        )

    check()
