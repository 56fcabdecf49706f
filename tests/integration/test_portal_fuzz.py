"""Property-based fuzzing of the portal's whole OpenAPI description with schemathesis.

Every operation gets generated requests, valid and invalid, with the right credentials for
its area. None may answer a server error, and every response must match the description
(status code, content type and body schema). A longer run: FUZZ_EXAMPLES=500.
"""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.conftest import KARI

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))


@pytest.fixture
def portal_schema(app):
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


@pytest.fixture
def credentials(demo, login, service_headers, dispatch_headers):
    citizen = login(KARI)

    def for_path(path: str):
        if path.startswith("/api/v1/dispatch"):
            return dispatch_headers
        if path.startswith("/api/v1/me"):
            return citizen
        return service_headers

    return for_path


schema = schemathesis.pytest.from_fixture("portal_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_responses_match_the_schema(case, credentials):
    # Schema-valid data may still be refused: a fødselsnummer's control digits, a KID's check
    # digit or an unknown offer are beyond what JSON Schema can say. Every other check holds.
    case.call_and_validate(headers=credentials(case.path),
                           excluded_checks=[schemathesis.checks.positive_data_acceptance])
