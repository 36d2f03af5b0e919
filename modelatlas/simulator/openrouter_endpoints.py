"""OpenRouter's per-model endpoints API: GET /api/v1/models/{author}/{slug}/endpoints, each upstream provider's
status, uptime, latency and throughput, with OpenRouter's error shape."""

from __future__ import annotations

import copy
import re
from typing import Any

from modelatlas.simulator.core import ProviderHandler, SimRequest, SimResponse, load_fixture

_ENDPOINTS_PATH = re.compile(r"^/api/v1/models/(?P<model>[^/]+/[^/]+)/endpoints/?$")
# Percentiles OpenRouter shows only to a request carrying a key (or a signed-in browser's cookie).
KEYED_FIELDS = ("latency_last_30m", "throughput_last_30m")


class OpenRouterEndpointsHandler(ProviderHandler):
    """Serves the endpoints of every model of `fixtures/openrouter_endpoints/endpoints.json`.

    Anonymous requests are served with latency and throughput null, as on the real API; a request with the
    configured key (any Bearer token when none is configured) gets them filled; another token gets 401. An unknown
    model gets 404. `set_uptime` and `set_status` script an endpoint's degradation and recovery across polls.
    """

    name = "openrouter_endpoints"
    items_key = None

    def __init__(self, api_key: str | None) -> None:
        super().__init__(api_key)
        self.models: dict[str, dict[str, Any]] = load_fixture("openrouter_endpoints", "endpoints.json")

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        if request.header("authorization") is None or self._keyed(request):
            return None
        return self.error(401, "User not found.")

    def route(self, request: SimRequest) -> SimResponse:
        match = _ENDPOINTS_PATH.match(request.path)
        if request.method != "GET" or match is None:
            return self.not_found(request)
        model = self.models.get(match["model"])
        if model is None:
            return self.error(404, f"No endpoints found for {match['model']}.")
        body = copy.deepcopy(model)
        if not self._keyed(request):
            for endpoint in body["endpoints"]:
                endpoint.update(dict.fromkeys(KEYED_FIELDS))
        return SimResponse(200, {"data": body})

    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        error: dict[str, Any] = {"code": status, "message": message}
        if status in (502, 503):
            error["metadata"] = {"provider_name": None, "raw": code}
        return SimResponse(status, {"error": error})

    def rate_limited(self, retry_after_s: float) -> SimResponse:
        # OpenRouter's documented 429 example carries no Retry-After.
        return self.error(429, "Rate limit exceeded")

    def endpoints(self, model_id: str, provider_name: str) -> list[dict[str, Any]]:
        """The fixture endpoints of one model served by one upstream provider (KeyError when there is none)."""
        found = [e for e in self.models[model_id]["endpoints"] if e["provider_name"] == provider_name]
        if not found:
            raise KeyError(f"{model_id} has no endpoint from {provider_name!r}")
        return found

    def set_uptime(
        self,
        model_id: str,
        provider_name: str,
        uptime_last_5m: float | None,
        *,
        uptime_last_30m: float | None = None,
        uptime_last_1d: float | None = None,
    ) -> None:
        """Serve new uptime figures for a provider's endpoints of a model (the longer windows only when given)."""
        for endpoint in self.endpoints(model_id, provider_name):
            endpoint["uptime_last_5m"] = uptime_last_5m
            if uptime_last_30m is not None:
                endpoint["uptime_last_30m"] = uptime_last_30m
            if uptime_last_1d is not None:
                endpoint["uptime_last_1d"] = uptime_last_1d

    def set_status(self, model_id: str, provider_name: str, status: int) -> None:
        """Serve a new status (0 normal, negative degraded) for a provider's endpoints of a model."""
        for endpoint in self.endpoints(model_id, provider_name):
            endpoint["status"] = status

    def remove_model(self, model_id: str) -> None:
        """Stop serving a model: its endpoints answer 404 from now on."""
        del self.models[model_id]

    def _keyed(self, request: SimRequest) -> bool:
        """Whether the request carries the configured key (any Bearer token when none is configured)."""
        authorization = request.header("authorization")
        if self.api_key is None:
            return authorization is not None and authorization.startswith("Bearer ")
        return authorization == f"Bearer {self.api_key}"
