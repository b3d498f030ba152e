"""Schemathesis over the whole spec, in-process (ASGI): nothing a caller sends is a 5xx.

Responses must also match the documented status codes, media types and schemas. The
examples are bounded (``MAX_EXAMPLES`` per operation) and the app runs with small limits,
so the run stays within about a minute.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from service.settings import Settings

MAX_EXAMPLES = 30
COVERAGE = False
TIMEOUT = 60  # seconds: the app's timeout, and the client's (schemathesis' default is 10)
WORK = 2e5  # entry-layers per request or job: every accepted request is quick

app = create_app(
    Settings(
        workers=1,
        redis_url=None,
        max_points=40,
        max_depth=2000,
        max_work=WORK,
        request_timeout_seconds=TIMEOUT,
        job_max_points=40,
        job_max_work=WORK,
        job_queue_size=10_000,  # saturation (503) is tested in tests/service, not here
    )
)
CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {"coverage": {"enabled": COVERAGE}},
        "generation": {"max-examples": MAX_EXAMPLES},
        "request-timeout": TIMEOUT,
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_and_documented_responses(case: schemathesis.Case) -> None:
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )
