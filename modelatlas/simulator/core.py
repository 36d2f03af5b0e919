"""The provider simulator's core: requests, responses, faults, and the base every provider handler builds on."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal
from urllib.parse import urlencode

FaultKind = Literal[
    "rate_limit", "server_error", "slow", "truncated", "unknown_field", "missing_field", "status", "page_vanishes"
]


@dataclass(frozen=True)
class SimRequest:
    """One request as a provider handler sees it: the path below the provider's prefix, query and headers."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    base_url: str

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str) -> str | None:
        """A request header, case-insensitively."""
        lowered = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == lowered), None)


@dataclass
class SimResponse:
    """A response a handler returns; `body` is JSON-encoded unless it is already bytes."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        """The body as bytes."""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass
class Fault:
    """A misbehaviour injected into `count` requests to one provider, after letting `skip` requests pass.

    `page_vanishes` answers with an empty page that says it is the last: with `skip=1` the second page vanishes and
    pagination ends early, so the catalog comes back shrunken (Anthropic's 47 models at 20 a page: 20 are left).
    """

    kind: FaultKind
    count: int = 1
    skip: int = 0
    retry_after_s: float = 1.0
    delay_s: float = 0.0
    status: int = 503
    field_name: str = "x_simulator_unannounced"


def paged_query(base_url: str, path: str, params: Mapping[str, Any]) -> str:
    """An absolute URL for a next-page link."""
    return f"{base_url}{path}?{urlencode(params)}"


def load_fixture(provider: str, name: str = "models.json") -> Any:
    """A fixture file shipped with the simulator."""
    text = resources.files("modelatlas.simulator").joinpath("fixtures").joinpath(provider).joinpath(name).read_text()
    return json.loads(text)


class ProviderHandler:
    """Serves one provider's API from fixtures; subclasses implement `route` and the provider's error shapes."""

    name: str = ""
    # Where the item list sits in a page body (None: the body itself is the list).
    items_key: str | None = "data"

    def __init__(self, api_key: str | None) -> None:
        self.api_key = api_key

    def route(self, request: SimRequest) -> SimResponse:
        """Answer one authenticated request."""
        raise NotImplementedError

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        """A 401 response when the request does not carry the configured key, else None."""
        raise NotImplementedError

    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        """The provider's error body for `status`."""
        raise NotImplementedError

    def rate_limited(self, retry_after_s: float) -> SimResponse:
        """The provider's 429 response, with its documented rate-limit signals."""
        response = self.error(429, "Rate limit exceeded", "rate_limit_exceeded")
        response.headers["retry-after"] = _seconds(retry_after_s)
        return response

    def not_found(self, request: SimRequest) -> SimResponse:
        """404 for a path the simulator does not serve."""
        return self.error(404, f"Unknown path {request.path}", "not_found")

    def map_items(self, body: Any, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
        """`body` with `change` applied to each item of the page."""
        if self.items_key is None:
            return [change(dict(item)) for item in body] if isinstance(body, list) else body
        if isinstance(body, dict) and isinstance(body.get(self.items_key), list):
            return {**body, self.items_key: [change(dict(item)) for item in body[self.items_key]]}
        return body

    def vanished_page(self, response: SimResponse) -> SimResponse:
        """`response` as an empty last page: no items, and every provider's next-page marker removed."""
        body = response.body
        if isinstance(body, list):
            body = []
        elif isinstance(body, dict):
            body = dict(body)
            if self.items_key is not None and isinstance(body.get(self.items_key), list):
                body[self.items_key] = []
            body.pop("nextPageToken", None)  # Gemini
            if "has_more" in body:  # Anthropic
                body.update(has_more=False, first_id=None, last_id=None)
            if isinstance(body.get("links"), dict):  # OpenRouter
                body["links"] = {**body["links"], "next": None}
        headers = {key: value for key, value in response.headers.items() if key.lower() != "link"}  # Hugging Face
        return SimResponse(response.status, body, headers)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
