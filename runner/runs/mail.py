"""Building a summary mail and delivering it: over SMTP, or into an outbox directory.

Messages are built with the standard library's email package (policy SMTP: CRLF line ends,
RFC 2047 encoded words for non-ASCII headers). Header values are made one line first, so no
text from a task file, a log line or a template can add a header. SMTP never falls back to
plain text: `starttls` without STARTTLS on offer, or a certificate that does not verify, is a
failure. Secrets in runner.yaml are resolved only when a connection logs in.
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

from runner.errors import ConfigError, RunnerError
from runner.runs.ids import new_run_id
from runner.spec.config import SECRET_FIELDS, SECRET_REF, Config, SmtpConfig, resolve_secret

CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
MAX_SUBJECT = 200
RETRY_DELAYS = (2.0, 10.0, 30.0)


class MailError(RunnerError):
    """A mail could not be delivered; the message says why, never with a secret in it."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = "text"
    subtype: str = "csv"


@dataclass(frozen=True)
class Mail:
    sender: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()


def header_text(value: str, limit: int = MAX_SUBJECT) -> str:
    """One line: CR, LF and other control characters become spaces; long text is cut."""
    line = " ".join(CONTROL.sub(" ", value).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def build_message(mail: Mail, *, now: datetime) -> EmailMessage:
    """multipart/alternative (text, HTML), inside multipart/mixed when something is attached."""
    message = EmailMessage(policy=SMTP)
    message["Subject"] = header_text(mail.subject)
    message["From"] = header_text(mail.sender, 320)
    message["To"] = ", ".join(header_text(address, 320) for address in mail.to)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=_domain(mail.sender))
    message.set_content(mail.text, subtype="plain", cte="quoted-printable")
    message.add_alternative(mail.html, subtype="html", cte="quoted-printable")
    for item in mail.attachments:
        message.add_attachment(
            item.content, maintype=item.maintype, subtype=item.subtype, filename=item.filename
        )
    return message


def _domain(address: str) -> str:
    domain = address.rpartition("@")[2]
    return re.sub(r"[^A-Za-z0-9.-]", "", domain) or "localhost"


class Transport(Protocol):
    def send(self, message: EmailMessage) -> str:
        """Deliver the message; returns where it went, for the log and the user."""
        ...


class OutboxTransport:
    """One `.eml` file per mail, named `<UTC time>-<random>.eml` so that names sort by time;
    written to a temporary name and renamed, so a reader never sees half a mail."""

    def __init__(self, directory: Path, now: Callable[[], datetime]) -> None:
        self.directory = directory
        self._now = now

    def send(self, message: EmailMessage) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{new_run_id(self._now())}.eml"
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(message.as_bytes(policy=SMTP))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return str(target)


class SmtpTransport:
    def __init__(self, smtp: SmtpConfig, base: Path) -> None:
        self.smtp = smtp
        self.base = base

    @property
    def where(self) -> str:
        return f"smtp {self.smtp.host}:{self.smtp.effective_port} ({self.smtp.security})"

    def send(self, message: EmailMessage) -> str:
        client = self._connect()
        try:
            self._secure(client)
            self._login(client)
            client.send_message(message)
        except BaseException:
            client.close()  # not QUIT: after a TLS failure it would hide the real error
            raise
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
        return self.where

    def _connect(self) -> smtplib.SMTP:
        smtp, timeout = self.smtp, self.smtp.timeout.total_seconds()
        host, port = smtp.host, smtp.effective_port
        if smtp.security == "ssl":
            context = tls_context(smtp, self.base)
            return smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        return smtplib.SMTP(host, port, timeout=timeout)

    def _secure(self, client: smtplib.SMTP) -> None:
        if self.smtp.security != "starttls":
            return
        client.ehlo()
        if not client.has_extn("starttls"):
            raise MailError(
                f"{self.smtp.host} does not offer STARTTLS; refusing to send in plain text "
                "(security: none allows it)"
            )
        client.starttls(context=tls_context(self.smtp, self.base))
        client.ehlo()

    def _login(self, client: smtplib.SMTP) -> None:
        if self.smtp.username is None:
            return
        user = resolve_secret(self.smtp.username, self.base)
        password = resolve_secret(self.smtp.password or "", self.base)
        client.login(user, password)


def tls_context(smtp: SmtpConfig, base: Path) -> ssl.SSLContext:
    """Verifying by default: the system's trust store, or only `ca_file` when it is given."""
    if not smtp.verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if smtp.ca_file is None:
        return ssl.create_default_context()
    path = Path(smtp.ca_file).expanduser()
    path = path if path.is_absolute() else base / path
    try:
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise MailError(f"ca_file {smtp.ca_file} cannot be used: {exc}") from None


def transport_for(config: Config, now: Callable[[], datetime]) -> Transport:
    """SMTP when runner.yaml has `email.smtp`, else the outbox (DESIGN section 10)."""
    email = config.model.email
    if email.smtp is not None:
        return SmtpTransport(email.smtp, config.base)
    return OutboxTransport(config.resolve(email.outbox), now)


def send_with_retry(
    transport: Transport,
    message: EmailMessage,
    *,
    delays: Sequence[float] = RETRY_DELAYS,
    sleep: Callable[[float], None],
    secrets: Iterable[str] = (),
) -> str:
    """Send; after a failure that may pass (a refused connection, a 4xx reply) wait and try
    again, once per delay. Raises MailError with the last failure, secrets blanked out."""
    pending = list(delays)
    while True:
        try:
            return transport.send(message)
        except Exception as exc:
            if not pending or not transient(exc):
                raise MailError(redact(failure_text(exc), secrets)) from None
            sleep(pending.pop(0))


def transient(exc: BaseException) -> bool:
    """Worth another try: network trouble and 4xx replies; not TLS, auth, 5xx or config."""
    if isinstance(exc, ssl.SSLError | ssl.CertificateError | MailError | ConfigError):
        return False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, OSError | smtplib.SMTPServerDisconnected)


def failure_text(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{a} ({c})" for a, (c, _) in sorted(exc.recipients.items()))
        return f"recipients refused: {refused}"
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        return f"server replied {exc.smtp_code} {text}"
    if isinstance(exc, RunnerError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def secret_values(config: Config) -> list[str]:
    """The values runner.yaml's secret references stand for, as far as they resolve now."""
    values = []
    for key_path in SECRET_FIELDS:
        value: object = config.model
        for key in key_path:
            value = getattr(value, key, None)
        if isinstance(value, str):
            for match in SECRET_REF.finditer(value):
                try:
                    values.append(resolve_secret(match.group(0), config.base))
                except ConfigError:
                    continue
    return [v for v in values if len(v) >= 4]  # shorter ones would blank out ordinary words


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "****")
    return text
