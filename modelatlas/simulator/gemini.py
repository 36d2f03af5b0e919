"""Google Gemini's models endpoint: GET /v1beta/models with pageSize/pageToken, the key in `x-goog-api-key`,
Google's error bodies (google.rpc.Status) and a 429 whose retry delay sits in the body's RetryInfo."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from modelatlas.simulator.core import ProviderHandler, SimRequest, SimResponse, load_fixture

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
SERVICE = "generativelanguage.googleapis.com"
INVALID_KEY_MESSAGE = "API key not valid. Please pass a valid API key."
MISSING_KEY_MESSAGE = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
# HTTP status -> google.rpc.Code name, as Google's JSON errors spell it.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
SERVER_MESSAGES = {
    500: (
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting"
    ),
    503: "The service is currently unavailable.",
    504: "The request timed out. Please try again.",
}


def page_token(last_name: str) -> str:
    """An opaque next-page token shaped like Google's: a base64 protobuf holding the last name served."""
    raw = last_name.encode()
    if len(raw) > 127:  # one length byte, as in Google's tokens for names this short
        raise ValueError(f"model name too long for a page token: {last_name!r}")
    return base64.b64encode(b"\n" + bytes([len(raw)]) + raw).decode()


def token_name(token: str) -> str | None:
    """The model name a token points after, or None when the token is not one of ours."""
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 2 or raw[0] != 0x0A or raw[1] != len(raw) - 2:
        return None
    try:
        return raw[2:].decode()
    except UnicodeDecodeError:
        return None


class GeminiHandler(ProviderHandler):
    """Serves `/v1beta/models` (and `/v1beta/models/{id}`) from `fixtures/gemini/models.json`, in pages."""

    name = "gemini"
    items_key = "models"

    def __init__(self, api_key: str | None) -> None:
        super().__init__(api_key)
        self.models: list[dict[str, Any]] = load_fixture("gemini")

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        # Google also accepts `?key=`; ModelAtlas never sends it, but the simulator answers like the API would.
        key = request.header("x-goog-api-key") or request.param("key")
        if not key:
            return self.error(403, MISSING_KEY_MESSAGE)
        if self.api_key is not None and key != self.api_key:
            response = self.error(400, INVALID_KEY_MESSAGE)
            response.body["error"]["details"] = [
                {
                    "@type": ERROR_INFO,
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": SERVICE},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": INVALID_KEY_MESSAGE,
                },
            ]
            return response
        return None

    def route(self, request: SimRequest) -> SimResponse:
        if request.method != "GET":
            return self.not_found(request)
        if request.path == "/v1beta/models":
            return self._list(request)
        prefix = "/v1beta/models/"
        if request.path.startswith(prefix):
            wanted = "models/" + request.path.removeprefix(prefix)
            model = next((item for item in self.models if item["name"] == wanted), None)
            if model is None:
                return self.error(
                    404, f"models/{request.path.removeprefix(prefix)} is not found for API version v1beta"
                )
            return SimResponse(200, model, self._headers())
        return self.not_found(request)

    def _list(self, request: SimRequest) -> SimResponse:
        size_param = request.param("pageSize")
        try:
            size = int(size_param) if size_param else DEFAULT_PAGE_SIZE
        except ValueError:
            return self.error(400, f"Invalid value at 'page_size' (TYPE_INT32), \"{size_param}\"")
        if size < 0:
            return self.error(400, "page_size must not be negative.")
        size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        start = 0
        token = request.param("pageToken")
        if token:
            after = token_name(token)
            names = [item["name"] for item in self.models]
            if after is None or after not in names:
                return self.error(400, "Invalid page token.")
            start = names.index(after) + 1
        page = self.models[start : start + size]
        body: dict[str, Any] = {"models": page}
        if start + size < len(self.models) and page:
            body["nextPageToken"] = page_token(page[-1]["name"])
        return SimResponse(200, body, self._headers())

    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        if status >= 500 and code in ("server_error", None):
            message = SERVER_MESSAGES.get(status, message)
        body = {"error": {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}}
        return SimResponse(status, body, self._headers())

    def not_found(self, request: SimRequest) -> SimResponse:
        return self.error(404, f"Method not found: {request.path}")

    def rate_limited(self, retry_after_s: float) -> SimResponse:
        """Google's 429: no Retry-After header; the delay is the RetryInfo detail of the body."""
        response = self.error(
            429,
            "You exceeded your current quota, please check your plan and billing details. For more information on "
            "this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
        )
        response.body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": f"{SERVICE}/generate_requests_per_model",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
            {"@type": RETRY_INFO, "retryDelay": f"{retry_after_s:g}s"},
        ]
        return response

    @staticmethod
    def _headers() -> dict[str, str]:
        return {
            "content-type": "application/json; charset=UTF-8",
            "server": "scaffolding on HTTPServer2",
            "vary": "Origin, X-Origin, Referer",
            "x-content-type-options": "nosniff",
        }
