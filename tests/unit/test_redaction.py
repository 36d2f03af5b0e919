"""Secret redaction: URL passwords, known secret variables and registered secrets become `***`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelatlas.redaction import REDACTED, known_secrets, redact, register_secret, secret_variables


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://user:secret@host/db", "postgresql://user:***@host/db"),
        (
            "postgres://modelatlas:s3cr%40t@127.0.0.1:5433/modelatlas",
            "postgres://modelatlas:***@127.0.0.1:5433/modelatlas",
        ),
        ("POSTGRESQL://User:Secret@HOST/db", "POSTGRESQL://User:***@HOST/db"),
        ("https://robot:tok@example.test/x", "https://robot:***@example.test/x"),
        (
            "from postgresql://a:one@h1/db to postgresql://b:two@h2/db failed",
            "from postgresql://a:***@h1/db to postgresql://b:***@h2/db failed",
        ),
    ],
)
def test_url_passwords_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text", ["postgresql://user@host/db", "postgresql://host:5432/db", "nothing to hide here", "ratio 3:4 @ noon"]
)
def test_text_without_secrets_is_unchanged(text: str) -> None:
    assert redact(text) == text


def test_a_password_given_without_a_user_is_masked() -> None:
    # libpq and ConnectionInfo.from_url accept an empty user name (the default role is used).
    assert "hunter22" not in redact("cannot connect to postgresql://:hunter22@db.internal:5432/modelatlas")


@pytest.mark.parametrize("name", secret_variables())
def test_values_of_secret_variables_are_masked(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "value-of-a-secret-42")

    text = redact("sent value-of-a-secret-42 twice: value-of-a-secret-42.")

    assert text == "sent *** twice: ***."


def test_values_of_other_variables_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELATLAS_HOME", "/srv/modelatlas-home")

    assert redact("home is /srv/modelatlas-home") == "home is /srv/modelatlas-home"


def test_short_values_are_not_treated_as_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "abcde")
    register_secret("pass1")

    assert redact("abcde and pass1 stay") == "abcde and pass1 stay"
    assert known_secrets() == []


def test_registered_secrets_are_masked() -> None:
    register_secret("generated-pw-1")
    register_secret("sixsix")  # exactly the minimum length

    assert redact("password generated-pw-1, then sixsix") == "password ***, then ***"
    assert set(known_secrets()) == {"generated-pw-1", "sixsix"}


@pytest.mark.parametrize("value", [None, "", "12345"])
def test_register_secret_ignores_empty_and_short_values(value: str | None) -> None:
    register_secret(value)

    assert known_secrets() == []


def test_extra_secrets_are_masked_for_one_call_only() -> None:
    assert redact("token tok-abcdef", extra=["tok-abcdef"]) == "token ***"
    assert redact("token tok-abcdef") == "token tok-abcdef"


def test_the_longest_secret_is_masked_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_abcdef")
    register_secret("hf_abcdef_longer_one")

    assert known_secrets() == ["hf_abcdef_longer_one", "hf_abcdef"]
    assert redact("key hf_abcdef_longer_one") == "key ***"


def test_a_registered_password_with_an_at_sign_is_masked_in_a_url() -> None:
    # ConnectionInfo.from_url splits user info at the last "@", so this URL works, with password "p@ssword1".
    register_secret("p@ssword1")

    masked = redact("connecting to postgresql://modelatlas:p@ssword1@db.internal/modelatlas")

    assert "ssword1" not in masked


secret_text = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=6, max_size=40
)
surrounding = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 .,;()", max_size=40)


@given(secret=secret_text, before=surrounding, after=surrounding)
def test_a_known_secret_never_survives_redaction(secret: str, before: str, after: str) -> None:
    masked = redact(before + secret + after + secret, extra=[secret])

    assert secret not in masked
    assert masked.count(REDACTED) >= 2


@given(user=st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True), password=secret_text)
def test_a_url_password_never_survives_redaction(user: str, password: str) -> None:
    masked = redact(f"error at postgresql://{user}:{password}@db.example.test:5432/modelatlas")

    assert masked == f"error at postgresql://{user}:***@db.example.test:5432/modelatlas"
