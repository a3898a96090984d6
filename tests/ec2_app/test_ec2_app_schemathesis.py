"""Schemathesis against the app's own OpenAPI document, in-process (ASGI): no 5xx, and every
answer as documented. Valid and invalid requests both (schemathesis' positive and negative
modes); examples bounded so the module runs in seconds."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python.asgi import shutdown_lifespans

from ec2_app.app import Settings, create_app


@pytest.fixture(scope="module")
def api_schema(model_path):
    # Schemathesis runs the app's lifespan itself (model loaded once) and keeps it up until
    # shut down here.
    app = create_app(Settings(model_path=model_path))
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    shutdown_lifespans()


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request):
    # schemathesis 4.32.5's from_fixture() reads and renames `request.node._nodeid`, which
    # pytest 9 no longer has; give it one (it only names the sub-tests in reports).
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.reliability("bad input")
@schema.parametrize()
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_has_no_server_errors_and_matches_its_schema(case):
    # All default checks: not_a_server_error, status code / content type / response schema
    # conformance, invalid data rejected and valid data accepted.
    case.call_and_validate()
