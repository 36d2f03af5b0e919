"""A local alert receiver: a real HTTP server on 127.0.0.1 that records every POST and answers like Slack or Discord."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True)
class ReceivedRequest:
    """One POST the receiver got: path, lower-cased headers, the body's exact bytes."""

    path: str
    headers: Mapping[str, str]
    body: bytes
    received_at: datetime

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """A scripted answer; `status=None` answers as the path's default would, after `delay_s` seconds."""

    status: int | None = None
    body: bytes | str = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    @classmethod
    def delay(cls, seconds: float) -> Reply:
        """The default answer, given only after `seconds`: a receiver slower than a channel's timeout."""
        return cls(delay_s=seconds)


SLACK_OK = Reply(200, b"ok", {"content-type": "text/plain"})
DISCORD_OK = Reply(204)
WEBHOOK_OK = Reply(200, b"{}", {"content-type": "application/json"})


def default_reply(path: str) -> Reply:
    """How a path answers when nothing is scripted: Slack's "ok", Discord's 204, a webhook's 200 `{}`."""
    if path.startswith("/slack/"):
        return SLACK_OK
    if path.startswith("/discord/"):
        return DISCORD_OK
    return WEBHOOK_OK


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class AlertReceiver:
    """Receives alerts under `http://127.0.0.1:PORT/{slack,discord,webhook}/...` until stopped."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._requests: list[ReceivedRequest] = []
        self._scripts: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self._server = _Server((host, port), _handler_class(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The TCP port the receiver listens on."""
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        """The full URL of `path`, e.g. `url("/slack/T000/B000/XXX")`."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def start(self) -> AlertReceiver:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="alert-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; a reply still sleeping is abandoned."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> AlertReceiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def script(self, prefix: str, *replies: Reply | int) -> None:
        """Answer the next requests under `prefix` with `replies`, one each, then as before (a bare int is a status)."""
        with self._lock:
            queue = self._scripts.setdefault(prefix, deque())
            queue.extend(Reply(reply) if isinstance(reply, int) else reply for reply in replies)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, prefix: str) -> list[ReceivedRequest]:
        """The requests whose path starts with `prefix`, oldest first."""
        with self._lock:
            return [request for request in self._requests if request.path.startswith(prefix)]

    def clear(self) -> None:
        """Forget recorded requests and unused scripted replies."""
        with self._lock:
            self._requests.clear()
            self._scripts.clear()

    def verify_webhooks(self, secret: str, prefix: str = "/webhook") -> list[Any]:
        """The payloads of the webhooks under `prefix`, each verified (raises WebhookVerificationError if one fails)."""
        verifier = Webhook(secret)
        return [verifier.verify(request.body, dict(request.headers)) for request in self.requests_to(prefix)]

    def record(self, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Record one request and choose its reply: the longest matching script first, else the path's default."""
        with self._lock:
            self._requests.append(ReceivedRequest(path, dict(headers), body, datetime.now(UTC)))
            matching = [prefix for prefix, queue in self._scripts.items() if queue and path.startswith(prefix)]
            if not matching:
                return default_reply(path)
            reply = self._scripts[max(matching, key=len)].popleft()
        if reply.status is None:
            default = default_reply(path)
            return Reply(default.status, default.body, default.headers, reply.delay_s)
        return reply


def _handler_class(receiver: AlertReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = receiver.record(self.path, headers, body)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
            try:
                status = reply.status or 200
                self.send_response(status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if status not in (204, 304):
                    self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up waiting (a timeout test).
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default per-request stderr line."""

    return Handler
