"""Schema-driven fuzzing of every API operation, on DuckDB and PostgreSQL.

Schemathesis generates requests from the published OpenAPI document (the push
gets real bodies from its request schema) and sends them in-process to the app,
with its lifespan (and so the batch writer) running. Each operation is run as
the operator and as a tenant manager. Counted per backend: cases sent, server
errors (5xx, must be 0), and answers that do not match the documented schema
(status code not documented, or a body not matching its schema; must be 0).

Run::

    .venv/bin/python bench/api_fuzz.py --examples 25
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections import Counter

import psycopg
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bitgaram.api import Settings, create_app
from bitgaram.api.app import token_store_for
from bitgaram.api.testing import populate, synthetic_park
from bitgaram.store import open_store

#: What "matches the documented schema" means: a documented status, its media type, its body schema.
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


def fuzz(store_url: str, examples: int) -> tuple[Counter[str], list[str]]:
    """Fuzz every operation of an app over ``store_url``; returns counts and failures."""
    store = open_store(store_url)
    tokens = token_store_for(store, Settings(login_max_failures=0))
    token = populate(store, tokens, synthetic_park(n_tenants=3, days=2))
    app = create_app(Settings(login_max_failures=0), store, tokens)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    counts: Counter[str] = Counter()
    failures: list[str] = []
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            counts["operations"] += 1
            for user in ("operator", "acme"):

                @given(case=operation.as_strategy())  # type: ignore[attr-defined]
                @settings(
                    max_examples=examples,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    database=None,
                )
                def run(case: schemathesis.Case) -> None:
                    auth = {"Authorization": f"Bearer {token[user]}"}  # noqa: B023
                    response = case.call(headers=auth)
                    counts["cases"] += 1
                    counts[f"{response.status_code // 100}xx"] += 1
                    where = f"{case.method} {case.formatted_path} ({user})"  # noqa: B023
                    if response.status_code >= 500:
                        counts["server_errors"] += 1
                        failures.append(f"{where}: {response.status_code} {response.text[:200]}")
                        return
                    try:
                        case.validate_response(response, checks=CONFORMANCE)
                    except Exception as exc:  # a schema violation
                        counts["schema_violations"] += 1
                        failures.append(f"{where}: {str(exc).splitlines()[0][:200]}")

                run()
    finally:
        store.close()
    return counts, failures


def main() -> None:
    """Fuzz on both backends and print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=25, help="examples per operation and user")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    schema_name = "bg_fuzz_" + uuid.uuid4().hex[:8]
    backends = {"duckdb": ":memory:", "postgresql": f"{args.postgres}?schema={schema_name}"}
    print("| backend | operations | cases | 2xx | 4xx | 5xx | schema violations | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    all_failures: list[str] = []
    try:
        for name, url in backends.items():
            t0 = time.perf_counter()
            counts, failures = fuzz(url, args.examples)
            all_failures += [f"{name}: {f}" for f in failures]
            print(
                f"| {name} | {counts['operations']} | {counts['cases']:,} | {counts['2xx']:,} | "
                f"{counts['4xx']:,} | {counts['5xx']:,} | {counts['schema_violations']:,} | "
                f"{time.perf_counter() - t0:.0f} |"
            )
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema_name} CASCADE")
    for line in all_failures[:40]:
        print(line)


if __name__ == "__main__":
    main()
