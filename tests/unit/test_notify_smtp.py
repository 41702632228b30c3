"""Delivery over SMTP to a real server on loopback: plain, STARTTLS, implicit TLS, AUTH,
certificate verification without fallback, refusals; the received message is parsed."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.runs.mail import MailError, build_message, send_with_retry, transport_for
from runner.runs.notify import compose
from runner.runs.summary import Summary, sample_summary, sample_task
from runner.spec.config import Config, RunnerConfig
from tests.smtp_server import PASSWORD, USER, make_tls, smtp_config, smtp_server

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
NO_WAIT = {"delays": (), "sleep": lambda _: None}


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def untrusted(tmp_path_factory):
    """Another CA: its file does not vouch for the server's certificate."""
    return make_tls(tmp_path_factory.mktemp("other-ca"))


def config(tmp_path: Path, email_settings: dict) -> Config:
    return Config(RunnerConfig.model_validate({"email": email_settings}), None, tmp_path)


def summary() -> Summary:
    return sample_summary("reports/weekly", sample_task(), now=NOW, default_timezone="UTC")


def send(cfg: Config, what: Summary | None = None, **retry) -> str:
    mail = compose(cfg, "default", what or summary(), ["ops@example.org", "press@example.org"])
    message = build_message(mail, now=NOW)
    return send_with_retry(transport_for(cfg, lambda: NOW), message, **(retry or NO_WAIT))


def test_plain_smtp_delivers_text_html_and_the_csv(tmp_path):
    with smtp_server() as server:
        where = send(config(tmp_path, smtp_config(server, "none")))
    assert where == f"smtp 127.0.0.1:{server.port} (none)"
    [received] = server.received
    assert received.mail_from == "runner@example.org"
    assert received.rcpt_tos == ["ops@example.org", "press@example.org"]
    message = received.message
    assert (
        message["Subject"]
        == "[runner] reports/weekly: success, 3 hits - Sample summary from 'runner notify test'"
    )
    assert message["To"] == "ops@example.org, press@example.org"
    alternative, attachment = message.iter_parts()
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert "Hits: 3" in message.get_body(("plain",)).get_content()
    assert "<th>images.title</th>" in message.get_body(("html",)).get_content()
    rows = list(csv.reader(io.StringIO(attachment.get_content())))
    assert rows[0] == ["_system_object_id", "images.title", "images.creator"]
    assert len(rows) == 4 and attachment.get_filename().startswith("reports-weekly-")


def test_starttls_with_a_certificate_the_ca_file_vouches_for(tmp_path, tls):
    with smtp_server(starttls=tls.server_context) as server:
        send(config(tmp_path, smtp_config(server, "starttls", ca_file=str(tls.ca_file))))
    assert len(server.received) == 1


def test_an_untrusted_certificate_is_refused_and_nothing_is_sent_in_plain_text(
    tmp_path, tls, untrusted
):
    waited: list[float] = []
    with smtp_server(starttls=tls.server_context) as server:
        cfg = config(tmp_path, smtp_config(server, "starttls", ca_file=str(untrusted.ca_file)))
        with pytest.raises(MailError, match="TLS certificate not trusted"):
            send(cfg, delays=(1.0, 2.0), sleep=waited.append)
    assert server.received == []
    assert waited == []  # a certificate does not get better by trying again


def test_the_system_trust_store_does_not_know_a_self_signed_ca(tmp_path, tls):
    with (
        smtp_server(starttls=tls.server_context) as server,
        pytest.raises(MailError, match="TLS certificate not trusted"),
    ):
        send(config(tmp_path, smtp_config(server, "starttls")))
    assert server.received == []


def test_starttls_not_offered_is_a_failure_not_a_fallback(tmp_path):
    with smtp_server() as server, pytest.raises(MailError, match="does not offer STARTTLS"):
        send(config(tmp_path, smtp_config(server, "starttls")))
    assert server.received == []


def test_verify_false_accepts_any_certificate(tmp_path, tls):
    with smtp_server(starttls=tls.server_context) as server:
        send(config(tmp_path, smtp_config(server, "starttls", verify=False)))
    assert len(server.received) == 1


