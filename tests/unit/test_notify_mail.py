"""Building summary mails, the outbox, retries, and the notifier's decisions and log lines."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.clock import SystemClock
from runner.runs.engine import NotifyContext
from runner.runs.log import RunLog, read_lines
from runner.runs.mail import (
    Attachment,
    Mail,
    MailError,
    OutboxTransport,
    build_message,
    header_text,
    send_with_retry,
    transport_for,
)
from runner.runs.notify import Notifier, compose
from runner.runs.summary import sample_summary, sample_task
from runner.spec.config import Config, RunnerConfig
from runner.spec.task import validate_task
from runner.state.base import Counts
from tests.smtp_server import free_port

NOW = datetime(2026, 11, 28, 6, 0, 0, 123000, tzinfo=UTC)
TASK = {
    "version": 1,
    "description": "Tag new imports",
    "module": "set_unset_tags",
    "run_as": "editor",
    "search": {"objecttypes": ["images"]},
    "params": {"tags": [{"_id": 16, "set": True}]},
    "notify": {"email": {"to": ["ops@example.org"]}},
}


def config(tmp_path: Path, email_settings: dict | None = None) -> Config:
    data = {"email": email_settings or {"from": "runner@example.org"}}
    return Config(RunnerConfig.model_validate(data), None, tmp_path)


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def sample_mail(**changes) -> Mail:
    mail = Mail(
        sender="runner@example.org",
        to=("ops@example.org", "press@example.org"),
        subject="[runner] reports/x: success",
        text="plain text, ünïcödé\n",
        html="<p>html</p>\n",
        attachments=(Attachment("hits.csv", b"id,title\n1,One\n"),),
    )
    return replace(mail, **changes)


def test_a_message_is_text_and_html_alternatives_with_the_csv_attached():
    message = parse(build_message(sample_mail(), now=NOW).as_bytes())
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert (
        message.get_body(("plain",)).get_content().replace("\r\n", "\n") == "plain text, ünïcödé\n"
    )
    assert attachment.get_filename() == "hits.csv"
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_content().replace("\r\n", "\n") == "id,title\n1,One\n"
    assert message["From"] == "runner@example.org"
    assert message["To"] == "ops@example.org, press@example.org"
    assert message["Date"] == "Sat, 28 Nov 2026 06:00:00 +0000"
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith("@example.org>")


def test_without_an_attachment_the_message_is_just_the_alternatives():
    message = parse(build_message(sample_mail(attachments=()), now=NOW).as_bytes())
    assert message.get_content_type() == "multipart/alternative"


@pytest.mark.parametrize(
    "subject",
    [
        "x\r\nBcc: evil@example.org",
        "x\nBcc: evil@example.org",
        "x\rBcc: evil@example.org",
        "x\u2028Bcc: evil@example.org",
        "x\x85Bcc: evil@example.org",
        "x\r\n\r\nbody injection",
    ],
)
def test_no_header_can_be_injected_through_the_subject(subject):
    data = build_message(sample_mail(subject=subject), now=NOW).as_bytes()
    message = parse(data)
    assert message["Bcc"] is None
    assert list(message.keys()).count("Subject") == 1
    assert message["Subject"].startswith("x ")
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head and b"\nbody injection" not in head


def test_header_text_is_one_line_and_capped():
    assert header_text(" a\r\n\tb  c ") == "a b c"
    long = header_text("word " * 100)
    assert len(long) == 200 and long.endswith("…")


def test_the_outbox_holds_one_eml_per_mail_named_to_sort_by_time(tmp_path):
    times = iter([NOW, NOW.replace(second=1), NOW.replace(minute=1)])
    outbox = OutboxTransport(tmp_path / "outbox", lambda: next(times))
    paths = [outbox.send(build_message(sample_mail(subject=f"n{i}"), now=NOW)) for i in range(3)]
    files = sorted((tmp_path / "outbox").iterdir())
    assert [str(p) for p in files] == paths  # names sort as sent; no temporary file left
    assert files[0].name.startswith("20261128T060000123Z-") and files[0].suffix == ".eml"
    assert [parse(p.read_bytes())["Subject"] for p in files] == ["n0", "n1", "n2"]


def test_a_refused_connection_is_retried_with_backoff_then_fails(tmp_path):
    port = free_port()  # nothing listens there
    settings = {"smtp": {"host": "127.0.0.1", "port": port, "security": "none", "timeout": "2s"}}
    waited: list[float] = []
    with pytest.raises(MailError, match="ConnectionRefusedError"):
        send_with_retry(
            transport_for(config(tmp_path, settings), lambda: NOW),
            build_message(sample_mail(), now=NOW),
            delays=(1.0, 5.0),
            sleep=waited.append,
        )
    assert waited == [1.0, 5.0]


def context(tmp_path: Path, *, denied: int = 0, status: str = "success") -> NotifyContext:
    spec = validate_task(TASK, "review/tag")
    run = sample_summary("review/tag", spec, now=NOW, default_timezone="UTC").run
    run = replace(run, status=status, counts=Counts(matched=5, changed=5 - denied, denied=denied))
    log = RunLog(tmp_path / "run.jsonl", run.run_id, run.task_id, SystemClock().now)
    log.info("run_started", "started")
    return NotifyContext(run, spec, {}, log, None)


def notified(tmp_path: Path, ctx: NotifyContext, settings: dict | None = None) -> list[dict]:
    Notifier(config(tmp_path, settings), SystemClock(), sleep=lambda _: None)(ctx)
    ctx.log.close()
    return [line for line in read_lines(ctx.log.path) if line["event"].startswith("mail_")]


def test_a_successful_send_is_logged_as_mail_sent(tmp_path):
    [line] = notified(tmp_path, context(tmp_path))
    assert line["event"] == "mail_sent" and line["level"] == "info"
    assert line["to"] == ["ops@example.org"] and line["error"] is None
    assert line["subject"] == "[runner] review/tag: success - Tag new imports"
    assert line["via"].startswith(str(tmp_path / ".runner/outbox"))


@pytest.mark.parametrize(
    ("denied", "status", "mailed"),
    [(0, "success", False), (2, "success", True), (0, "failed", True), (0, "canceled", True)],
)
def test_problems_only_mails_only_runs_with_problems(tmp_path, denied, status, mailed):
    spec = validate_task(
        {**TASK, "notify": {"email": {**TASK["notify"]["email"], "problems_only": True}}}, "t"
    )
    ctx = replace(context(tmp_path, denied=denied, status=status), spec=spec)
    lines = notified(tmp_path, ctx)
    assert [line["event"] for line in lines] == (["mail_sent"] if mailed else [])
    assert (tmp_path / ".runner/outbox").is_dir() == mailed


def test_a_task_without_notify_or_without_spec_sends_nothing(tmp_path):
    spec = validate_task({k: v for k, v in TASK.items() if k != "notify"}, "t")
    assert notified(tmp_path, replace(context(tmp_path), spec=spec)) == []
    assert notified(tmp_path / "b", replace(context(tmp_path / "b"), spec=None)) == []


def test_a_template_that_fails_is_a_mail_failed_line_naming_file_and_line(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates/default.subject.j2").write_text("{{ run.nope }}")
    [line] = notified(tmp_path, context(tmp_path))
    assert line["event"] == "mail_failed" and line["level"] == "error"
    assert line["subject"] is None
    assert f"{tmp_path / 'templates/default.subject.j2'}:1: undefined" in line["error"]


def test_secrets_never_reach_the_mail_or_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNNER_TEST_SMTP_PASSWORD", "hunter2-very-secret")
    settings = {"from": "runner@example.org", "outbox": "outbox"}
    (tmp_path / "templates").mkdir()
    # a template cannot read runner.yaml; a secret that is in a run's text anyway is blanked
    (tmp_path / "templates/default.txt.j2").write_text("error: {{ run.error }}")
    cfg = Config(
        RunnerConfig.model_validate(
            {"email": settings, "state": "sqlite:${env:RUNNER_TEST_SMTP_PASSWORD}.db"}
        ),
        None,
        tmp_path,
    )
    summary = sample_summary("t", sample_task(), now=NOW, default_timezone="UTC", failed=True)
    summary = replace(summary, run=replace(summary.run, error="login hunter2-very-secret refused"))
    mail = compose(cfg, "default", summary, ["ops@example.org"])
    assert "hunter2" not in mail.text and "error: login **** refused" in mail.text
    assert all("hunter2" not in part for part in (mail.subject, mail.html))
