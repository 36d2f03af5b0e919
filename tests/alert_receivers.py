"""Local receivers for alert tests: the HTTP AlertReceiver and an SMTP server recording every message."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from modelatlas.simulator.receivers import AlertReceiver, ReceivedRequest, Reply

__all__ = ["AlertReceiver", "ReceivedMail", "ReceivedRequest", "Reply", "SmtpReceiver"]


@dataclass(frozen=True)
class ReceivedMail:
    """One message the SMTP receiver accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


class _Recorder:
    def __init__(self, refused: set[str]) -> None:
        self.mails: list[ReceivedMail] = []
        self.refused = refused
        self.lock = threading.Lock()

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        message = BytesParser(policy=policy.default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.mails.append(ReceivedMail(envelope.mail_from or "", tuple(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class _Controller(Controller):
    def _trigger_server(self) -> None:
        # Bound to port 0: learn the port the system chose before aiosmtpd connects to it.
        server = cast(asyncio.Server, self.server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpReceiver:
    """An SMTP server on 127.0.0.1 (no TLS) that records messages; optional login and refused recipients."""

    def __init__(self, login: tuple[str, str] | None = None, refused: set[str] | None = None) -> None:
        self._recorder = _Recorder(refused or set())
        self._login = login
        options: dict[str, Any] = {}
        if login is not None:
            options = {"authenticator": self._authenticate, "auth_require_tls": False}
        self._controller = _Controller(self._recorder, hostname="127.0.0.1", port=0, **options)

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._controller.port)

    @property
    def mails(self) -> list[ReceivedMail]:
        """Every message accepted, oldest first."""
        with self._recorder.lock:
            return list(self._recorder.mails)

    def start(self) -> SmtpReceiver:
        """Serve in aiosmtpd's background thread."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._controller.stop()

    def __enter__(self) -> SmtpReceiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        expected = self._login
        ok = (
            isinstance(auth_data, LoginPassword)
            and expected is not None
            and (auth_data.login.decode(), auth_data.password.decode()) == expected
        )
        # Not handled here: aiosmtpd then answers the failure itself (535).
        return AuthResult(success=ok, handled=False)
