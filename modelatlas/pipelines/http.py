"""The one HTTP layer: timeouts, retries with backoff that honour the provider's advertised delay, a time budget
per source, keys in headers only, and errors that never carry a secret."""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import httpx
import tenacity

from modelatlas.errors import AuthenticationError, RateLimitedError, SourceError, SourceUnreachableError
from modelatlas.redaction import redact, register_secret

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 30.0
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
# The IETF RateLimit header Hugging Face sends: `"api";r=0;t=55` (t: seconds until the window resets).
_RATELIMIT_RESET = re.compile(r";\s*t=(?P<seconds>\d+(?:\.\d+)?)\s*(?:;|$)")
_GEMINI_DELAY = re.compile(r"^\s*(?P<seconds>\d+(?:\.\d+)?)s\s*$")


def user_agent() -> str:
    """The User-Agent every ModelAtlas request sends."""
    return f"modelatlas/{version('modelatlas')} (+https://github.com/modelatlas/modelatlas)"


def build_client(
    *,
    base_url: str = "",
    headers: Mapping[str, str] | None = None,
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


def retry_delay_s(response: httpx.Response, now: datetime | None = None) -> float | None:
    """The delay a response asks for: `retry-after-ms`, `retry-after` (seconds or HTTP date), Gemini's RetryInfo."""
    milliseconds = response.headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    header = response.headers.get("retry-after")
    if header is not None:
        try:
            return max(0.0, float(header))
        except ValueError:
            parsed = _http_date(header)
            if parsed is not None:
                return max(0.0, (parsed - (now or datetime.now(UTC))).total_seconds())
    ratelimit = _RATELIMIT_RESET.search(response.headers.get("ratelimit", ""))
    if ratelimit is not None:
        return float(ratelimit["seconds"])
    return _gemini_retry_delay(response)


def _http_date(value: str) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _gemini_retry_delay(response: httpx.Response) -> float | None:
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details", []) if isinstance(error, dict) else []
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _GEMINI_DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match["seconds"])
    return None


def error_message(response: httpx.Response) -> str:
    """The provider's own error message from a JSON error body, or a short excerpt of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if body.get("message"):
            return str(body["message"])
    return json.dumps(body)[:200]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one source tries: attempts per request, backoff bounds and a total time budget."""

    attempts: int = 5
    initial_wait_s: float = 0.5
    max_wait_s: float = 30.0
    budget_s: float = 120.0
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S


class _RetryableStatusError(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class _AdvertisedOrExponentialWait(tenacity.wait.wait_base):
    """The delay the server advertised when it gave one, otherwise exponential backoff with jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.fallback = tenacity.wait_exponential_jitter(
            multiplier=policy.initial_wait_s, max=policy.max_wait_s, jitter=policy.initial_wait_s
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, _RetryableStatusError):
            advertised = retry_delay_s(error.response)
            if advertised is not None:
                return advertised
        return float(self.fallback(retry_state))


class ApiClient:
    """A provider API client: JSON GETs with retries, within one time budget for the whole source."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        key_env: str | None = None,
        secrets: tuple[str, ...] = (),
        policy: RetryPolicy | None = None,
        rejects_key: Callable[[httpx.Response], bool] | None = None,
    ) -> None:
        """`rejects_key` marks responses beyond 401/403 that mean a bad key (Gemini answers 400 API_KEY_INVALID)."""
        for secret in secrets:
            register_secret(secret)
        self.provider = provider
        self.key_env = key_env
        self.policy = policy or RetryPolicy()
        self.requests_made = 0
        self._rejects_key = rejects_key
        self._deadline = time.monotonic() + self.policy.budget_s
        self._secrets = tuple(secret for secret in secrets if secret)
        self._client = build_client(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            connect_timeout=self.policy.connect_timeout_s,
            read_timeout=self.policy.read_timeout_s,
        )
        self._client.event_hooks["request"].append(self._keep_keys_home)

    @property
    def base_url(self) -> httpx.URL:
        """The base URL every path is relative to."""
        return self._client.base_url

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def _keep_keys_home(self, request: httpx.Request) -> None:
        """Drop every header carrying a key from a request to another origin than the base URL's (a redirect).

        httpx drops `Authorization` on such a redirect, but not a provider's own key header (`x-api-key`)."""
        base = self._client.base_url
        if (request.url.scheme, request.url.host, request.url.port) == (base.scheme, base.host, base.port):
            return
        for name, value in list(request.headers.items()):
            if any(secret in value for secret in self._secrets):
                del request.headers[name]

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        """GET `path` (relative to the base URL), retrying 429, 5xx and connection failures."""
        url = str(self._client.base_url.join(path.lstrip("/")))
        requests_before = self.requests_made
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type((_RetryableStatusError, httpx.TransportError)),
            wait=_AdvertisedOrExponentialWait(self.policy),
            stop=tenacity.stop_after_attempt(self.policy.attempts)
            | tenacity.stop_before_delay(max(0.0, self._deadline - time.monotonic())),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            response: httpx.Response = retrying(self._attempt, path, params)
        except _RetryableStatusError as exc:
            raise self._status_error(exc.response, url, attempts=self.requests_made - requests_before) from None
        except httpx.TransportError as exc:
            raise SourceUnreachableError(
                redact(f"{self.provider}: {url} is unreachable ({type(exc).__name__}: {exc}) after retries")
            ) from None
        if response.status_code >= 400:
            raise self._status_error(response, url, attempts=None)
        return response

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[Any, httpx.Response]:
        """GET `path` and decode its JSON body; a truncated or malformed body is a clear error."""
        response = self.get(path, params)
        try:
            return response.json(), response
        except ValueError:
            raise SourceError(
                f"{self.provider}: {response.url.copy_with(query=None)} returned malformed JSON "
                f"({len(response.content)} bytes; truncated?)"
            ) from None

    def _attempt(self, path: str, params: Mapping[str, Any] | None) -> httpx.Response:
        self.requests_made += 1
        response = self._client.get(path.lstrip("/"), params=params)
        if response.status_code in RETRYABLE_STATUSES:
            response.read()
            raise _RetryableStatusError(response)
        return response

    def _log_retry(self, retry_state: tenacity.RetryCallState) -> None:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        reason = str(error) if isinstance(error, _RetryableStatusError) else type(error).__name__
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        log.info(
            "%s: %s, retrying in %.1f s (attempt %d of %d)",
            self.provider,
            redact(reason),
            wait,
            retry_state.attempt_number + 1,
            self.policy.attempts,
        )

    def _status_error(self, response: httpx.Response, url: str, attempts: int | None) -> SourceError:
        status = response.status_code
        detail = redact(error_message(response))
        if status in (401, 403) or (self._rejects_key is not None and self._rejects_key(response)):
            fix = f": check {self.key_env}" if self.key_env else ""
            return AuthenticationError(f"{self.provider} rejected the API key ({status}){fix} ({detail})")
        retried = f" after {attempts} attempts" if attempts is not None else ""
        if status == 429:
            return RateLimitedError(f"{self.provider}: rate limited (429){retried}: {detail}")
        return SourceError(redact(f"{self.provider}: {url} answered HTTP {status}{retried}: {detail}"))
