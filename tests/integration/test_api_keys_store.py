"""API keys, tokens and rate limits against the real warehouse: the store, the API role's pool, the CLI, and the
dependencies over a small app (the full route matrix is the API's own test)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool

from modelatlas.api import keys, ratelimit
from modelatlas.api.auth import Principal, require, token_router, usage_team_filter
from modelatlas.api.context import ApiContext
from modelatlas.api.problems import Problem
from modelatlas.api.ratelimit import RateLimitMiddleware, WarehouseStore, token_bucket
from modelatlas.api.settings import api_settings
from modelatlas.api.tokens import KeyCache
from modelatlas.cli import main
from modelatlas.warehouse import ConnectionInfo, Warehouse
from modelatlas.warehouse.service import connect
from tests.conftest import free_port

DATABASE = "api_keys_test"
JWT_SECRET = "jwt-secret-for-the-api-keys-store-tests-0123456789"


@pytest.fixture(scope="module")
def api_warehouse(warehouse: Warehouse) -> Warehouse:
    """A database of its own, set up (tables and roles)."""
    own = Warehouse(replace(warehouse.settings, database=DATABASE))
    own.ensure_ready()
    own.ensure_roles()
    return own


def _conninfo(info: ConnectionInfo) -> str:
    return f"host={info.host} port={info.port} user={info.user} password={info.password} dbname={info.database}"


@asynccontextmanager
async def api_pool(warehouse: Warehouse, max_size: int = 4) -> AsyncIterator[AsyncConnectionPool[Any]]:
    """The API role's pool, as the service opens it (transactions committed when a connection goes back)."""
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        _conninfo(warehouse.api_connection()), min_size=1, max_size=max_size, open=False
    )
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()


def _run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())  # type: ignore[arg-type]


def _create(
    warehouse: Warehouse, team: str = "research", scopes: tuple[str, ...] = ("catalog:read",)
) -> tuple[keys.KeyRecord, str]:
    with connect(warehouse.connection()) as conn:
        return keys.create_key(conn, team, scopes, name="tests")


