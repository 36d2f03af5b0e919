"""The read API over real HTTP against the sample warehouse: what each route answers equals what the marts hold,
as-of prices on both sides of a change, cursor pages, entity tags, problem details, and GraphQL on the same reads."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from psycopg.rows import dict_row

from modelatlas.api import queries
from modelatlas.api.graphql import UNEXPECTED_MESSAGE
from modelatlas.api.service import create_app
from modelatlas.api.settings import api_settings
from modelatlas.api.versions import VERSION_TTL_S
from modelatlas.warehouse import Warehouse
from modelatlas.warehouse.service import connect
from tests.api_server import serving

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def api(sample_marts: Warehouse) -> Iterator[httpx.Client]:
    """The API over the sample database with anonymous catalog reads on."""
    settings = api_settings({"MODELATLAS_API_PUBLIC_READ": "true", "MODELATLAS_API_RATE_LIMIT_PER_S": "10000"})
    app = create_app(settings, sample_marts.reader_connection(), sample_marts.api_connection())
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def _sql(warehouse: Warehouse, statement: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with connect(warehouse.reader_connection(), autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(statement, params or []).fetchall()


def _walk(api: httpx.Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of a listing, page after page."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = api.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return rows


def test_models_filters_and_pages_equal_the_mart(api: httpx.Client, sample_marts: Warehouse) -> None:
    expected = _sql(
        sample_marts,
        "select canonical_model_id, provider from marts.mart_model_comparison "
        "where supports_vision and provider = any(%s) and blended_price_per_mtok <= 20 "
        "order by blended_price_per_mtok desc, canonical_model_id desc, provider desc",
        [["openai", "anthropic", "openrouter"]],
    )
    assert len(expected) > 7, "the sample should hold enough vision offerings to page through"
    rows = _walk(
        api,
        "/v2/models",
        {
            "capability": "vision",
            "provider": ["openai", "anthropic", "openrouter"],
            "max_blended_price": 20,
            "sort": "-blended_price_per_mtok",
            "limit": 7,
        },
    )
    assert [(row["canonical_model_id"], row["provider"]) for row in rows] == [
        (row["canonical_model_id"], row["provider"]) for row in expected
    ]


def test_nulls_sort_last_both_ways(api: httpx.Client) -> None:
    for sort in ("blended_price_per_mtok", "-blended_price_per_mtok"):
        prices = [row["blended_price_per_mtok"] for row in _walk(api, "/v2/models", {"sort": sort, "limit": 500})]
        known = [price for price in prices if price is not None]
        assert prices[: len(known)] == known and all(price is None for price in prices[len(known) :])
        assert known == sorted(known, reverse=sort.startswith("-"))


def test_model_detail_holds_its_offerings_and_consensus(api: httpx.Client, sample_marts: Warehouse) -> None:
    detail = api.get("/v2/models/gpt-4o").json()
    providers = _sql(
        sample_marts, "select provider from marts.mart_model_comparison where canonical_model_id = 'gpt-4o'"
    )
    consensus = _sql(
        sample_marts, "select count(*) as n from marts.mart_price_consensus where canonical_model_id = 'gpt-4o'"
    )
    assert sorted(offering["provider"] for offering in detail["offerings"]) == sorted(r["provider"] for r in providers)
    assert len(detail["prices"]) == consensus[0]["n"] > 0
    missing = api.get("/v2/models/no-such-model")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert "GET /v2/models" in missing.json()["detail"]


def test_as_of_gives_the_old_price_before_a_change_and_the_new_one_after(
    api: httpx.Client, sample_marts: Warehouse
) -> None:
    changes = _sql(
        sample_marts,
        "select before.provider, before.canonical_model_id, before.component, before.service_tier, before.condition, "
        "before.region, before.price_usd as old_price, after.price_usd as new_price, after.valid_from as changed_at "
        "from marts.fct_price_timeline as before join marts.fct_price_timeline as after "
        "using (provider, canonical_model_id, component, service_tier, condition, region) "
        "where before.valid_to = after.valid_from and before.price_usd <> after.price_usd limit 5",
    )
    assert changes, "the sample's timeline should hold a price change"
    for change in changes:
        for moment, expected in (
            (change["changed_at"] - timedelta(seconds=1), change["old_price"]),
            (change["changed_at"], change["new_price"]),
            (change["changed_at"] + timedelta(days=1), None),
        ):
            response = api.get(
                "/v2/prices",
                params={
                    "model": change["canonical_model_id"],
                    "provider": change["provider"],
                    "component": change["component"],
                    "as_of": moment.isoformat(),
                    "limit": 500,
                },
            )
            assert response.status_code == 200, response.text
            rows = [
                row
                for row in response.json()["data"]
                if (row["service_tier"], row["condition"], row["region"])
                == (change["service_tier"], change["condition"], change["region"])
            ]
            assert len(rows) == 1
            in_force = _sql(
                sample_marts,
                "select price_usd from marts.fct_price_timeline where provider = %s and canonical_model_id = %s "
                "and component = %s and service_tier = %s and condition = %s and region = %s "
                "and (valid_from is null or valid_from <= %s) and (valid_to is null or %s < valid_to)",
                [
                    change["provider"],
                    change["canonical_model_id"],
                    change["component"],
                    change["service_tier"],
                    change["condition"],
                    change["region"],
                    moment,
                    moment,
                ],
            )
            assert rows[0]["price_usd"] == pytest.approx(float(in_force[0]["price_usd"]))
            if expected is not None:
                assert rows[0]["price_usd"] == pytest.approx(float(expected))


def test_history_changes_status_and_outages_answer_from_their_marts(api: httpx.Client, sample_marts: Warehouse) -> None:
    history = _walk(api, "/v2/prices/history", {"model": "gpt-4o", "provider": "openai", "limit": 50})
    expected = _sql(
        sample_marts,
        "select count(*) as n from marts.fct_price_timeline "
        "where canonical_model_id = 'gpt-4o' and provider = 'openai'",
    )
    assert len(history) == expected[0]["n"] > 0
    changes = _walk(api, "/v2/price-changes", {"min_pct": 10, "limit": 25})
    expected = _sql(sample_marts, "select count(*) as n from marts.fct_price_changes where abs(price_change_pct) >= 10")
    assert len(changes) == expected[0]["n"]
    assert [row["changed_at"] for row in changes] == sorted((row["changed_at"] for row in changes), reverse=True)
    status = api.get("/v2/status").json()
    expected = _sql(sample_marts, "select provider from marts.mart_status_current order by provider")
    assert [row["provider"] for row in status] == [row["provider"] for row in expected]
    one = api.get("/v2/status/openai").json()
    assert one["provider"] == "openai" and 0 < len(one["uptime_days"]) <= queries.UPTIME_DAYS
    assert api.get("/v2/status/nobody").status_code == 404
    outages = _walk(api, "/v2/outages", {"limit": 3})
    expected = _sql(sample_marts, "select count(*) as n from marts.fct_outages")
    assert len(outages) == expected[0]["n"]


def test_an_unchanged_mart_answers_304_and_a_rebuilt_one_a_new_tag(api: httpx.Client, sample_marts: Warehouse) -> None:
    first = api.get("/v2/price-changes", params={"limit": 5})
    tag = first.headers["etag"]
    again = api.get("/v2/price-changes", params={"limit": 5}, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.headers["etag"] == tag and not again.content
    other = api.get("/v2/price-changes", params={"limit": 6}, headers={"If-None-Match": tag})
    assert other.status_code == 200
    # dbt builds a table mart as a new table swapped in for the old one.
    with connect(sample_marts.connection(), autocommit=True) as conn, conn.transaction():
        conn.execute("create table marts.fct_price_changes__rebuilt as table marts.fct_price_changes")
        conn.execute("drop table marts.fct_price_changes")
        conn.execute("alter table marts.fct_price_changes__rebuilt rename to fct_price_changes")
    sample_marts.ensure_roles()
    time.sleep(VERSION_TTL_S + 0.1)  # the version read before the build is used at most this long
    rebuilt = api.get("/v2/price-changes", params={"limit": 5}, headers={"If-None-Match": tag})
    assert rebuilt.status_code == 200 and rebuilt.headers["etag"] != tag
    assert rebuilt.json() == first.json()


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/v2/models?cursor=not-a-cursor", 400, "next_cursor"),
        ("/v2/models?limit=0", 422, "limit"),
        ("/v2/models?limit=100000", 422, "MODELATLAS_API_PAGE_SIZE_MAX"),
        ("/v2/models?sort=password", 422, "sort"),
        ("/v2/prices?as_of=yesterday", 422, "as_of"),
        ("/v2/prices/history?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", 422, "after"),
        ("/v2/nowhere", 404, "/v2/nowhere"),
    ],
)
def test_bad_requests_get_problem_details(api: httpx.Client, path: str, status: int, words: str) -> None:
    response = api.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and words in (body["detail"] + str(body.get("errors", "")))


def test_a_cursor_of_another_sort_is_refused(api: httpx.Client) -> None:
    cursor = api.get("/v2/models", params={"limit": 2, "sort": "provider"}).json()["next_cursor"]
    response = api.get("/v2/models", params={"limit": 2, "sort": "context_window", "cursor": cursor})
    assert response.status_code == 400


NESTED = """
query ($asOf: DateTime) {
  offerings(provider: ["openai", "anthropic"], limit: 40) {
    data { canonicalModelId provider prices(asOf: $asOf) { component priceUsd } }
  }
}
"""


def test_graphql_answers_what_rest_does_with_one_statement_per_level(
    api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[str] = []
    original = queries._rows

    async def counted(conn: Any, statement: Any, params: Any) -> list[dict[str, Any]]:
        statements.append(statement.as_string(conn) if hasattr(statement, "as_string") else str(statement))
        return await original(conn, statement, params)

    monkeypatch.setattr(queries, "_rows", counted)
    moment = "2026-12-01T00:00:00+00:00"
    response = api.post("/graphql", json={"query": NESTED, "variables": {"asOf": moment}})
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    offerings = response.json()["data"]["offerings"]["data"]
    assert len(offerings) == 40
    # one page of offerings, then one statement for the prices of all forty
    assert len(statements) == 2, statements
    rest = api.get("/v2/models", params={"provider": ["openai", "anthropic"], "limit": 40}).json()["data"]
    assert [(o["canonicalModelId"], o["provider"]) for o in offerings] == [
        (o["canonical_model_id"], o["provider"]) for o in rest
    ]
    first = offerings[0]
    prices = api.get(
        "/v2/prices",
        params={"model": first["canonicalModelId"], "provider": first["provider"], "as_of": moment, "limit": 500},
    ).json()["data"]
    assert sorted((p["component"], p["priceUsd"]) for p in first["prices"]) == sorted(
        (p["component"], p["price_usd"]) for p in prices
    )


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("{ " + "offerings { data { canonicalModelId } } " * 1 + "}", None),
        ("{ offerings(limit: 500) { data { prices { component validFrom validTo priceUsd unit source } } } }", "rows"),
        ("{ " + " ".join(f"a{n}: status {{ provider }}" for n in range(30)) + " }", "aliases"),
    ],
)
def test_graphql_refuses_queries_beyond_its_limits(api: httpx.Client, query: str, words: str | None) -> None:
    body = api.post("/graphql", json={"query": query}).json()
    if words is None:
        assert "errors" not in body
    else:
        assert words in body["errors"][0]["message"].lower()


def test_a_failure_inside_graphql_is_not_shown_to_the_client(
    api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("connection to 10.0.0.7 failed for user owner")

    monkeypatch.setattr(queries, "statuses", broken)
    body = api.post("/graphql", json={"query": "{ status { provider } }"}).json()
    assert [error["message"] for error in body["errors"]] == [UNEXPECTED_MESSAGE]
    assert "10.0.0.7" not in json.dumps(body)
    # A refusal the API means is still said as it is.
    refused = api.post("/graphql", json={"query": '{ offerings(sort: "nope") { nextCursor } }'}).json()
    assert "sort must be one of" in refused["errors"][0]["message"]


def test_the_openapi_document_says_how_to_authenticate(api: httpx.Client) -> None:
    document = api.get("/v2/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    for path, method in (("/v2/models", "get"), ("/v2/usage", "get"), ("/v2/token", "post")):
        assert document["paths"][path][method]["security"] == [{"bearer": []}, {"apiKey": []}], path


def test_marts_not_built_yet_say_how_to_build_them_in_rest_and_graphql(empty_marts: Warehouse) -> None:
    settings = api_settings({"MODELATLAS_API_PUBLIC_READ": "true"})
    app = create_app(settings, empty_marts.reader_connection(), empty_marts.api_connection())
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        rest = client.get("/v2/models")
        assert rest.status_code == 503 and rest.headers["retry-after"] == "60"
        assert "mart_model_comparison" in rest.json()["detail"] and "make run" in rest.json()["detail"]
        error = client.post("/graphql", json={"query": "{ status { provider } }"}).json()["errors"][0]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE" and "make run" in error["message"]
