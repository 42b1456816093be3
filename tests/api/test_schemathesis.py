"""Property-based requests generated from the OpenAPI schema find no server errors (5xx).

Each API operation gets its own Hypothesis run over schemathesis' request
strategy (bounded by ``MAX_EXAMPLES``), sent to the app in-process.
"""

from __future__ import annotations

import pytest
import schemathesis
from api_park import ApiPark
from hypothesis import HealthCheck, given, settings

#: Examples per operation: enough to hit boundaries and odd values, small enough to stay fast.
MAX_EXAMPLES = 6


#: Operations left out: none. The readings push runs too: schemathesis starts the
#: app's lifespan (and with it the batch writer) and generates real bodies from
#: the request schema the push documents.
EXCLUDED: set[tuple[str, str]] = set()


def _operations(api_park: ApiPark) -> list[object]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_park.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if (op.method.upper(), op.path) not in EXCLUDED]


@pytest.mark.parametrize(("user", "examples"), [("operator", MAX_EXAMPLES), ("acme", 3)])
def test_no_server_errors(api_park: ApiPark, user: str, examples: int) -> None:
    token = api_park.token[user]
    operations = _operations(api_park)
    assert len(operations) >= 10
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())  # type: ignore[attr-defined]
        @settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.text[:200]}")
            elif response.status_code >= 400:
                # every error is JSON with a kind and a message (never HTML, never a trace)
                assert {"error", "message"} <= set(response.json())

        run()
    assert not failures, failures
