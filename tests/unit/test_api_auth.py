"""The caller's credentials from headers, scopes, and the team a usage query is limited to."""

from __future__ import annotations

import pytest

from modelatlas.api.auth import Principal, credential_from, require, usage_team_filter
from modelatlas.api.problems import Problem


def _caller(scopes: set[str], team: str | None = "research", anonymous: bool = False) -> Principal:
    return Principal(None if anonymous else "abcd1234", team, frozenset(scopes), anonymous, "10.0.0.1")


def test_credentials_come_from_a_bearer_authorization_or_x_api_key() -> None:
    assert credential_from({"authorization": "Bearer ma_x "}) == "ma_x"
    assert credential_from({"authorization": "bearer tok"}) == "tok"
    assert credential_from({"x-api-key": " ma_y"}) == "ma_y"
    # Authorization first: one credential is judged, never the other as a fallback.
    assert credential_from({"authorization": "Bearer a", "x-api-key": "b"}) == "a"
    assert credential_from({}) is None
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc"):
        with pytest.raises(Problem) as refused:
            credential_from({"authorization": header})
        assert refused.value.status == 401 and refused.value.headers["WWW-Authenticate"].startswith("Bearer")


def test_usage_all_reads_every_team_and_usage_read_its_own() -> None:
    assert usage_team_filter(_caller({"usage:all"})) is None
    assert usage_team_filter(_caller({"usage:read"})) == "research"
    assert _caller({"usage:all"}).has("usage:read") and not _caller({"usage:all"}).has("catalog:read")
    with pytest.raises(Problem) as refused:
        usage_team_filter(_caller(set(), team=None, anonymous=True))
    assert refused.value.status == 403


def test_require_knows_only_the_valid_scopes() -> None:
    with pytest.raises(ValueError, match="catalog:read, usage:read, usage:all"):
        require("usage:write")
    assert require("usage:read").__name__ == "require_usage_read"
