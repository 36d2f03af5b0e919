"""OpenAI's models endpoint: GET /v1/models, Bearer auth, one list, OpenAI's error and rate-limit shapes."""

from __future__ import annotations

import uuid

from modelatlas.simulator.core import ProviderHandler, SimRequest, SimResponse, load_fixture


class OpenAIHandler(ProviderHandler):
    """Serves `/v1/models` from `fixtures/openai/models.json`."""

    name = "openai"

    def __init__(self, api_key: str | None) -> None:
        super().__init__(api_key)
        self.models = load_fixture("openai")

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        if request.header("authorization") == f"Bearer {self.api_key}":
            return None
        response = self.error(401, "Incorrect API key provided. You can find your API key in your dashboard.")
        response.body["error"]["code"] = "invalid_api_key"
        return response

    def route(self, request: SimRequest) -> SimResponse:
        if request.method != "GET" or request.path != "/v1/models":
            return self.not_found(request)
        return SimResponse(200, {"object": "list", "data": self.models}, self._headers())

    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        kind = "requests" if status == 429 else "invalid_request_error" if status < 500 else "server_error"
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return SimResponse(status, body, self._headers())

    def rate_limited(self, retry_after_s: float) -> SimResponse:
        response = self.error(429, "Rate limit reached for requests", "rate_limit_exceeded")
        response.headers.update(
            {
                "retry-after-ms": str(int(retry_after_s * 1000)),
                "x-ratelimit-limit-requests": "500",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": f"{retry_after_s:g}s",
            }
        )
        return response

    @staticmethod
    def _headers() -> dict[str, str]:
        return {"x-request-id": f"req_{uuid.uuid4().hex[:24]}", "openai-processing-ms": "12"}
