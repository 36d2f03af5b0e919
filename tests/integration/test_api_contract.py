"""The API keeps its published contract, checked by schemathesis over real HTTP against the sample warehouse: every
REST operation, fed generated inputs, answers no 5xx and only documented statuses, content types and bodies (with a
key holding every scope, and without credentials); every GraphQL query field answers generated queries without a
server error; the OpenAPI document is 3.1 and lists every route."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from graphql import GraphQLError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from modelatlas.api.keys import SCOPES, create_key
from modelatlas.api.service import DOCS_PATH, OPENAPI_PATH, create_app
from modelatlas.api.settings import api_settings
from modelatlas.warehouse import Warehouse
from modelatlas.warehouse.service import connect
from tests.api_server import serving

PROBLEM = "application/problem+json"
# Enough generated requests per operation to reach the edges of every parameter, few enough for minutes on 2 cores.
EXAMPLES = 30
UNAUTHENTICATED_EXAMPLES = 10
# What the contract promises: no 5xx, and only documented statuses, content types and bodies, for valid and invalid
# inputs alike. Left out: positive_data_acceptance, since rules no schema states (a cursor of another listing, `to`
# before `from`, a limit above the configured page size) rightly refuse some inputs the schema allows; and
# negative_data_rejection, which counts as accepted what a query string cannot carry (an object where the schema says
# string or null, sent as an empty value) and what pydantic reads leniently by design (`month=0.0` as 1970-01-01).
CONFORMANCE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# GraphQL's own: a 5xx or an error strawberry answers for a resolver that failed (not_a_server_error), and a body
# that is not a GraphQL response (response_schema_conformance).
GRAPHQL_CHECKS = [not_a_server_error, response_schema_conformance]
ROUTES = {
    ("get", "/v2/models"),
    ("get", "/v2/models/{canonical_model_id}"),
    ("get", "/v2/prices"),
    ("get", "/v2/prices/history"),
    ("get", "/v2/price-changes"),
    ("get", "/v2/status"),
    ("get", "/v2/status/{provider}"),
    ("get", "/v2/outages"),
    ("get", "/v2/usage"),
    ("get", "/v2/budgets"),
    ("post", "/v2/token"),
}
GRAPHQL_FIELDS = (
    "offerings",
    "models",
    "prices",
    "priceHistory",
    "priceChanges",
    "status",
    "outages",
    "usage",
    "budgets",
)


@dataclass(frozen=True)
class ContractApi:
    """The served API and a key that may read everything."""

    url: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def _usage_team(sample_marts: Warehouse) -> str:
    with connect(sample_marts.connection(), autocommit=True) as conn:
        row = conn.execute("select team from marts.mart_usage_daily where team is not null limit 1").fetchone()
    return str(row[0]) if row else "contract-tests"


@pytest.fixture(scope="module")
def contract_api(sample_marts: Warehouse) -> Iterator[ContractApi]:
    """The API over the sample database, its limits high enough for generated load, tokens on."""
    with connect(sample_marts.connection(), autocommit=True) as conn:
        _, key = create_key(conn, _usage_team(sample_marts), SCOPES, name="contract tests")
    env = {
        "MODELATLAS_API_RATE_LIMIT_PER_S": "100000",
        "MODELATLAS_API_RATE_LIMIT_BURST": "100000",
        "MODELATLAS_API_JWT_SECRET": "contract-tests-signing-secret-0123456789",
    }
    app = create_app(api_settings(env), sample_marts.reader_connection(), sample_marts.api_connection())
    with serving(app) as url:
        yield ContractApi(url, key)


@pytest.fixture(scope="module")
def rest_schema(contract_api: ContractApi) -> schemathesis.BaseSchema:
    """The OpenAPI document as the running server publishes it."""
    return schemathesis.openapi.from_url(contract_api.url + OPENAPI_PATH, timeout=30)


@pytest.fixture(scope="module")
def graphql_schema(contract_api: ContractApi) -> schemathesis.BaseSchema:
    """The GraphQL schema as the running server answers introspection (which needs a key too)."""
    return schemathesis.graphql.from_url(contract_api.url + "/graphql", headers=contract_api.headers, timeout=30)


def _cases(operation: APIOperation, modes: Sequence[GenerationMode]) -> st.SearchStrategy[schemathesis.Case]:
    return st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in modes))


def _fuzz(
    cases: st.SearchStrategy[schemathesis.Case], examples: int, call: Callable[[schemathesis.Case], None]
) -> None:
    """Run `call` on `examples` generated cases (Hypothesis shrinks a failing one to the simplest)."""

    @given(case=cases)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: schemathesis.Case) -> None:
        call(case)

    run()


def test_every_published_operation_is_fuzzed(rest_schema: schemathesis.BaseSchema) -> None:
    # /graphql is in the document too; its queries are fuzzed through the GraphQL schema below.
    published = {(op.method, op.path) for op in _operations(rest_schema) if op.path != "/graphql"}
    assert published == ROUTES, "a route was added or removed: list it in ROUTES so the contract tests reach it"


# schemathesis's own pytest integration (`schemathesis.pytest.from_fixture`) renames test nodes through an attribute
# pytest 9.2 no longer has; each operation is a parametrized test here instead, Hypothesis driving its cases.
@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_rest_answers_as_documented_to_a_key_with_every_scope(
    method: str, path: str, rest_schema: schemathesis.BaseSchema, contract_api: ContractApi
) -> None:
    operation = rest_schema[path][method.upper()]

    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(
            base_url=contract_api.url, headers=contract_api.headers, checks=CONFORMANCE_CHECKS, timeout=30
        )

    _fuzz(_cases(operation, list(GenerationMode)), EXAMPLES, call)


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_rest_refuses_callers_without_credentials_as_documented(
    method: str, path: str, rest_schema: schemathesis.BaseSchema, contract_api: ContractApi
) -> None:
    operation = rest_schema[path][method.upper()]

    def call(case: schemathesis.Case) -> None:
        response = case.call_and_validate(base_url=contract_api.url, checks=CONFORMANCE_CHECKS, timeout=30)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == [PROBLEM]
        assert response.json()["status"] == 401

    _fuzz(_cases(operation, [GenerationMode.POSITIVE]), UNAUTHENTICATED_EXAMPLES, call)


def _operations(schema: schemathesis.BaseSchema) -> list[APIOperation]:
    return [result.ok() for result in schema.get_all_operations()]


class _Crashes(logging.Handler):
    """Errors strawberry logged whose cause is an exception the API did not raise on purpose: strawberry logs every
    error of a result with its cause, a GraphQLError for the API's own refusals, anything else for a crash."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        cause = record.exc_info[1] if record.exc_info else None
        if cause is not None and not isinstance(cause, GraphQLError):
            self.found.append(f"{type(cause).__name__}: {cause}")


