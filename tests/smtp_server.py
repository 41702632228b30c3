"""A real SMTP server on loopback for the notification tests (aiosmtpd in a thread), and a
self-signed certificate authority (trustme) whose CA file a test can trust or not."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "runner", "s3cret-Pa55word"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Handler:
    """Keeps what it receives; `refuse` answers RCPT with that reply instead."""

    received: list[Received] = field(default_factory=list)
    refuse: str | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return "250 Message accepted"


@dataclass
class Server:
    host: str
    port: int
    handler: Handler
    logins: list[str]

    @property
    def received(self) -> list[Received]:
        return self.handler.received


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Tls:
    """A CA, the server's context (certificate for 127.0.0.1 and localhost), and the CA file."""

    server_context: ssl.SSLContext
    ca_file: Path


def make_tls(directory: Path) -> Tls:
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_file = directory / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    return Tls(context, ca_file)


@contextmanager
def smtp_server(
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    auth: bool = False,
    refuse: str | None = None,
) -> Iterator[Server]:
    """An SMTP server on 127.0.0.1: plain, with STARTTLS, or wrapped in TLS (`ssl`); with
    `auth`, it requires a login (USER, PASSWORD), offered only over TLS."""
    handler = Handler(refuse=refuse)
    logins: list[str] = []

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data == (USER.encode(), PASSWORD.encode())
        if ok:
            logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    options: dict[str, Any] = {}
    if starttls is not None:
        options.update(tls_context=starttls, require_starttls=auth)
    if auth:
        options.update(authenticator=authenticator, auth_required=True)
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, ssl_context=implicit_tls, **options
    )
    controller.start()
    try:
        yield Server("127.0.0.1", port, handler, logins)
    finally:
        controller.stop()


def smtp_config(server: Server, security: str, **more: Any) -> dict[str, Any]:
    """runner.yaml's `email` for this server."""
    smtp = {"host": server.host, "port": server.port, "security": security, "timeout": "5s"}
    return {"from": "runner@example.org", "smtp": {**smtp, **more}}
