"""Anthropic's Models API: `x-api-key` auth, cursor pages, and Anthropic's error and rate-limit shapes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from modelatlas.simulator.core import ProviderHandler, SimRequest, SimResponse, load_fixture

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
REQUESTS_PER_MINUTE = 50
# Anthropic's documented error types by HTTP status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    """Anthropic's `error.type` for an HTTP status."""
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def page(models: list[dict[str, Any]], limit: int, after_id: str | None, before_id: str | None) -> dict[str, Any]:
    """One page of `models` (newest first) the way `/v1/models` cuts it: `limit` items after or before a cursor."""
    ids = [model["id"] for model in models]
    if after_id is not None:
        start = ids.index(after_id) + 1
        chunk, has_more = models[start : start + limit], start + limit < len(models)
    elif before_id is not None:
        end = ids.index(before_id)
        start = max(0, end - limit)
        chunk, has_more = models[start:end], start > 0
    else:
        chunk, has_more = models[:limit], limit < len(models)
    return {
        "data": chunk,
        "has_more": has_more,
        "first_id": chunk[0]["id"] if chunk else None,
        "last_id": chunk[-1]["id"] if chunk else None,
    }


class AnthropicHandler(ProviderHandler):
    """Serves `/v1/models` and `/v1/models/{model_id}` from `fixtures/anthropic/models.json`."""

    name = "anthropic"

    def __init__(self, api_key: str | None) -> None:
        super().__init__(api_key)
        self.models: list[dict[str, Any]] = load_fixture("anthropic")

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        if self.api_key is not None and request.header("x-api-key") == self.api_key:
            return None
        return self.error(401, "invalid x-api-key")

    def route(self, request: SimRequest) -> SimResponse:
        if request.method != "GET":
            return self.not_found(request)
        if not request.header("anthropic-version"):
            return self.error(400, "anthropic-version: header is required")
        if request.path == "/v1/models":
            return self._list(request)
        prefix = "/v1/models/"
        if request.path.startswith(prefix) and "/" not in request.path[len(prefix) :]:
            model_id = request.path[len(prefix) :]
            model = next((model for model in self.models if model["id"] == model_id), None)
            if model is None:
                return self.error(404, f"model: {model_id}")
            return SimResponse(200, model, self._headers())
        return self.not_found(request)

    def _list(self, request: SimRequest) -> SimResponse:
        raw_limit = request.param("limit", str(DEFAULT_LIMIT)) or ""
        try:
            limit = int(raw_limit)
        except ValueError:
            return self.error(400, f"limit: Input should be a valid integer, got {raw_limit!r}")
        if not 1 <= limit <= MAX_LIMIT:
            return self.error(400, f"limit: Input should be between 1 and {MAX_LIMIT}")
        after_id, before_id = request.param("after_id"), request.param("before_id")
        if after_id is not None and before_id is not None:
            return self.error(400, "Only one of after_id and before_id may be given")
        known = {model["id"] for model in self.models}
        for name, cursor in (("after_id", after_id), ("before_id", before_id)):
            if cursor is not None and cursor not in known:
                return self.error(400, f"{name}: unknown model id {cursor!r}")
        return SimResponse(200, page(self.models, limit, after_id, before_id), self._headers())

    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        request_id = _request_id()
        body = {"type": "error", "error": {"type": error_type(status), "message": message}, "request_id": request_id}
        return SimResponse(status, body, self._headers(request_id))

    def rate_limited(self, retry_after_s: float) -> SimResponse:
        response = self.error(429, "Number of request tokens has exceeded your per-minute rate limit")
        reset = datetime.now(UTC) + timedelta(seconds=retry_after_s)
        response.headers.update(
            {
                "retry-after": _seconds(retry_after_s),
                "anthropic-ratelimit-requests-limit": str(REQUESTS_PER_MINUTE),
                "anthropic-ratelimit-requests-remaining": "0",
                "anthropic-ratelimit-requests-reset": reset.isoformat(timespec="seconds").replace("+00:00", "Z"),
            }
        )
        return response

    @staticmethod
    def _headers(request_id: str | None = None) -> dict[str, str]:
        reset = datetime.now(UTC) + timedelta(seconds=60)
        return {
            "request-id": request_id or _request_id(),
            "anthropic-organization-id": "00000000-0000-4000-8000-000000000000",
            "anthropic-ratelimit-requests-limit": str(REQUESTS_PER_MINUTE),
            "anthropic-ratelimit-requests-remaining": str(REQUESTS_PER_MINUTE - 1),
            "anthropic-ratelimit-requests-reset": reset.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }


def _request_id() -> str:
    return f"req_{uuid.uuid4().hex[:24]}"


def _seconds(value: float) -> str:
    # Anthropic sends whole seconds; the simulator keeps sub-second delays so tests stay fast.
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
