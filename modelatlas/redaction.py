"""Secret redaction: every secret ModelAtlas knows of is replaced before text leaves the process."""

from __future__ import annotations

import re
from collections.abc import Iterable

from modelatlas.settings import variable_values

REDACTED = "***"
# ModelAtlas's own secret variables; every source's key variable is one too (see `secret_variables`).
OWN_SECRET_VARIABLES = (
    "MODELATLAS_WAREHOUSE_PASSWORD",
    "MODELATLAS_READER_PASSWORD",
    "MODELATLAS_APP_PASSWORD",
    # Slack's and Discord's webhook URLs carry their token: the URL itself is the secret.
    "MODELATLAS_SLACK_WEBHOOK_URL",
    "MODELATLAS_DISCORD_WEBHOOK_URL",
    "MODELATLAS_WEBHOOK_URL",
    "MODELATLAS_WEBHOOK_SECRET",
    "MODELATLAS_SMTP_URL",
    "MODELATLAS_API_PASSWORD",
    "MODELATLAS_API_JWT_SECRET",
)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@\s]+)@", re.I)
_registered: set[str] = set()
# Shorter values would redact ordinary words; no real key is this short.
_MIN_SECRET_LENGTH = 6


def register_secret(value: str | None) -> None:
    """Remember a secret that did not come from a known variable (a generated password, say)."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        _registered.add(value)


def secret_variables() -> tuple[str, ...]:
    """Variables whose values are secrets, whatever their names say: ModelAtlas's own and every source's key."""
    # Imported here: the sources' modules use this module through the HTTP client.
    from modelatlas.pipelines.registry import secret_variables as source_secrets

    return (*OWN_SECRET_VARIABLES, *source_secrets())


def known_secrets(extra: Iterable[str] = ()) -> list[str]:
    """All secrets to redact, longest first so that one never leaves part of another."""
    values = variable_values(secret_variables()) | _registered | set(extra)
    return sorted((v for v in values if len(v) >= _MIN_SECRET_LENGTH), key=len, reverse=True)


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with URL passwords and every known secret replaced by `***`."""
    # Known secrets first: a password holding "@" would otherwise be cut in two by the URL pattern.
    for secret in known_secrets(extra):
        text = text.replace(secret, REDACTED)
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
