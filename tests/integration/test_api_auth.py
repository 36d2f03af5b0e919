"""Who may read what through the API, over real HTTP: the auth matrix (no key, unknown, revoked and expired keys,
a wrong scope, another team's usage, expired and tampered tokens, anonymous reads on and off), the rate limit
under a bounded local load, CORS, and the request log."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from modelatlas.api.keys import CATALOG_READ, USAGE_ALL, USAGE_READ, create_key, revoke_key
from modelatlas.api.service import create_app
from modelatlas.api.settings import api_settings
from modelatlas.api.tokens import issue_token
from modelatlas.warehouse import Warehouse
from modelatlas.warehouse.service import connect
from tests.api_server import serving

SECRET = "a-test-signing-secret-of-enough-length-0123456789"
# The sample's usage is all unattributed: a key of that team reads it, a key of another team reads none of it.
SAMPLE_TEAM = "unattributed"
OTHER_TEAM = "research"
Serve = Callable[..., AbstractContextManager[httpx.Client]]


@pytest.fixture(scope="module")
def keys(sample_marts: Warehouse) -> dict[str, str]:
    """One key of each kind the matrix needs."""
    made: dict[str, str] = {}
    with connect(sample_marts.connection(), autocommit=True) as conn:
        for name, team, scopes, expires in (
            ("catalog", SAMPLE_TEAM, [CATALOG_READ], None),
            ("usage", SAMPLE_TEAM, [USAGE_READ], None),
            ("other_team", OTHER_TEAM, [CATALOG_READ, USAGE_READ], None),
            ("all", "finance", [CATALOG_READ, USAGE_ALL], None),
            ("expired", SAMPLE_TEAM, [CATALOG_READ], datetime.now(UTC) - timedelta(minutes=1)),
            ("revoked", SAMPLE_TEAM, [CATALOG_READ], None),
        ):
            record, made[name] = create_key(conn, team=team, scopes=scopes, expires_at=expires, name=name)
            if name == "revoked":
                assert revoke_key(conn, record.id)
    return made


@pytest.fixture(scope="module")
def serve(sample_marts: Warehouse) -> Serve:
    """Serve the API over the sample database with the given MODELATLAS_API_* settings."""

    def start(**variables: str) -> AbstractContextManager[httpx.Client]:
        env = {"MODELATLAS_API_JWT_SECRET": SECRET, **{f"MODELATLAS_API_{k.upper()}": v for k, v in variables.items()}}
        app = create_app(api_settings(env), sample_marts.reader_connection(), sample_marts.api_connection())
        return _client(app)

    return start


class _client(AbstractContextManager[httpx.Client]):  # noqa: N801 - used as a function
    def __init__(self, app: Any) -> None:
        self._serving = serving(app)

    def __enter__(self) -> httpx.Client:
        url = self._serving.__enter__()
        self._client = httpx.Client(base_url=url, timeout=30)
        return self._client

    def __exit__(self, *exc: object) -> None:
        self._client.close()
        self._serving.__exit__(*exc)


@pytest.fixture(scope="module")
def private(serve: Serve) -> Iterator[httpx.Client]:
    with serve(rate_limit_per_s="10000", rate_limit_burst="10000") as client:
        yield client


@pytest.fixture(scope="module")
def public(serve: Serve) -> Iterator[httpx.Client]:
    with serve(public_read="true", rate_limit_per_s="10000", rate_limit_burst="10000") as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _refused(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/v2/models", "/v2/prices", "/v2/status", "/v2/usage", "/v2/budgets"])
def test_no_key_is_refused_when_reads_are_private(private: httpx.Client, path: str) -> None:
    _refused(private.get(path), 401)


def test_public_reads_open_the_catalog_but_never_usage(public: httpx.Client, keys: dict[str, str]) -> None:
    for path in ("/v2/models", "/v2/prices", "/v2/price-changes", "/v2/status", "/v2/outages"):
        assert public.get(path).status_code == 200, path
    for path in ("/v2/usage", "/v2/budgets"):
        _refused(public.get(path), 401)
    assert public.get("/v2/usage", headers=bearer(keys["usage"])).status_code == 200
    body = public.post("/graphql", json={"query": "{ usage { team } }"}).json()
    assert body["data"] is None and "usage:read" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("credential", "words"),
    [
        ("ma_zzzzzzzz_" + "x" * 43, "not valid"),
        ("not-a-key-nor-a-token", ""),
    ],
)
def test_unknown_keys_and_garbage_are_refused(private: httpx.Client, credential: str, words: str) -> None:
    response = private.get("/v2/models", headers=bearer(credential))
    _refused(response, 401)
    assert credential not in response.text


def test_revoked_and_expired_keys_are_refused(private: httpx.Client, keys: dict[str, str]) -> None:
    for name in ("revoked", "expired"):
        response = private.get("/v2/models", headers=bearer(keys[name]))
        _refused(response, 401)
        assert name in response.json()["detail"]


def test_a_key_opens_only_its_scopes(private: httpx.Client, keys: dict[str, str]) -> None:
    assert private.get("/v2/models", headers=bearer(keys["catalog"])).status_code == 200
    assert private.get("/v2/models", headers={"X-API-Key": keys["catalog"]}).status_code == 200
    _refused(private.get("/v2/usage", headers=bearer(keys["catalog"])), 403)
    _refused(private.get("/v2/budgets", headers=bearer(keys["catalog"])), 403)
    _refused(private.get("/v2/models", headers=bearer(keys["usage"])), 403)
    body = private.post("/graphql", json={"query": "{ usage { team } }"}, headers=bearer(keys["catalog"])).json()
    assert body["errors"][0]["extensions"]["status"] == 403


def test_usage_is_the_callers_team_unless_usage_all(
    private: httpx.Client, keys: dict[str, str], sample_marts: Warehouse
) -> None:
    params = {"from": "2000-01-01", "group_by": "provider"}
    with connect(sample_marts.reader_connection()) as conn:
        row = conn.execute("select sum(requests) from marts.mart_usage_daily").fetchone()
    total = int(row[0]) if row and row[0] is not None else 0
    assert total > 0, "the sample should hold usage"
    own = private.get("/v2/usage", params=params, headers=bearer(keys["usage"])).json()
    assert own["team"] == SAMPLE_TEAM and sum(row["requests"] for row in own["data"]) == total
    other = private.get("/v2/usage", params=params, headers=bearer(keys["other_team"])).json()
    assert other["team"] == OTHER_TEAM and other["data"] == []
    _refused(private.get("/v2/usage", params={**params, "team": SAMPLE_TEAM}, headers=bearer(keys["other_team"])), 403)
    everyone = private.get("/v2/usage", params=params, headers=bearer(keys["all"])).json()
    assert everyone["team"] is None and sum(row["requests"] for row in everyone["data"]) == total
    one = private.get("/v2/usage", params={**params, "team": OTHER_TEAM}, headers=bearer(keys["all"])).json()
    assert one["team"] == OTHER_TEAM and one["data"] == []
    # The entity tag differs by team: one team's cached answer never validates another's.
    tags = {
        private.get("/v2/usage", params=params, headers=bearer(keys[name])).headers["etag"]
        for name in ("usage", "other_team", "all")
    }
    assert len(tags) == 3


def test_tokens_work_until_they_expire_or_are_altered(private: httpx.Client, keys: dict[str, str]) -> None:
    issued = private.post("/v2/token", headers=bearer(keys["catalog"]))
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    token = body["access_token"]
    assert private.get("/v2/models", headers=bearer(token)).status_code == 200
    _refused(private.get("/v2/usage", headers=bearer(token)), 403)
    claims = jwt.decode(token, options={"verify_signature": False})
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    _refused(private.get("/v2/models", headers=bearer(tampered)), 401)
    expired = issue_token(claims["sub"], claims["team"], claims["scopes"], SECRET, 900, now=time.time() - 3600)
    _refused(private.get("/v2/models", headers=bearer(expired.access_token)), 401)
    foreign = jwt.encode({**claims, "aud": "another-api"}, SECRET, algorithm="HS256")
    _refused(private.get("/v2/models", headers=bearer(foreign)), 401)
    forged = jwt.encode({**claims, "scopes": [USAGE_ALL]}, "another-secret-of-sufficient-length-0123456789", "HS256")
    _refused(private.get("/v2/usage", headers=bearer(forged)), 401)
    _refused(private.post("/v2/token", headers=bearer(keys["revoked"])), 401)


def test_without_a_signing_secret_tokens_are_unavailable(serve: Serve, keys: dict[str, str]) -> None:
    with serve(jwt_secret="") as client:
        response = client.post("/v2/token", headers=bearer(keys["catalog"]))
        assert response.status_code == 503
        assert "MODELATLAS_API_JWT_SECRET" in response.json()["detail"]


RATE = 20.0
BURST = 10
REQUESTS = 150


async def _load(base_url: str, key: str) -> tuple[list[httpx.Response], float]:
    """`REQUESTS` requests from 10 concurrent clients: every answer and the seconds from the first send to the last
    answer."""
    async with httpx.AsyncClient(base_url=base_url, headers=bearer(key), timeout=30) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(REQUESTS):
            queue.put_nowait(index)
        answers: list[httpx.Response] = []

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                answers.append(await client.get("/v2/status"))
                await asyncio.sleep(0.01)

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(10)))
        return answers, time.monotonic() - started


def test_the_rate_limit_holds_under_a_bounded_load(serve: Serve, keys: dict[str, str]) -> None:
    with serve(rate_limit_per_s=str(RATE), rate_limit_burst=str(BURST)) as client:
        answers, elapsed = asyncio.run(_load(str(client.base_url), keys["catalog"]))
    accepted = [answer for answer in answers if answer.status_code == 200]
    refused = [answer for answer in answers if answer.status_code == 429]
    assert len(accepted) + len(refused) == REQUESTS
    assert refused, "the load should exceed the limit"
    assert len(accepted) <= RATE * elapsed + BURST
    # It refuses only what is over the limit: at least the burst, and the refill of most of the time, got through.
    assert len(accepted) >= BURST + RATE * elapsed * 0.5
    for answer in refused:
        assert int(answer.headers["retry-after"]) >= 1
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["ratelimit-remaining"] == "0"
    assert all(answer.headers["ratelimit-limit"] == str(BURST) for answer in answers)


def test_cors_answers_only_allowed_origins(serve: Serve, private: httpx.Client) -> None:
    preflight = {"Origin": "https://tools.example.com", "Access-Control-Request-Method": "GET"}
    assert "access-control-allow-origin" not in private.options("/v2/models", headers=preflight).headers
    with serve(cors_origins="https://tools.example.com") as client:
        allowed = client.options("/v2/models", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://tools.example.com"
        other = client.options("/v2/models", headers={**preflight, "Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers
        simple = client.get("/v2/openapi.json", headers={"Origin": "https://tools.example.com"})
        assert simple.headers["access-control-allow-origin"] == "https://tools.example.com"


def test_each_request_is_logged_once_with_its_key_id_never_its_key(
    private: httpx.Client, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="modelatlas.api.requests")
    key = keys["catalog"]
    key_id = key.split("_")[1]
    private.get("/v2/models/gpt-4o", headers=bearer(key))
    private.get("/v2/usage", headers=bearer(key))

    def lines() -> list[logging.LogRecord]:
        return [record for record in caplog.records if record.name == "modelatlas.api.requests"]

    # The server's thread logs a request once its answer is sent: the client may read the answer first.
    deadline = time.monotonic() + 10
    while len(lines()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    fields = [getattr(record, "fields", {}) for record in lines()]
    assert [(f["method"], f["route"], f["status"], f["key_id"]) for f in fields] == [
        ("GET", "/v2/models/{canonical_model_id}", 200, key_id),
        ("GET", "/v2/usage", 403, key_id),
    ]
    assert all(f["duration_ms"] >= 0 for f in fields)
    everything = json.dumps([record.getMessage() for record in caplog.records]) + json.dumps(fields)
    assert key not in everything and key.split("_", 2)[2] not in everything