def test_implicit_tls(tmp_path, tls):
    with smtp_server(implicit_tls=tls.server_context) as server:
        where = send(config(tmp_path, smtp_config(server, "ssl", ca_file=str(tls.ca_file))))
    assert where.endswith("(ssl)") and len(server.received) == 1


def test_auth_over_starttls_with_secrets_resolved_at_send_time(tmp_path, tls, monkeypatch):
    (tmp_path / "password").write_text(PASSWORD + "\n")
    monkeypatch.setenv("RUNNER_TEST_SMTP_USER", USER)
    with smtp_server(starttls=tls.server_context, auth=True) as server:
        settings = smtp_config(
            server,
            "starttls",
            ca_file=str(tls.ca_file),
            username="${env:RUNNER_TEST_SMTP_USER}",
            password="${file:password}",
        )
        send(config(tmp_path, settings))
    assert server.logins == [USER] and len(server.received) == 1
    assert PASSWORD not in server.received[0].data.decode()


def test_a_wrong_password_fails_at_once_without_showing_it(tmp_path, tls, monkeypatch):
    monkeypatch.setenv("RUNNER_TEST_SMTP_PASSWORD", "wrong-password-123")
    waited: list[float] = []
    with smtp_server(starttls=tls.server_context, auth=True) as server:
        settings = smtp_config(
            server,
            "starttls",
            ca_file=str(tls.ca_file),
            username=USER,
            password="${env:RUNNER_TEST_SMTP_PASSWORD}",
        )
        with pytest.raises(MailError, match="535") as caught:
            send(config(tmp_path, settings), delays=(1.0,), sleep=waited.append)
    assert "wrong-password-123" not in str(caught.value)
    assert waited == [] and server.received == []


def test_an_unset_secret_is_named_not_shown(tmp_path, tls, monkeypatch):
    monkeypatch.delenv("RUNNER_TEST_NOT_SET", raising=False)
    with smtp_server(starttls=tls.server_context, auth=True) as server:
        settings = smtp_config(
            server,
            "starttls",
            ca_file=str(tls.ca_file),
            username=USER,
            password="${env:RUNNER_TEST_NOT_SET}",
        )
        with pytest.raises(MailError, match=r"secret \$\{env:RUNNER_TEST_NOT_SET\} is not set"):
            send(config(tmp_path, settings))


def test_a_refused_recipient_is_permanent_and_not_retried(tmp_path):
    waited: list[float] = []
    with (
        smtp_server(refuse="550 5.1.1 no such user") as server,
        pytest.raises(MailError, match="recipients refused"),
    ):
        send(config(tmp_path, smtp_config(server, "none")), delays=(1.0,), sleep=waited.append)
    assert waited == []


def test_a_temporary_refusal_is_retried(tmp_path):
    waited: list[float] = []
    with (
        smtp_server(refuse="451 4.3.0 try again later") as server,
        pytest.raises(MailError, match="recipients refused"),
    ):
        send(config(tmp_path, smtp_config(server, "none")), delays=(0.5, 1.5), sleep=waited.append)
    assert waited == [0.5, 1.5]


def test_line_breaks_in_a_description_add_no_header_to_the_received_message(tmp_path):
    base = summary()
    spec = base.spec.model_copy(
        update={"description": "weekly\r\nBcc: evil@example.org\r\nX-Injected: yes"}
    )
    evil = replace(base, spec=spec, run=replace(base.run, error="boom\nX-Error: injected"))
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates/default.subject.j2").write_text("{{ task.description }} {{ run.error }}")
    with smtp_server() as server:
        send(config(tmp_path, smtp_config(server, "none")), evil)
    [received] = server.received
    message = received.message
    assert received.rcpt_tos == ["ops@example.org", "press@example.org"]
    assert message["Bcc"] is None and message["X-Injected"] is None and message["X-Error"] is None
    assert (
        message["Subject"] == "weekly Bcc: evil@example.org X-Injected: yes boom X-Error: injected"
    )