@pytest.fixture(scope="module")
def graphql_crashes() -> Iterator[_Crashes]:
    """What strawberry logs while the module's GraphQL tests run (the server runs in this process)."""
    handler = _Crashes()
    logger = logging.getLogger("strawberry.execution")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_every_graphql_query_field_is_fuzzed(graphql_schema: schemathesis.BaseSchema) -> None:
    published = {operation.label.removeprefix("Query.") for operation in _operations(graphql_schema)}
    assert published == set(GRAPHQL_FIELDS), "a query field was added or removed: list it in GRAPHQL_FIELDS"


@pytest.mark.parametrize("field", GRAPHQL_FIELDS)
def test_graphql_answers_every_query_field_without_a_server_error(
    field: str, graphql_schema: schemathesis.BaseSchema, contract_api: ContractApi, graphql_crashes: _Crashes
) -> None:
    operation = graphql_schema["Query"][field]

    def call(case: schemathesis.Case) -> None:
        graphql_crashes.found.clear()
        response = case.call_and_validate(
            base_url=contract_api.url, headers=contract_api.headers, checks=GRAPHQL_CHECKS, timeout=30
        )
        assert not graphql_crashes.found, graphql_crashes.found
        # On the wire too: an error of a resolver (it has a path) says it is the caller's with a code.
        for error in response.json().get("errors") or []:
            assert "path" not in error or error.get("extensions", {}).get("code"), error

    _fuzz(_cases(operation, list(GenerationMode)), EXAMPLES, call)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v2/usage?to=0001-01-05", 200),
        ("/v2/usage?group_by=model", 200),
        ("/v2/models?provider=%00", 422),
        ("/v2/status/%00", 422),
    ],
)
def test_inputs_fuzzing_found_answer_as_documented(contract_api: ContractApi, path: str, status: int) -> None:
    response = httpx.get(contract_api.url + path, headers=contract_api.headers, timeout=30)
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"] == PROBLEM and response.json()["status"] == status


@pytest.mark.parametrize(
    "query", ['{ status(provider: ["\\u0000"]) { provider } }', "{ offerings(limit: 0) { nextCursor } }"]
)
def test_graphql_marks_a_refused_argument_as_the_callers(contract_api: ContractApi, query: str) -> None:
    response = httpx.post(contract_api.url + "/graphql", json={"query": query}, headers=contract_api.headers)
    [error] = response.json()["errors"]
    assert response.status_code == 200 and error["extensions"]["code"] == "BAD_USER_INPUT", error


def test_openapi_document_is_3_1_and_lists_every_route(contract_api: ContractApi) -> None:
    with httpx.Client(base_url=contract_api.url, timeout=30) as client:
        document: dict[str, Any] = client.get(OPENAPI_PATH).json()
        docs = client.get(DOCS_PATH)
    assert document["openapi"].startswith("3.1.")
    listed = {(method, path) for path, item in document["paths"].items() for method in item}
    assert listed >= ROUTES, ROUTES - listed
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert OPENAPI_PATH in docs.text and "swagger-ui" in docs.text
