"""API keys as pure functions: their format, the hash kept of them, scopes, and the verdict on a presented key."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.api import keys
from modelatlas.api.keys import KeyRecord, StoredSecret
from modelatlas.errors import ConfigurationError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _record(**changes: object) -> KeyRecord:
    values: dict[str, object] = {
        "id": "abcd1234",
        "name": None,
        "team": "research",
        "scopes": frozenset({keys.CATALOG_READ}),
        "created_at": NOW - timedelta(days=1),
        "expires_at": None,
        "revoked_at": None,
        "last_used_at": None,
    }
    values.update(changes)
    return KeyRecord(**values)  # type: ignore[arg-type]


def test_a_generated_key_has_the_documented_shape_and_parses_back() -> None:
    key_id, key = keys.generate_key()
    assert len(key_id) == keys.ID_LENGTH and set(key_id) <= set(string.ascii_lowercase + string.digits)
    assert key.startswith(f"ma_{key_id}_")
    secret = key.removeprefix(f"ma_{key_id}_")
    assert len(secret) >= keys.MIN_SECRET_LENGTH
    assert keys.parse_key(key) == (key_id, secret)
    assert keys.parse_key(f"  {key}\n") == (key_id, secret)
    assert keys.generate_key()[1] != key


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "ma_abcd1234",
        "ma_abcd1234_short",
        "ma_ABCD1234_" + "x" * 43,  # ids are lowercase
        "ma_abc1234_" + "x" * 43,
        "xx_abcd1234_" + "x" * 43,
        "ma_abcd1234_" + "x" * 42 + "!",
        "eyJhbGciOiJIUzI1NiJ9.e30.sig",
    ],
)
def test_anything_else_does_not_parse(presented: str) -> None:
    assert keys.parse_key(presented) is None


def test_the_secret_may_hold_underscores_and_dashes() -> None:
    secret = "_-" * 20
    assert keys.parse_key(f"ma_abcd1234_{secret}") == ("abcd1234", secret)


def test_only_the_salted_hash_is_kept_and_it_verifies_the_key_alone() -> None:
    _, key = keys.generate_key()
    stored = keys.store_secret(key)
    assert len(stored.salt) == keys.SALT_BYTES and len(stored.hash) == 32
    assert key.encode() not in stored.hash + stored.salt
    assert keys.verify_key(key, stored)
    assert not keys.verify_key(key[:-1] + ("A" if key[-1] != "A" else "B"), stored)
    # Another salt, another hash: two rows never share one, even for one key.
    again = keys.store_secret(key)
    assert again.salt != stored.salt and again.hash != stored.hash and keys.verify_key(key, again)


@given(st.text(min_size=1, max_size=80), st.binary(min_size=16, max_size=16))
def test_verification_accepts_exactly_the_hashed_key(key: str, salt: bytes) -> None:
    stored = StoredSecret(salt, keys.hash_key(key, salt))
    assert keys.verify_key(key, stored)
    assert not keys.verify_key(key + "x", stored)


def test_scopes_are_checked_with_the_valid_ones_named() -> None:
    assert keys.parse_scopes("catalog:read, usage:read") == {"catalog:read", "usage:read"}
    with pytest.raises(ConfigurationError) as unknown:
        keys.parse_scopes("catalog:read,usage:write")
    message = str(unknown.value)
    assert "usage:write" in message and "catalog:read, usage:read, usage:all" in message
    with pytest.raises(ConfigurationError, match="at least one scope"):
        keys.parse_scopes(" , ")


def test_usage_all_implies_usage_read_and_nothing_else() -> None:
    assert keys.effective_scopes({keys.USAGE_ALL}) == {keys.USAGE_ALL, keys.USAGE_READ}
    assert keys.effective_scopes({keys.USAGE_READ}) == {keys.USAGE_READ}
    assert keys.CATALOG_READ not in keys.effective_scopes({keys.USAGE_ALL})


def test_a_record_is_refused_once_revoked_or_expired() -> None:
    assert _record().refusal(NOW) is None and _record().state(NOW) == "active"
    assert _record(revoked_at=NOW - timedelta(seconds=1)).refusal(NOW) == "revoked"
    assert _record(expires_at=NOW).refusal(NOW) == "expired"
    assert _record(expires_at=NOW + timedelta(seconds=1)).refusal(NOW) is None


def test_the_verdict_on_a_presented_key_names_its_reason() -> None:
    key_id, key = keys.generate_key("abcd1234")
    stored = keys.store_secret(key)
    row = ("abcd1234", None, "research", ["catalog:read"], NOW, None, None, None)
    accepted = keys.check_presented(key, row, stored, NOW)
    assert accepted.record is not None and accepted.reason == "accepted" and accepted.record.team == "research"
    assert keys.check_presented("nonsense", row, stored, NOW).reason == "malformed"
    assert keys.check_presented(key, None, None, NOW).reason == "unknown"
    _, other = keys.generate_key("abcd1234")
    wrong = keys.check_presented(other, row, stored, NOW)
    assert wrong.record is None and wrong.reason == "wrong secret" and wrong.key_id == key_id
    revoked = ("abcd1234", None, "research", ["catalog:read"], NOW, None, NOW, None)
    assert keys.check_presented(key, revoked, stored, NOW).reason == "revoked"
    expired = ("abcd1234", None, "research", ["catalog:read"], NOW, NOW - timedelta(days=1), None, None)
    assert keys.check_presented(key, expired, stored, NOW).reason == "expired"


def test_last_used_is_due_once_a_minute() -> None:
    assert keys.due_for_touch(_record(), NOW)
    assert not keys.due_for_touch(_record(last_used_at=NOW - timedelta(seconds=59)), NOW)
    assert keys.due_for_touch(_record(last_used_at=NOW - timedelta(seconds=60)), NOW)


def test_a_key_is_told_apart_from_a_token() -> None:
    assert keys.looks_like_key("ma_whatever")
    assert not keys.looks_like_key("eyJhbGciOiJIUzI1NiJ9.e30.sig")
