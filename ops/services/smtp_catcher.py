"""A real SMTP server (aiosmtpd) that keeps what it receives: the demo's mailbox and the tests'.

It speaks SMTP for real (EHLO, optional STARTTLS or implicit TLS, optional AUTH) on a free
port of 127.0.0.1 and stores each accepted message with its envelope. ``refuse`` holds
recipients answered ``550`` at RCPT; ``defer`` answers the next DATA commands ``451``.
"""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import ssl
import threading
import time
import warnings
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Received:
    """One message as the server accepted it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    at: float

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def kind(self) -> str:
        return str(self.message.get("X-PVARA-Kind", ""))


@dataclass
class _Handler:
    catcher: SmtpCatcher

    async def handle_RCPT(  # noqa: N802 (aiosmtpd hook names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.lower() in self.catcher.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        with self.catcher.lock:
            if self.catcher.defer > 0:
                self.catcher.defer -= 1
                return "451 4.3.0 try again later"
            content = envelope.content
            raw = content if isinstance(content, bytes) else str(content).encode()
            self.catcher.inbox.append(
                Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), raw, time.time())
            )
        return "250 OK: queued"


@dataclass
class SmtpCatcher:
    """Start with :meth:`start` (or as a context manager); messages land in :attr:`inbox`."""

    tls: str = "none"  # "none", "starttls" or "tls" (implicit)
    certificate: tuple[str, str] | None = None  # (cert file, key file) for TLS
    login: tuple[str, str] | None = None  # required AUTH credentials
    inbox: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    defer: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    _controller: Controller | None = None

    def _tls_context(self) -> ssl.SSLContext:
        if self.certificate is None:
            raise ValueError("TLS needs a certificate")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*self.certificate)
        return context

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.login is not None
            and (data.login.decode(), data.password.decode()) == self.login
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpCatcher:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # a line per SMTP command
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        options: dict[str, Any] = {}
        if self.tls == "starttls":
            options.update(tls_context=self._tls_context(), require_starttls=True)
        if self.login is not None:
            options.update(
                authenticator=self._authenticate,
                auth_required=True,
                # aiosmtpd only counts STARTTLS as TLS; an implicit-TLS socket is TLS anyway.
                auth_require_tls=self.tls == "starttls",
            )
        self._controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=self._tls_context() if self.tls == "tls" else None,
            server_hostname="127.0.0.1",
            **options,
        )
        if self.tls == "tls":
            # aiosmtpd warns on each connection that AUTH does not require STARTTLS: moot on an
            # implicit-TLS socket. (Process-wide: the warning comes from the server's thread.)
            warnings.filterwarnings(
                "ignore", "Requiring AUTH while not requiring TLS", UserWarning, "aiosmtpd"
            )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self, to: str | None = None, kind: str | None = None) -> list[Received]:
        """The messages so far, to one recipient and/or of one ``X-PVARA-Kind``."""
        with self.lock:
            found = list(self.inbox)
        if to is not None:
            found = [m for m in found if to.lower() in (r.lower() for r in m.rcpt_tos)]
        if kind is not None:
            found = [m for m in found if m.kind == kind]
        return found

    def counts(self) -> dict[str, int]:
        """How many messages of each ``X-PVARA-Kind`` arrived."""
        totals: dict[str, int] = {}
        for message in self.received():
            totals[message.kind] = totals.get(message.kind, 0) + 1
        return totals

    def __enter__(self) -> SmtpCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
