"""The one HTTP client factory: timeouts, a project user agent, and errors that never carry a secret."""

from __future__ import annotations

from importlib.metadata import version

import httpx

from modelatlas.errors import SourceError, SourceUnreachableError
from modelatlas.redaction import redact

DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 30.0


def user_agent() -> str:
    """The User-Agent every ModelAtlas request sends."""
    return f"modelatlas/{version('modelatlas')} (+https://github.com/modelatlas/modelatlas)"


def build_client(
    *,
    base_url: str = "",
    headers: dict[str, str] | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    read_timeout: float = DEFAULT_READ_TIMEOUT_S,
) -> httpx.Client:
    """An httpx client with bounded timeouts; secrets go in `headers`, never in the URL."""
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    return httpx.Client(
        base_url=base_url,
        headers={"User-Agent": user_agent(), **(headers or {})},
        timeout=timeout,
        follow_redirects=True,
    )


def describe_failure(source: str, url: str, exc: httpx.HTTPError) -> SourceError:
    """The project error for a failed request: `unreachable` for transport failures, the status otherwise."""
    if isinstance(exc, httpx.HTTPStatusError):
        return SourceError(redact(f"{source}: {url} answered HTTP {exc.response.status_code}"))
    if isinstance(exc, httpx.TransportError):
        return SourceUnreachableError(redact(f"{source}: {url} is unreachable ({type(exc).__name__}: {exc})"))
    return SourceError(redact(f"{source}: request to {url} failed ({type(exc).__name__}: {exc})"))
