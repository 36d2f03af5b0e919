"""Access tokens: what they carry, what verification refuses, the secret's checks, the cache of key validity."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from modelatlas.api import tokens
from modelatlas.api.keys import KeyRecord
from modelatlas.api.settings import api_settings
from modelatlas.api.tokens import KeyCache, TokenConfigurationError, TokenError, VerifiedKeys
from modelatlas.redaction import redact

SECRET = "s" * 16 + "-token-signing-secret-for-tests"
SCOPES = frozenset({"catalog:read", "usage:read"})


def _token(**claims: object) -> str:
    now = int(time.time())
    payload: dict[str, object] = {
        "iss": tokens.ISSUER,
        "aud": tokens.AUDIENCE,
        "sub": "abcd1234",
        "team": "research",
        "scopes": ["catalog:read"],
        "iat": now,
        "exp": now + 60,
        "jti": "j1",
    }
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, SECRET, algorithm="HS256")


def test_an_issued_token_verifies_with_its_claims() -> None:
    issued = tokens.issue_token("abcd1234", "research", SCOPES, SECRET, ttl_s=900)
    assert issued.expires_in == 900
    claims = tokens.verify_token(issued.access_token, SECRET)
    assert (claims.key_id, claims.team, claims.scopes) == ("abcd1234", "research", SCOPES)
    assert claims.expires_at - claims.issued_at == 900
    raw = jwt.decode(issued.access_token, options={"verify_signature": False})
    assert raw["aud"] == "modelatlas-api" and raw["iss"] == "modelatlas" and raw["jti"]
    assert jwt.get_unverified_header(issued.access_token)["alg"] == "HS256"
    other = tokens.issue_token("abcd1234", "research", SCOPES, SECRET, ttl_s=900)
    assert tokens.verify_token(other.access_token, SECRET).jti != claims.jti


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: tokens.issue_token("k", "t", SCOPES, SECRET, 60, now=time.time() - 120).access_token, "expired"),
        (lambda: _token(aud="someone-else"), "not valid"),
        (lambda: _token(iss="someone-else"), "not valid"),
        (lambda: _token(team=None), "not valid"),
        (lambda: _token(jti=None), "not valid"),
        (lambda: _token(exp=None), "not valid"),
        (lambda: _token(scopes=["catalog:write"]), "scopes are not valid"),
        (lambda: _token(scopes="catalog:read"), "scopes are not valid"),
        (lambda: jwt.encode({"sub": "k"}, "another-secret-of-32-characters-or-more", algorithm="HS256"), "not valid"),
        (lambda: _token()[:-2] + "xx", "not valid"),
        (lambda: "not-a-jwt", "not valid"),
    ],
)
def test_verification_refuses_and_says_to_get_a_new_token(token: object, reason: str) -> None:
    assert callable(token)
    with pytest.raises(TokenError, match=reason) as refused:
        tokens.verify_token(token(), SECRET)
    assert "POST /v2/token" in str(refused.value)


def test_an_unsigned_token_is_refused() -> None:
    unsigned = jwt.encode(
        {"iss": "modelatlas", "aud": "modelatlas-api", "sub": "k", "team": "t", "scopes": [], "jti": "j"},
        key=None,
        algorithm="none",
    )
    with pytest.raises(TokenError):
        tokens.verify_token(unsigned, SECRET)


def test_the_secret_is_required_long_and_redacted() -> None:
    with pytest.raises(TokenConfigurationError, match="MODELATLAS_API_JWT_SECRET is not set"):
        tokens.signing_secret(api_settings({}))
    with pytest.raises(TokenConfigurationError, match="shorter than 32"):
        tokens.signing_secret(api_settings({"MODELATLAS_API_JWT_SECRET": "short-but-secret"}))
    assert tokens.signing_secret(api_settings({"MODELATLAS_API_JWT_SECRET": SECRET})) == SECRET
    assert redact(f"secret={SECRET}") == "secret=***"


def test_a_token_grants_only_the_scopes_its_key_still_holds() -> None:
    from datetime import UTC, datetime

    from modelatlas.api.keys import KeyRecord

    claims = tokens.verify_token(tokens.issue_token("k", "t", SCOPES, SECRET, 60).access_token, SECRET)
    now = datetime.now(UTC)
    record = KeyRecord("k", None, "t", frozenset({"catalog:read"}), now, None, None, None)
    assert tokens.token_key_scopes(claims, record) == {"catalog:read"}


def test_the_key_cache_answers_for_a_few_seconds_then_asks_again() -> None:
    clock = [100.0]
    cache = KeyCache(ttl_s=5, clock=lambda: clock[0])
    asked: list[str] = []

    async def load(key_id: str) -> None:
        asked.append(key_id)

    async def scenario() -> None:
        assert await cache.get("a", load) is None
        assert await cache.get("a", load) is None
        clock[0] += 4.9
        await cache.get("a", load)
        assert asked == ["a"]
        clock[0] += 0.2
        await cache.get("a", load)
        await cache.get("b", load)
        assert asked == ["a", "a", "b"]

    asyncio.run(scenario())


def test_an_accepted_key_is_kept_for_a_few_seconds_and_never_past_its_expiry() -> None:
    clock = [100.0]
    kept = VerifiedKeys(ttl_s=5, clock=lambda: clock[0])
    now = datetime.now(UTC)
    record = KeyRecord("k", None, "t", frozenset({"catalog:read"}), now, None, None, None)
    expiring = KeyRecord("e", None, "t", frozenset({"catalog:read"}), now, now + timedelta(milliseconds=50), None, None)
    kept.keep("ma_k_secret", record)
    kept.keep("ma_e_secret", expiring)
    assert kept.get("ma_k_secret") == record and kept.get("ma_k_other") is None
    time.sleep(0.1)
    assert kept.get("ma_e_secret") is None
    clock[0] += 5.1
    assert kept.get("ma_k_secret") is None
