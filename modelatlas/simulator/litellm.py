"""LiteLLM's price file as raw.githubusercontent.com serves it: one JSON object, no auth, plain-text errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelatlas.simulator.core import ProviderHandler, SimRequest, SimResponse, load_fixture

FILE_NAME = "model_prices_and_context_window.json"
FILE_PATH = f"/{FILE_NAME}"
_TEXT = {"content-type": "text/plain; charset=utf-8"}


class LiteLLMHandler(ProviderHandler):
    """Serves `/model_prices_and_context_window.json` from `fixtures/litellm/`; tests may edit `entries`."""

    name = "litellm"
    items_key = None

    def __init__(self, api_key: str | None) -> None:
        super().__init__(api_key)
        self.entries: dict[str, Any] = load_fixture("litellm", FILE_NAME)

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        return None

    def route(self, request: SimRequest) -> SimResponse:
        if request.method != "GET" or request.path != FILE_PATH:
            return self.not_found(request)
        return SimResponse(200, self.entries, {"etag": f'W/"{len(self.entries)}"', "cache-control": "max-age=300"})

    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        # GitHub's raw host answers errors in plain text, such as `404: Not Found`.
        return SimResponse(status, f"{status}: {message}".encode(), dict(_TEXT))

    def not_found(self, request: SimRequest) -> SimResponse:
        return self.error(404, "Not Found")

    def map_items(self, body: Any, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
        if not isinstance(body, dict):
            return body
        return {key: change(dict(entry)) if key != "sample_spec" else entry for key, entry in body.items()}
