"""The whole HTTP API fuzzed from its OpenAPI document: a real server process on a seeded
SQLite shop, every operation, valid and invalid requests, with and without credentials.
No 5xx, no undeclared status, no answer that breaks its declared schema, no invalid input
accepted. A few examples per operation here (bench/fuzz_api.py runs many more)."""

from __future__ import annotations

import pytest

from api_fuzzer import Credentials, fuzz_api, load_schema
from fuzz_shop import ADMIN_TOKEN, SERVICE_TOKEN, FuzzShop

EXAMPLES = 5  # per operation, per generation mode (valid, invalid)
COVERAGE = 8  # of schemathesis' boundary cases per operation, spread over their kinds


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    with FuzzShop(tmp_path_factory.mktemp("fuzz-shop")) as running:
        yield running


@pytest.mark.slow
def test_fuzz_finds_no_server_error_and_no_schema_violation(shop):
    report = fuzz_api(shop.url, Credentials(ADMIN_TOKEN, SERVICE_TOKEN, shop.customer_token),
                      examples=EXAMPLES, coverage=COVERAGE, known=shop.known, seed=12)
    print(f"fuzz run: {report.summary()}")
    assert not report.failures, "\n".join(map(str, report.failures))
    assert not shop.server_errors_logged()
    spec = load_schema(shop.url).raw_schema
    operations = [(method.upper(), path, op) for path, ops in spec["paths"].items()
                  for method, op in ops.items()]
    assert report.operations == len(operations) >= 60
    assert report.examples >= (EXAMPLES + COVERAGE) * report.operations
    assert not any(500 <= status for status in report.statuses)
    for method, path, op in operations:
        label = f"{method} {path}"
        authorized = report.by_operation.get((label, "authorized"))
        assert authorized, f"{label} was never called"
        if op.get("security"):  # exercised past the credential check, and refused without
            assert set(authorized) - {401, 403}, f"{label}: the credential never got in"
            assert set(report.by_operation[(label, "anonymous")]) == {401}, label
    # the real objects were reached, not only 404s: some answers of every kind of success
    assert {200, 201, 202} <= set(report.statuses)
