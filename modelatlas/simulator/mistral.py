"""Mistral's models endpoint: GET /v1/models, Bearer auth, one unpaginated list, both of Mistral's error shapes."""

from __future__ import annotations

import uuid
from typing import Any

from modelatlas.simulator.core import ProviderHandler, SimRequest, SimResponse, load_fixture

# Mistral's per-minute budgets, as its rate-limit headers advertise them.
REQUESTS_PER_MINUTE = 300
TOKENS_PER_MINUTE = 2_000_000
# The statuses answered in the older `{"message": ...}` shape; everything else gets the newer error object.
LEGACY_SHAPE_STATUSES = frozenset({502, 503, 504})
_ERROR_TYPES = {400: "invalid_request_error", 404: "invalid_request_error", 422: "invalid_request_error"}


class MistralHandler(ProviderHandler):
    """Serves `/v1/models` from `fixtures/mistral/models.json`."""

    name = "mistral"

    def __init__(self, api_key: str | None) -> None:
        super().__init__(api_key)
        self.models = load_fixture("mistral")

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        if request.header("authorization") == f"Bearer {self.api_key}":
            return None
        return SimResponse(401, {"message": "Unauthorized", "request_id": uuid.uuid4().hex}, self._headers())

    def route(self, request: SimRequest) -> SimResponse:
        if request.method != "GET" or request.path != "/v1/models":
            return self.not_found(request)
        return SimResponse(200, {"object": "list", "data": self.models}, self._headers())

    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        body: dict[str, Any]
        if status in LEGACY_SHAPE_STATUSES:
            body = {"message": message}
        else:
            kind = "rate_limited" if status == 429 else _ERROR_TYPES.get(status, "internal_server_error")
            body = {"object": "error", "message": message, "type": kind, "param": None, "code": code}
        return SimResponse(status, body, self._headers())

    def rate_limited(self, retry_after_s: float) -> SimResponse:
        response = self.error(429, "Requests rate limit exceeded", "1300")
        response.headers.update(
            {
                "retry-after": f"{retry_after_s:g}",
                "x-ratelimit-remaining-req-minute": "0",
            }
        )
        return response

    @staticmethod
    def _headers() -> dict[str, str]:
        return {
            "mistral-correlation-id": str(uuid.uuid4()),
            "x-ratelimit-limit-req-minute": str(REQUESTS_PER_MINUTE),
            "x-ratelimit-remaining-req-minute": str(REQUESTS_PER_MINUTE - 1),
            "x-ratelimit-limit-tokens-minute": str(TOKENS_PER_MINUTE),
            "x-ratelimit-remaining-tokens-minute": str(TOKENS_PER_MINUTE),
        }
