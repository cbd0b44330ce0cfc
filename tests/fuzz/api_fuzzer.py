"""Property-based fuzzing of the whole HTTP API from its own OpenAPI document (schemathesis).

Every operation of /api/openapi.json is called with generated requests, valid ones
(positive) and ones that break the schema (negative), with the credential it needs, and the
protected ones also without any (their 401 is checked too). Schemathesis' coverage cases
come first: the boundaries of every constraint (a string one past its maximum length, a
required field left out, a number given as a boolean...), all of them or a spread sample.
Where the shop has real objects (a cart, a checkout, an order...) their ids are mixed into
the generated path parameters, so that the calls also reach the routes' real work and not
only their 404s. Each answer is
checked by schemathesis: no 5xx, a status the operation declares, the content type it
declares, a body that matches the declared schema, and invalid input refused with a 4xx.

Used by tests/fuzz (a small budget, in `make test`) and bench/fuzz_api.py (a larger one).
Failures are collected, not raised, so one run reports all of them.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               negative_data_rejection,
                                               response_schema_conformance,
                                               status_code_conformance)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]


@dataclass
class Credentials:
    """Bearer tokens by the ``security`` scheme names of the document."""

    staff: str  # staffBearer: the break-glass ADMIN_TOKEN (role admin)
    service: str  # serviceToken: SERVICE_TOKEN
    customer: str  # customerToken: a signed-in customer's token

    def for_operation(self, security: list[dict] | None) -> dict[str, str] | None:
        if not security:
            return None
        schemes = {name for requirement in security for name in requirement}
        token = (self.service if "serviceToken" in schemes else
                 self.customer if "customerToken" in schemes else self.staff)
        return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class FuzzFailure:
    operation: str
    who: str  # "authorized" | "anonymous"
    check: str
    status: int
    detail: str

    def __str__(self) -> str:
        return f"{self.operation} ({self.who}): {self.check}, HTTP {self.status}: {self.detail}"


@dataclass
class FuzzReport:
    operations: int = 0
    examples: int = 0
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    # (operation, "authorized" | "anonymous") -> statuses answered
    by_operation: dict[tuple[str, str], Counter] = field(default_factory=dict)
    failures: list[FuzzFailure] = field(default_factory=list)

    def summary(self) -> dict:
        return {"operations": self.operations, "examples": self.examples,
                "failures": len(self.failures), "seconds": round(self.seconds, 1),
                "statuses": dict(sorted(self.statuses.items()))}


# Invalid input may be refused with any of these; 413 (the body's size) is one as well.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428",
              "429", "5xx"]
CONFIG = {"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}}


def load_schema(base_url: str):
    schema = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json",
                                           config=schemathesis.Config.from_dict(CONFIG))
    schema.validate()  # a valid OpenAPI 3.1 document first of all
    return schema


def fuzz_api(base_url: str, credentials: Credentials, *, examples: int = 5, seed: int = 12,
             known: dict[str, list[str]] | None = None, anonymous_examples: int = 2,
             coverage: int | None = None, timeout: float = 15.0) -> FuzzReport:
    """Fuzz every operation; ``known`` maps path parameter names to real values;
    ``coverage`` caps the coverage cases per operation (None: all of them)."""
    schema = load_schema(base_url)
    report, started = FuzzReport(), time.perf_counter()
    http = requests.Session()
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            report.operations += 1
            security = operation.definition.raw.get("security")
            headers = credentials.for_operation(security)
            _cover(schema, operation, headers, coverage, base_url, http, timeout, report)
            runs = [("authorized", headers, examples)]
            if headers:
                runs.append(("anonymous", None, anonymous_examples))
            for who, sent_headers, budget in runs:
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    if who == "anonymous" and mode is GenerationMode.NEGATIVE:
                        continue  # without credentials everything is a 401 anyway
                    _run(operation, mode, _strategy(operation, mode, known or {}), who,
                         sent_headers, budget, seed, base_url, http, timeout, report)
    finally:
        http.close()
    report.seconds = time.perf_counter() - started
    return report


def _cover(schema, operation, headers, limit, base_url, http, timeout, report) -> None:
    cases = list(schema.iter_coverage_cases(
        operation, generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=schema.config.generation_for(operation=operation)))
    if limit is not None and len(cases) > limit:  # evenly spread over the kinds of case
        cases = [cases[i * len(cases) // limit] for i in range(limit)]
    seen: set[tuple[str, str]] = set()
    for case in cases:
        _check(case, operation, "authorized", headers, base_url, http, timeout, report, seen)


def _check(case, operation, who, headers, base_url, http, timeout, report, seen) -> None:
    response = case.call(base_url=base_url, session=http, headers=headers, timeout=timeout)
    report.examples += 1
    report.statuses[response.status_code] += 1
    report.by_operation.setdefault((operation.label, who), Counter())[
        response.status_code] += 1
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except FailureGroup as group:
        for failure in group.exceptions:
            _record(report, seen, operation.label, who, failure, response.status_code)
    except Failure as failure:
        _record(report, seen, operation.label, who, failure, response.status_code)


def _strategy(operation, mode, known: dict[str, list[str]]):
    generated = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters]
    if not names or not all(known.get(name) for name in names):
        return generated
    real = st.fixed_dictionaries({name: st.sampled_from(known[name]) for name in names})
    with_real_ids = real.flatmap(lambda values: operation.as_strategy(
        generation_mode=mode, path_parameters=values))
    return st.one_of(generated, with_real_ids)


def _run(operation, mode, strategy, who, headers, budget, seed, base_url, http, timeout,
         report: FuzzReport) -> None:
    seen: set[tuple[str, str]] = set()

    @hypothesis_seed(seed)
    @settings(max_examples=budget, deadline=None, database=None, derandomize=False,
              phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def call(case):
        _check(case, operation, who, headers, base_url, http, timeout, report, seen)

    try:
        call()
    except Unsatisfiable:  # nothing to break: an operation without parameters or body
        pass


def _record(report: FuzzReport, seen: set, label: str, who: str, failure: Failure,
            status: int) -> None:
    key = (who, failure.title)
    if key in seen:  # once per operation, caller and kind of failure
        return
    seen.add(key)
    report.failures.append(FuzzFailure(label, who, failure.title, status,
                                       " ".join(failure.message.split())[:300]))
