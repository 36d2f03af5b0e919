"""OpenRouter's models endpoint: GET /api/v1/models, optional Bearer auth, offset paging, OpenRouter's error shape."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from modelatlas.simulator.core import ProviderHandler, SimRequest, SimResponse, load_fixture

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000


class OpenRouterHandler(ProviderHandler):
    """Serves `/api/v1/models` from `fixtures/openrouter/models.json`.

    Anonymous requests are served, as on the real endpoint; a Bearer token other than the configured key gets 401.
    `legacy=True` answers the older way: the whole list as `{data}`, every query parameter ignored. OpenRouter's docs
    say a 429 *may* carry `Retry-After`; the official example has none, so it is sent only with
    `retry_after_on_429=True`.
    """

    name = "openrouter"

    def __init__(self, api_key: str | None, *, legacy: bool = False, retry_after_on_429: bool = False) -> None:
        super().__init__(api_key)
        self.models: list[dict[str, Any]] = load_fixture("openrouter")
        self.legacy = legacy
        self.retry_after_on_429 = retry_after_on_429

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        authorization = request.header("authorization")
        if authorization is None or self.api_key is None or authorization == f"Bearer {self.api_key}":
            return None
        return self.error(401, "User not found.")

    def route(self, request: SimRequest) -> SimResponse:
        if request.method != "GET" or request.path.rstrip("/") != "/api/v1/models":
            return self.not_found(request)
        if self.legacy:
            return SimResponse(200, {"data": self.models})
        models = self._filtered(request.param("output_modalities", "text") or "text")
        try:
            offset = int(request.param("offset", "0") or 0)
            limit = int(request.param("limit", str(DEFAULT_LIMIT)) or DEFAULT_LIMIT)
        except ValueError:
            return self.error(400, "offset and limit must be integers")
        if offset < 0 or not 1 <= limit <= MAX_LIMIT:
            return self.error(400, f"offset must be >= 0 and limit between 1 and {MAX_LIMIT}")
        page = models[offset : offset + limit]
        following = offset + limit
        body: dict[str, Any] = {"data": page, "links": {"next": None}, "total_count": len(models)}
        if following < len(models):
            query = {key: values[0] for key, values in request.query.items() if values}
            query.update(offset=str(following), limit=str(limit))
            # Like the real API: a path from the host root, not from the base URL the client was given.
            body["links"]["next"] = f"/api/v1/models?{urlencode(query)}"
        return SimResponse(200, body)

    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        error: dict[str, Any] = {"code": status, "message": message}
        if status in (502, 503):
            error["metadata"] = {"provider_name": None, "raw": code}
        return SimResponse(status, {"error": error})

    def rate_limited(self, retry_after_s: float) -> SimResponse:
        response = self.error(429, "Rate limit exceeded")
        if self.retry_after_on_429:
            response.headers["retry-after"] = f"{retry_after_s:g}"
        return response

    def _filtered(self, output_modalities: str) -> list[dict[str, Any]]:
        wanted = {part.strip() for part in output_modalities.split(",") if part.strip()}
        if "all" in wanted:
            return self.models
        return [
            item
            for item in self.models
            if wanted & set(item.get("architecture", {}).get("output_modalities") or ["text"])
        ]
