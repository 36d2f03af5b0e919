"""The genai-prices registry as its published `data.json`: one JSON document, no auth, plain-text errors."""

from __future__ import annotations

import json
from typing import Any

from modelatlas.simulator.core import ProviderHandler, SimRequest, SimResponse

FILE_PATH = "/data.json"


def packaged_providers() -> list[dict[str, Any]]:
    """The installed genai-prices package's data in the published JSON shape."""
    from modelatlas.pipelines.genai_prices.registry import packaged_snapshot

    return [dict(provider) for provider in packaged_snapshot().providers]


class RegistryHandler(ProviderHandler):
    """Serves `/data.json`, the installed package's registry unless given other providers; encoded once."""

    name = "genai_prices"
    items_key = None

    def __init__(self, api_key: str | None, providers: list[dict[str, Any]] | None = None) -> None:
        super().__init__(api_key)
        self.providers = providers if providers is not None else packaged_providers()
        self.body = json.dumps(self.providers).encode()

    def update(self, providers: list[dict[str, Any]]) -> None:
        """Serve other registry contents from now on."""
        self.providers = providers
        self.body = json.dumps(providers).encode()

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        return None

    def route(self, request: SimRequest) -> SimResponse:
        if request.method != "GET" or request.path != FILE_PATH:
            return self.not_found(request)
        return SimResponse(200, self.body)

    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        return SimResponse(status, f"{status}: {message}".encode(), {"content-type": "text/plain; charset=utf-8"})
