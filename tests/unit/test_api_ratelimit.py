"""The token bucket's arithmetic, the memory store, the limiter's choice of store and the middleware's headers."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from modelatlas.api import ratelimit
from modelatlas.api.context import ApiContext
from modelatlas.api.ratelimit import Bucket, Decision, MemoryStore, RateLimiter, RateLimitMiddleware, token_bucket
from modelatlas.api.settings import api_settings


def test_a_new_bucket_is_full_and_each_request_takes_one_token() -> None:
    bucket, decision = token_bucket(None, rate=2, burst=3, now=100)
    assert decision == Decision(True, 3, 2, 0.0, 0.5) and bucket == Bucket(2, 100)
    bucket, decision = token_bucket(bucket, 2, 3, 100)
    bucket, decision = token_bucket(bucket, 2, 3, 100)
    assert decision.allowed and decision.remaining == 0 and decision.reset_s == 1.5
    bucket, refused = token_bucket(bucket, 2, 3, 100)
    assert not refused.allowed and refused.retry_after_s == 0.5 and bucket.tokens == 0
    # Half a second later one token is back.
    bucket, decision = token_bucket(bucket, 2, 3, 100.5)
    assert decision.allowed and decision.remaining == 0


def test_refill_stops_at_the_burst_and_never_runs_backwards() -> None:
    _, decision = token_bucket(Bucket(0, 0), rate=1, burst=5, now=1_000)
    assert decision.remaining == 4
    later = Bucket(2.5, 200)
    bucket, decision = token_bucket(later, rate=1, burst=5, now=150)
    assert bucket == Bucket(1.5, 200) and decision.allowed


def test_headers_follow_draft_06_and_retry_after_rounds_up() -> None:
    allowed = Decision(True, 40, 12, 0.0, 13.2)
    assert allowed.headers() == {"RateLimit-Limit": "40", "RateLimit-Remaining": "12", "RateLimit-Reset": "14"}
    refused = Decision(False, 40, 0, 0.05, 20.0)
    assert refused.headers()["Retry-After"] == "1"
    assert Decision(False, 40, 0, 2.01, 20.0).headers()["Retry-After"] == "3"


_requests = st.lists(st.floats(min_value=0, max_value=60, allow_nan=False), min_size=1, max_size=200)


@settings(max_examples=300)
@given(
    times=_requests,
    rate=st.floats(min_value=0.01, max_value=100),
    burst=st.integers(min_value=1, max_value=50),
    ordered=st.booleans(),
)
def test_accepted_requests_never_exceed_rate_times_elapsed_plus_burst(
    times: list[float], rate: float, burst: int, ordered: bool
) -> None:
    # In order, or as a shared store sees them from processes whose requests arrive out of order.
    times = sorted(times) if ordered else times
    bucket = None
    accepted = 0
    for now in times:
        bucket, decision = token_bucket(bucket, rate, burst, now)
        accepted += decision.allowed
        assert 0 <= decision.remaining <= burst
        assert decision.allowed or decision.retry_after_s > 0
    elapsed = max(times) - times[0]
    assert accepted <= rate * elapsed + burst + 1e-6


@given(burst=st.integers(min_value=1, max_value=50), rate=st.floats(min_value=0.01, max_value=100))
def test_a_burst_at_one_instant_is_accepted_exactly(burst: int, rate: float) -> None:
    bucket = None
    decisions = []
    for _ in range(burst + 5):
        bucket, decision = token_bucket(bucket, rate, burst, 10.0)
        decisions.append(decision.allowed)
    assert decisions == [True] * burst + [False] * 5


@given(
    steps=st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=50),
    rate=st.floats(min_value=0.1, max_value=10),
    burst=st.integers(min_value=1, max_value=20),
)
def test_a_request_after_retry_after_is_accepted(steps: list[float], rate: float, burst: int) -> None:
    bucket = None
    now = 0.0
    for step in steps:
        now += step
        bucket, decision = token_bucket(bucket, rate, burst, now)
        if not decision.allowed:
            _, retried = token_bucket(bucket, rate, burst, now + math.ceil(decision.retry_after_s))
            assert retried.allowed


def test_the_memory_store_is_one_bucket_per_key_and_forgets_full_ones() -> None:
    store = MemoryStore()

    async def scenario() -> None:
        assert [(await store.take("key:a", 1, 2, 0)).allowed for _ in range(3)] == [True, True, False]
        assert (await store.take("ip:1.2.3.4", 1, 2, 0)).allowed
        # Concurrent requests at one instant: exactly the burst passes.
        results = await asyncio.gather(*(store.take("key:b", 0.001, 5, 1) for _ in range(20)))
        assert sum(result.allowed for result in results) == 5
        assert len(store) == 3
        await store.take("key:c", 1, 2, ratelimit.PRUNE_EVERY_S + 10)
        assert len(store) == 1

    asyncio.run(scenario())


def test_limiter_from_settings_picks_the_store() -> None:
    pool: Any = object()
    memory = ratelimit.limiter_from(api_settings({}), pool)
    assert isinstance(memory.store, MemoryStore) and (memory.rate, memory.burst) == (20, 40)
    warehouse = ratelimit.limiter_from(api_settings({"MODELATLAS_API_RATE_LIMIT_STORAGE": "warehouse"}), pool)
    assert isinstance(warehouse.store, ratelimit.WarehouseStore) and warehouse.store.pool is pool
    url = "redis://:hunter2-redis-secret@127.0.0.1:6399/0"
    redis = ratelimit.limiter_from(api_settings({"MODELATLAS_API_RATE_LIMIT_STORAGE": url}), pool)
    assert isinstance(redis.store, ratelimit.RedisStore)
    from modelatlas.redaction import redact

    assert "hunter2" not in redact(f"failed to reach {url}")
    asyncio.run(redis.aclose())


class _Broken:
    async def take(self, key: str, rate: float, burst: int, now: float) -> Decision:
        raise ConnectionError("store down")

    async def aclose(self) -> None:
        pass


def test_a_failing_store_lets_requests_pass_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimiter(_Broken(), 1, 1)

    async def scenario() -> list[Decision | None]:
        return [await limiter.hit("key:a") for _ in range(3)]

    assert asyncio.run(scenario()) == [None, None, None]
    assert caplog.text.count("rate limits are not applied") == 1


def _app(rate: float = 1, burst: int = 2, **variables: str) -> FastAPI:
    app = FastAPI()
    app.add_middleware(RateLimitMiddleware, exempt_paths=("/health",))
    settings = api_settings(
        {
            "MODELATLAS_API_PUBLIC_READ": "true",
            "MODELATLAS_API_RATE_LIMIT_PER_S": str(rate),
            "MODELATLAS_API_RATE_LIMIT_BURST": str(burst),
            **variables,
        }
    )
    pool: Any = None  # anonymous callers never reach the keys
    app.state.context = ApiContext(settings, marts=pool, keys=pool)

    @app.get("/v2/models")
    async def models() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"ok": "yes"}

    return app


def _get(app: FastAPI, paths: list[str], client: tuple[str, int] = ("10.0.0.1", 5000)) -> list[httpx.Response]:
    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            return [await http.get(path) for path in paths]

    return asyncio.run(scenario())


def test_every_response_carries_the_headers_and_a_refusal_is_a_429_problem() -> None:
    app = _app(rate=0.5, burst=2)
    first, missing, refused = _get(app, ["/v2/models", "/nowhere", "/v2/models"])
    assert first.status_code == 200 and first.json() == {"ok": "yes"}
    assert first.headers["RateLimit-Limit"] == "2" and first.headers["RateLimit-Remaining"] == "1"
    assert first.headers["RateLimit-Reset"] == "2" and "Retry-After" not in first.headers
    assert missing.status_code == 404 and missing.headers["RateLimit-Remaining"] == "0"
    assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["RateLimit-Remaining"] == "0" and int(refused.headers["Retry-After"]) >= 1
    body = refused.json()
    assert body["status"] == 429 and body["title"] == "Too many requests" and "retry after" in body["detail"]
    assert body["instance"] == "/v2/models"


def test_anonymous_callers_have_a_bucket_per_address_and_exempt_paths_have_none() -> None:
    app = _app(rate=0.001, burst=1)
    assert [r.status_code for r in _get(app, ["/v2/models", "/v2/models"])] == [200, 429]
    assert _get(app, ["/v2/models"], client=("10.0.0.2", 5000))[0].status_code == 200
    health = _get(app, ["/health", "/health"])
    assert [r.status_code for r in health] == [200, 200] and "RateLimit-Limit" not in health[0].headers
    limiter = ratelimit.limiter_of(app.state.context)
    assert isinstance(limiter.store, MemoryStore) and len(limiter.store) == 2
