"""The provider simulator: a real HTTP server on 127.0.0.1 that speaks each provider's API from fixtures."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from modelatlas.simulator.core import Fault, ProviderHandler, SimRequest, SimResponse


@dataclass(frozen=True)
class LoggedRequest:
    """A request the simulator received, for tests to inspect."""

    provider: str
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    at: float


class _Server(ThreadingHTTPServer):
    # Twenty probes connect at once each tick: the default listen backlog (5) dropped some, which waited a second
    # for TCP to try again.
    request_queue_size = 128


class Simulator:
    """Serves every registered provider under `http://127.0.0.1:PORT/<provider>/...` until stopped."""

    def __init__(self, handlers: Mapping[str, ProviderHandler], host: str = "127.0.0.1", port: int = 0) -> None:
        self.handlers = dict(handlers)
        self.requests: list[LoggedRequest] = []
        self._faults: dict[str, deque[Fault]] = {name: deque() for name in handlers}
        self._lock = threading.Lock()
        self._server = _Server((host, port), _handler_class(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The TCP port the simulator listens on."""
        return int(self._server.server_address[1])

    def root_url(self, provider: str) -> str:
        """The URL prefix of one provider: its API paths follow."""
        return f"http://127.0.0.1:{self.port}/{provider}"

    def start(self) -> Simulator:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="modelatlas-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def inject(self, provider: str, fault: Fault) -> None:
        """Make the next `fault.count` requests to `provider` misbehave."""
        with self._lock:
            self._faults[provider].append(fault)

    def clear(self) -> None:
        """Forget injected faults and logged requests."""
        with self._lock:
            for queue in self._faults.values():
                queue.clear()
            self.requests.clear()

    def requests_to(self, provider: str) -> list[LoggedRequest]:
        """The requests one provider received, oldest first."""
        with self._lock:
            return [request for request in self.requests if request.provider == provider]

    def _next_fault(self, provider: str) -> Fault | None:
        with self._lock:
            queue = self._faults[provider]
            if not queue:
                return None
            fault = queue[0]
            if fault.skip > 0:
                fault.skip -= 1
                return None
            fault.count -= 1
            if fault.count <= 0:
                queue.popleft()
            return fault

    def dispatch(self, method: str, raw_path: str, headers: Mapping[str, str]) -> SimResponse:
        """Answer one HTTP request: route to the provider, apply any injected fault."""
        parts = urlsplit(raw_path)
        provider, _, rest = parts.path.lstrip("/").partition("/")
        handler = self.handlers.get(provider)
        if handler is None:
            return SimResponse(404, {"error": f"no simulated provider {provider!r}"})
        request = SimRequest(
            method=method,
            path="/" + rest,
            query=parse_qs(parts.query),
            headers=dict(headers),
            base_url=self.root_url(provider),
        )
        with self._lock:
            logged = LoggedRequest(provider, method, request.path, request.query, dict(headers), time.monotonic())
            self.requests.append(logged)
        denied = handler.authenticate(request)
        if denied is not None:
            return denied
        fault = self._next_fault(provider)
        if fault is None:
            return handler.route(request)
        return _apply(fault, handler, request)


def _apply(fault: Fault, handler: ProviderHandler, request: SimRequest) -> SimResponse:
    if fault.kind == "rate_limit":
        return handler.rate_limited(fault.retry_after_s)
    if fault.kind == "server_error":
        return handler.error(fault.status, "The server had an error while processing your request", "server_error")
    if fault.kind == "status":
        return handler.error(fault.status, f"Simulated HTTP {fault.status}", "simulated")
    if fault.kind == "slow":
        time.sleep(fault.delay_s)
        return handler.route(request)
    response = handler.route(request)
    if fault.kind == "truncated":
        body = response.encoded()
        return SimResponse(response.status, body[: max(1, len(body) // 2)], response.headers)
    if fault.kind == "page_vanishes":
        return handler.vanished_page(response)
    if fault.kind == "unknown_field":
        response.body = handler.map_items(response.body, lambda item: {**item, fault.field_name: {"new": True}})
    elif fault.kind == "missing_field":
        response.body = handler.map_items(
            response.body, lambda item: {k: v for k, v in item.items() if k != fault.field_name}
        )
    return response


def _handler_class(simulator: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            response = simulator.dispatch(self.command, self.path, dict(self.headers.items()))
            body = response.encoded()
            self.send_response(response.status)
            headers: dict[str, Any] = {"content-type": "application/json", **response.headers}
            headers["content-length"] = str(len(body))
            for name, value in headers.items():
                self.send_header(name, str(value))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default per-request stderr line."""

    return Handler
