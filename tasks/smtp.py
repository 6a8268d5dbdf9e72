"""SMTP delivery with the TLS options of the settings (STARTTLS, implicit TLS, or plain).

One connection per worker thread, reused while the server keeps it open and opened again once
when it was dropped. Certificates are always verified (system CAs, or ``PVARA_SMTP_CA_FILE``);
``starttls`` refuses to go on in plain text when the server does not offer STARTTLS.
"""

from __future__ import annotations

import smtplib
import ssl
import threading
from email.message import EmailMessage

from core.settings import Settings


class SmtpTransport:
    """Sends :class:`~email.message.EmailMessage` objects through the configured server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local = threading.local()

    @property
    def account(self) -> str:
        """Who the provider counts the sending rate against: server and login."""
        s = self.settings
        return f"{s.smtp_username or '-'}@{s.smtp_host}:{s.smtp_port}"

    def _context(self) -> ssl.SSLContext:
        ca = self.settings.smtp_ca_file
        return ssl.create_default_context(cafile=str(ca) if ca else None)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        client: smtplib.SMTP
        if s.smtp_tls == "tls":
            client = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s, context=self._context()
            )
        else:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
        try:
            client.ehlo()
            if s.smtp_tls == "starttls":
                client.starttls(context=self._context())  # SMTPNotSupportedError if not offered
                client.ehlo()
            if s.smtp_username:
                client.login(s.smtp_username, s.smtp_password.get_secret_value())
        except BaseException:
            client.close()
            raise
        return client

    def send(self, message: EmailMessage) -> None:
        """Send one message; raises smtplib's errors (and ``OSError``) as they come."""
        client: smtplib.SMTP | None = getattr(self._local, "client", None)
        if client is not None:
            try:
                client.send_message(message)
                return
            except smtplib.SMTPServerDisconnected:
                self.close()  # idle too long; one fresh connection below
        client = self._connect()
        self._local.client = client
        try:
            client.send_message(message)
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()
            raise

    def close(self) -> None:
        client: smtplib.SMTP | None = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