def test_a_key_is_stored_as_a_hash_and_looked_up_by_the_api_role(
    api_warehouse: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    record, plaintext = _create(api_warehouse, scopes=("usage:read", "catalog:read"))
    key_id, secret = keys.parse_key(plaintext) or ("", "")
    assert key_id == record.id and record.scopes == {"usage:read", "catalog:read"} and record.team == "research"
    with connect(api_warehouse.connection()) as conn:
        row = conn.execute("select * from ops.api_keys where id = %s", [record.id]).fetchone()
    assert row is not None
    stored = " ".join(str(value) for value in row) + " ".join(bytes(v).hex() for v in row if isinstance(v, bytes))
    assert secret not in stored and plaintext not in stored

    async def scenario() -> None:
        async with api_pool(api_warehouse) as pool, pool.connection() as conn:
            found = await keys.lookup(conn, plaintext)
            assert found is not None and found.id == record.id and found.team == "research"
            assert await keys.lookup(conn, plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")) is None
            assert await keys.lookup(conn, f"ma_zzzzzzzz_{secret}") is None
            assert await keys.active_key(conn, record.id) is not None

    caplog.set_level("INFO")
    _run(scenario)
    assert "wrong secret" in caplog.text and "zzzzzzzz refused: unknown" in caplog.text
    assert secret not in caplog.text


def test_revoked_and_expired_keys_are_refused(api_warehouse: Warehouse, caplog: pytest.LogCaptureFixture) -> None:
    revoked, revoked_key = _create(api_warehouse)
    expired, expired_key = _create(api_warehouse)
    with connect(api_warehouse.connection()) as conn:
        assert keys.revoke_key(conn, revoked.id)
        assert not keys.revoke_key(conn, revoked.id)
        assert not keys.revoke_key(conn, "nosuchid")
        conn.execute("update ops.api_keys set expires_at = now() - interval '1 second' where id = %s", [expired.id])
        conn.commit()

    async def scenario() -> None:
        async with api_pool(api_warehouse) as pool, pool.connection() as conn:
            assert await keys.lookup(conn, revoked_key) is None
            assert (await keys.check_key(conn, revoked_key)).reason == "revoked"
            assert (await keys.check_key(conn, expired_key)).reason == "expired"
            assert await keys.active_key(conn, revoked.id) is None
            assert await keys.active_key(conn, expired.id) is None

    caplog.set_level("INFO")
    _run(scenario)
    assert f"{revoked.id} refused: revoked" in caplog.text


def test_last_use_is_written_at_most_once_a_minute(api_warehouse: Warehouse) -> None:
    record, plaintext = _create(api_warehouse)

    async def scenario() -> list[bool]:
        async with api_pool(api_warehouse) as pool:
            written = []
            for _ in range(2):
                async with pool.connection() as conn:
                    found = await keys.lookup(conn, plaintext)
                    assert found is not None
                    written.append(await keys.touch_last_used(conn, found))
            # A record read before the first write (another process's): the statement itself writes nothing.
            async with pool.connection() as conn:
                written.append(await keys.touch_last_used(conn, record))
                later = keys.utc_now() + keys.TOUCH_INTERVAL
                written.append(await keys.touch_last_used(conn, record, now=later))
            return written

    assert _run(scenario) == [True, False, False, True]
    with connect(api_warehouse.connection()) as conn:
        row = conn.execute("select last_used_at from ops.api_keys where id = %s", [record.id]).fetchone()
    assert row is not None and row[0] > keys.utc_now() + timedelta(seconds=30)


def test_the_warehouse_store_takes_atomically_under_concurrent_requests(api_warehouse: Warehouse) -> None:
    async def scenario() -> tuple[int, int]:
        async with api_pool(api_warehouse, max_size=8) as pool:
            store = WarehouseStore(pool)
            now = time.time()
            # Forty requests at one instant over eight connections: exactly the burst passes.
            decisions = await asyncio.gather(*(store.take("key:concurrent", 0.0001, 7, now) for _ in range(40)))
            # Spread over a second: at most burst + rate * elapsed.
            spread = await asyncio.gather(*(store.take("key:spread", 10, 5, now + index / 40) for index in range(40)))
            return sum(d.allowed for d in decisions), sum(d.allowed for d in spread)

    concurrent, spread = _run(scenario)
    assert concurrent == 7
    assert 5 <= spread <= 5 + 10 * 1 + 1


def test_the_warehouse_store_agrees_with_the_bucket_arithmetic(api_warehouse: Warehouse) -> None:
    times = [1000.0, 1000.0, 1000.1, 1000.2, 1000.2, 1000.2, 1001.5, 1001.5, 1001.6, 999.0, 1010.0, 1010.0]

    async def scenario() -> None:
        async with api_pool(api_warehouse) as pool:
            store = WarehouseStore(pool)
            bucket = None
            for now in times:
                expected_bucket, expected = token_bucket(bucket, 2, 3, now)
                bucket = expected_bucket
                got = await store.take("key:arithmetic", 2, 3, now)
                assert got.allowed == expected.allowed and got.remaining == expected.remaining, now
                assert got.retry_after_s == pytest.approx(expected.retry_after_s, abs=1e-4)

    with connect(api_warehouse.connection(), autocommit=True) as conn:
        conn.execute("delete from ops.api_rate_limits where key = 'key:arithmetic'")
    _run(scenario)


def test_the_warehouse_store_forgets_full_buckets(api_warehouse: Warehouse) -> None:
    async def scenario() -> None:
        async with api_pool(api_warehouse) as pool:
            store = WarehouseStore(pool)
            now = time.time()
            await store.take("ip:old", 1, 2, now - 3600)
            store._pruned_at = now - ratelimit.PRUNE_EVERY_S  # the last prune was long ago
            await store.take("ip:new", 1, 2, now)

    _run(scenario)
    with connect(api_warehouse.connection()) as conn:
        kept = {row[0] for row in conn.execute("select key from ops.api_rate_limits where key like 'ip:%'")}
    assert "ip:new" in kept and "ip:old" not in kept


def test_the_cli_shows_a_key_once_lists_without_it_and_revokes(
    warehouse: Warehouse, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["api-keys", "create", "--team", "finance", "--scopes", "usage:all", "--expires-in-days", "30"]) == 0
    output = capsys.readouterr().out.strip().splitlines()
    key = output[-1]
    parsed = keys.parse_key(key)
    assert parsed is not None and key == key.strip() and " " not in key
    key_id, secret = parsed
    assert "finance" in "\n".join(output[:-1]) and key_id in output[0]
    assert all(secret not in line for line in output[:-1])

    assert main(["api-keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and "finance" in listing and "usage:all" in listing and "active" in listing
    assert secret not in listing and "ma_" not in listing
    with connect(warehouse.connection()) as conn:
        row = conn.execute("select * from ops.api_keys where id = %s", [key_id]).fetchone()
    assert row is not None and all(secret not in str(value) for value in row)

    assert main(["api-keys", "revoke", key_id]) == 0
    assert f"API key {key_id} revoked" in capsys.readouterr().out
    assert main(["api-keys", "revoke", key_id]) == 0
    assert "revoked already" in capsys.readouterr().out
    assert main(["api-keys", "list"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["api-keys", "revoke", "nosuchid"]) == 2
    assert "no API key has the id" in capsys.readouterr().err
    assert main(["api-keys", "create", "--team", "x", "--scopes", "usage:write"]) == 2
    assert "valid scopes are catalog:read, usage:read, usage:all" in capsys.readouterr().err


# The dependencies over a small app: the routes' shapes, with the real keys, tokens and rate limits.


def _app(pool: AsyncConnectionPool[Any], **variables: str) -> FastAPI:
    app = FastAPI()
    app.include_router(token_router)
    app.add_middleware(RateLimitMiddleware)
    settings = api_settings({"MODELATLAS_API_RATE_LIMIT_STORAGE": "warehouse", **variables})
    app.state.context = ApiContext(settings, marts=pool, keys=pool, key_cache=KeyCache(ttl_s=0))

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        body = {"title": exc.title, "status": exc.status, "detail": exc.detail}
        return JSONResponse(body, exc.status, exc.headers, media_type="application/problem+json")

    @app.get("/v2/models")
    async def models(caller: Annotated[Principal, Depends(require("catalog:read"))]) -> dict[str, Any]:
        return {"anonymous": caller.anonymous, "key": caller.key_id}

    @app.get("/v2/usage")
    async def usage(caller: Annotated[Principal, Depends(require("usage:read"))]) -> dict[str, Any]:
        return {"team": usage_team_filter(caller)}

    return app


@asynccontextmanager
async def _client(warehouse: Warehouse, **variables: str) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    async with api_pool(warehouse) as pool:
        app = _app(pool, **variables)
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            yield http, app


def _bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def test_keys_and_scopes_over_the_dependencies(api_warehouse: Warehouse) -> None:
    _, catalog_key = _create(api_warehouse, "research", ("catalog:read",))
    _, usage_key = _create(api_warehouse, "research", ("usage:read",))
    _, all_key = _create(api_warehouse, "finance", ("usage:all",))
    revoked, revoked_key = _create(api_warehouse)
    with connect(api_warehouse.connection()) as conn:
        keys.revoke_key(conn, revoked.id)

    async def scenario() -> None:
        async with _client(api_warehouse) as (http, _):
            closed = await http.get("/v2/models")
            assert closed.status_code == 401 and closed.headers["WWW-Authenticate"] == "Bearer"
            assert "modelatlas api-keys create" in closed.json()["detail"]
            assert (await http.get("/v2/models", headers=_bearer(catalog_key))).json()["anonymous"] is False
            assert (await http.get("/v2/models", headers={"X-API-Key": catalog_key})).status_code == 200
            forbidden = await http.get("/v2/usage", headers=_bearer(catalog_key))
            assert forbidden.status_code == 403 and "usage:read" in forbidden.json()["detail"]
            assert (await http.get("/v2/usage", headers=_bearer(usage_key))).json() == {"team": "research"}
            assert (await http.get("/v2/usage", headers=_bearer(all_key))).json() == {"team": None}
            refused = await http.get("/v2/models", headers=_bearer(revoked_key))
            assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            basic = await http.get("/v2/models", headers={"Authorization": "Basic dXNlcjpwYXNz"})
            assert basic.status_code == 401
            wrong = await http.get("/v2/models", headers=_bearer(catalog_key[:-2] + "zz"))
            assert wrong.status_code == 401 and "revoked" not in wrong.json()["detail"]
        async with _client(api_warehouse, MODELATLAS_API_PUBLIC_READ="true") as (http, _):
            assert (await http.get("/v2/models")).json() == {"anonymous": True, "key": None}
            anonymous_usage = await http.get("/v2/usage")
            assert anonymous_usage.status_code == 401 and anonymous_usage.headers["WWW-Authenticate"] == "Bearer"

    _run(scenario)


def test_tokens_are_issued_for_keys_and_die_with_them(api_warehouse: Warehouse) -> None:
    record, plaintext = _create(api_warehouse, "research", ("usage:read",))

    async def scenario() -> None:
        async with _client(api_warehouse) as (http, _):
            unavailable = await http.post("/v2/token", headers=_bearer(plaintext))
            assert unavailable.status_code == 503 and "MODELATLAS_API_JWT_SECRET" in unavailable.json()["detail"]
        async with _client(api_warehouse, MODELATLAS_API_JWT_SECRET=JWT_SECRET, MODELATLAS_API_JWT_TTL_S="120") as (
            http,
            app,
        ):
            assert (await http.post("/v2/token")).status_code == 401
            issued = await http.post("/v2/token", headers={"X-API-Key": plaintext})
            assert issued.status_code == 200 and issued.headers["Cache-Control"] == "no-store"
            body = issued.json()
            assert body["token_type"] == "Bearer" and body["expires_in"] == 120
            token = body["access_token"]
            assert (await http.get("/v2/usage", headers=_bearer(token))).json() == {"team": "research"}
            assert (await http.get("/v2/models", headers=_bearer(token))).status_code == 403
            # A token is not exchanged for another.
            assert (await http.post("/v2/token", headers=_bearer(token))).status_code == 401
            assert (await http.get("/v2/usage", headers=_bearer(token[:-3] + "abc"))).status_code == 401
            with connect(api_warehouse.connection()) as conn:
                keys.revoke_key(conn, record.id)
            gone = await http.get("/v2/usage", headers=_bearer(token))
            assert gone.status_code == 401 and "revoked, expired or deleted" in gone.json()["detail"]
            schema = app.openapi()["paths"]["/v2/token"]["post"]
            assert {"200", "401", "503"} <= set(schema["responses"])

    _run(scenario)


def test_rate_limits_count_per_key_in_the_warehouse(api_warehouse: Warehouse) -> None:
    record, plaintext = _create(api_warehouse)

    async def scenario() -> list[httpx.Response]:
        async with _client(
            api_warehouse, MODELATLAS_API_RATE_LIMIT_PER_S="0.01", MODELATLAS_API_RATE_LIMIT_BURST="3"
        ) as (http, _):
            return [await http.get("/v2/models", headers=_bearer(plaintext)) for _ in range(4)]

    with connect(api_warehouse.connection(), autocommit=True) as conn:
        conn.execute("delete from ops.api_rate_limits")
    responses = _run(scenario)
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert int(responses[-1].headers["Retry-After"]) > 0
    with connect(api_warehouse.connection()) as conn:
        buckets = [row[0] for row in conn.execute("select key from ops.api_rate_limits")]
    assert buckets == [f"key:{record.id}"]


# Redis: a real server when one is installed.


@pytest.fixture
def redis_url(tmp_path: Any) -> Iterator[str]:
    """A redis-server of the test's own on a free loopback port."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("MODELATLAS_REQUIRE_REDIS") == "1":
            pytest.fail("MODELATLAS_REQUIRE_REDIS=1 but redis-server is not on PATH")
        pytest.skip("redis-server is not on PATH (install it, or set MODELATLAS_REQUIRE_REDIS=1 to make this fail)")
    port = free_port()
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def test_the_redis_store_agrees_with_the_arithmetic_and_is_atomic(redis_url: str) -> None:
    times = [1000.0, 1000.0, 1000.1, 1000.2, 1000.2, 1000.2, 1001.5, 1001.5, 1001.6, 999.0, 1010.0]

    async def scenario() -> int:
        store = ratelimit.RedisStore.from_url(redis_url)
        try:
            bucket = None
            for now in times:
                bucket, expected = token_bucket(bucket, 2, 3, now)
                got = await store.take("key:arithmetic", 2, 3, now)
                assert (got.allowed, got.remaining) == (expected.allowed, expected.remaining), now
            decisions = await asyncio.gather(*(store.take("key:concurrent", 0.0001, 7, 5.0) for _ in range(40)))
            return sum(d.allowed for d in decisions)
        finally:
            await store.aclose()

    assert _run(scenario) == 7
