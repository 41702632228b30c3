"""Email summaries through the real CLI: runs against a seeded store mail a real SMTP server on
loopback (or write the outbox); a failed send never changes a run; `runner notify test`."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from runner.clock import SystemClock
from runner.commands.config import load_workspace, open_state_store, open_store
from runner.commands.tasks import load_valid_task
from runner.runs.engine import Environment, RunRequest, execute
from runner.runs.log import read_lines
from runner.runs.notify import Notifier
from tests.conftest import ROOT, run_cli
from tests.smtp_server import free_port, make_tls, smtp_config, smtp_server

SEARCH = "reports/weekly-embargo"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("seeded")
    for name in ("runner.yaml", "datamodel.yaml"):
        shutil.copy(ROOT / name, base / name)
    for name in ("tasks.d", "mappings", "templates"):
        shutil.copytree(ROOT / name, base / name)
    result = run_cli("store", "seed", "--objects", "400", "--files", "20", cwd=base)
    assert result.code == 0, result.err
    return base


@pytest.fixture
def repo(seeded, tmp_path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(seeded, target, symlinks=True)
    return target


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_tls(tmp_path_factory.mktemp("tls"))


def set_email(repo: Path, settings: dict) -> None:
    """Replace runner.yaml's `email` block (JSON is YAML)."""
    path = repo / "runner.yaml"
    text = re.sub(r"(?m)^email:\n(?:[ ].*\n)*", "", path.read_text())
    path.write_text(text + f"email: {json.dumps(settings)}\n")


def run_log(repo: Path, task: str) -> list[dict]:
    logs = sorted((repo / ".runner/logs" / task).glob("*.jsonl"))
    return read_lines(logs[-1])


def outbox(repo: Path) -> list[email.message.EmailMessage]:
    paths = sorted((repo / ".runner/outbox").glob("*.eml"))
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in paths]


def mail_events(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["event"].startswith("mail_")]


def test_a_search_run_mails_its_table_and_csv_over_starttls(repo, tls):
    with smtp_server(starttls=tls.server_context) as server:
        set_email(repo, smtp_config(server, "starttls", ca_file=str(tls.ca_file)))
        result = run_cli("run", SEARCH, cwd=repo)
    assert result.code == 0, result.err
    [received] = server.received
    assert sorted(received.rcpt_tos) == ["ops@example.org", "press-office@example.org"]
    message = received.message
    assert message["From"] == "runner@example.org" and message["Date"] and message["Message-ID"]
    assert message["Subject"].startswith(f"[runner] {SEARCH}: success, ")
    alternative, attachment = message.iter_parts()
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    lines = run_log(repo, SEARCH)
    hits = lines[1]["count"]
    csv_path = next((repo / ".runner/logs" / SEARCH).glob("*.csv"))
    assert attachment.get_payload(decode=True) == csv_path.read_bytes()
    rows = list(csv.reader(io.StringIO(attachment.get_content())))
    assert len(rows) == hits + 1
    html = message.get_body(("html",)).get_content()
    for row in rows[1 : min(hits, 50) + 1]:
        assert f"<td>{row[0]}</td>" in html
    text = message.get_body(("plain",)).get_content()
    assert f"Hits: {hits}" in text and "images.creator" in text
    # mail_sent lands before run_finished, which stays the last line
    assert [line["event"] for line in lines[-2:]] == ["mail_sent", "run_finished"]
    sent = lines[-2]
    assert sent["to"] == ["press-office@example.org", "ops@example.org"]
    assert sent["subject"] == message["Subject"] and sent["error"] is None
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))


def test_outbox_and_problems_only(repo):
    cleanup = repo / "tasks.d/cleanup/empty-trash-candidates.yaml"
    cleanup.write_text(cleanup.read_text().replace("problems_only: false", "problems_only: true"))
    assert run_cli("run", "cleanup/empty-trash-candidates", "--yes", cwd=repo).code == 0
    quiet = run_log(repo, "cleanup/empty-trash-candidates")
    assert quiet[-1]["counts"]["denied"] == quiet[-1]["counts"]["failed"] == 0
    assert mail_events(quiet) == [] and outbox(repo) == []
    # the review task mails only with problems, and the seeded store denies it some objects
    assert run_cli("run", "review/tag-new-imports", "--yes", cwd=repo).code == 0
    review = run_log(repo, "review/tag-new-imports")
    assert review[-1]["status"] == "success" and review[-1]["counts"]["denied"] > 0
    [mail] = outbox(repo)
    assert mail["Subject"] == (
        "[runner] review/tag-new-imports: success with problems"
        " - Tag last week's imports for review"
    )
    assert mail["To"] == "ops@example.org"
    assert "object_denied" in mail.get_body(("plain",)).get_content()
    [event] = mail_events(review)
    assert event["event"] == "mail_sent" and event["via"].endswith(".eml")


def test_an_undo_mails_as_its_task_says(repo):
    assert run_cli("run", "cleanup/empty-trash-candidates", "--yes", cwd=repo).code == 0
    run_id = run_log(repo, "cleanup/empty-trash-candidates")[0]["run"]
    assert run_cli("undo", run_id, "--yes", cwd=repo).code == 0
    _, undo = outbox(repo)
    assert undo["Subject"].startswith("[runner] cleanup/empty-trash-candidates (undo): success")
    assert f"undo of run {run_id}" in undo.get_body(("html",)).get_content()


def test_a_refused_mail_leaves_the_run_as_it_was(repo):
    with smtp_server(refuse="550 5.1.1 mailbox unavailable") as server:
        set_email(repo, smtp_config(server, "none"))
        result = run_cli("run", SEARCH, cwd=repo)
    assert result.code == 0, result.err
    assert "run " in result.out and ": success" in result.out
    lines = run_log(repo, SEARCH)
    failed, finished = lines[-2:]
    assert failed["event"] == "mail_failed" and failed["level"] == "error"
    assert set(failed) >= {"to", "subject", "error"}
    assert "550" in failed["error"] and failed["subject"].startswith("[runner] ")
    assert finished["event"] == "run_finished" and finished["status"] == "success"
    status = run_cli("logs", SEARCH, "--format", "json", cwd=repo)
    assert json.loads(status.out)["runs"][-1]["status"] == "success"


def test_a_server_that_is_down_is_retried_then_logged_and_the_run_succeeds(repo):
    port = free_port()  # nothing listens there
    set_email(repo, {"smtp": {"host": "127.0.0.1", "port": port, "security": "none"}})
    workspace = load_workspace(None, repo)
    config = workspace.config
    task_id, loaded = load_valid_task(workspace, SEARCH, repo, SystemClock().now())
    waited: list[float] = []
    store, state = open_store(config), open_state_store(config)
    env = Environment(
        store=store,
        state=state,
        clock=SystemClock(),
        logs_dir=config.logs_dir,
        mappings_dir=config.mappings_dir,
        notify=Notifier(config, SystemClock(), sleep=waited.append),
    )
    try:
        outcome = execute(RunRequest(task_id, loaded.value), env)
    finally:
        store.close()
        state.close()
    assert outcome.run.status == "success" and not outcome.problems
    assert waited == [2.0, 10.0, 30.0]
    lines = read_lines(outcome.log_path)
    assert [line["event"] for line in lines[-2:]] == ["mail_failed", "run_finished"]
    assert "ConnectionRefusedError" in lines[-2]["error"]


def test_runner_check_reports_template_errors_at_file_and_line(tmp_path):
    for name in ("runner.yaml", "datamodel.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("tasks.d", "mappings", "templates"):
        shutil.copytree(ROOT / name, tmp_path / name)
    txt = tmp_path / "templates/default.txt.j2"
    lines = txt.read_text().splitlines()
    status_line = next(i for i, line in enumerate(lines) if line.startswith("Status"))
    lines[status_line] = "Status     {{ run.statuss }}"
    txt.write_text("\n".join(lines) + "\n")
    html = tmp_path / "templates/default.html.j2"
    html.write_text(html.read_text().replace("{% if search %}", "{% if search %}{% for x in %}"))
    (tmp_path / "templates/weekly.subject.j2").write_text("ok\n{{ hits }}\n")
    result = run_cli("check", "--format", "json", cwd=tmp_path)
    assert result.code == 1
    report = json.loads(result.out)
    files = {f["path"]: f for f in report["files"]}
    paths = [f["path"] for f in report["files"]]
    assert paths[-4:] == [
        "templates/default.html.j2",
        "templates/default.subject.j2",
        "templates/default.txt.j2",
        "templates/weekly.subject.j2",
    ]
    assert paths.index("mappings/photo-default.yaml") < paths.index("templates/default.html.j2")
    assert all(files[p]["task"] is None for p in paths[-4:])
    [syntax] = files["templates/default.html.j2"]["errors"]
    html_line = (
        html.read_text()
        .splitlines()
        .index(next(s for s in html.read_text().splitlines() if "{% for x in %}" in s))
    )
    assert syntax["line"] == html_line + 1 and syntax["message"].startswith("syntax error")
    [undefined] = files["templates/default.txt.j2"]["errors"]
    assert undefined["line"] == status_line + 1 and "statuss" in undefined["message"]
    [unknown] = files["templates/weekly.subject.j2"]["errors"]
    assert unknown["line"] == 2 and "'hits' is not a template variable" in unknown["message"]
    [incomplete] = files["templates/weekly.subject.j2"]["warnings"]
    assert "lacks weekly.txt.j2, weekly.html.j2" in incomplete["message"]
    text = run_cli("check", cwd=tmp_path).out
    assert f"templates/default.txt.j2:{status_line + 1}:1: undefined: " in text
    # a template named as PATH is checked as a template
    named = run_cli("check", "templates/weekly.subject.j2", "--format", "json", cwd=tmp_path)
    [entry] = json.loads(named.out)["files"]
    assert entry["task"] is None and entry["errors"][0]["line"] == 2


def test_the_repository_templates_are_the_packaged_defaults():
    for part in ("subject", "txt", "html"):
        name = f"default.{part}.j2"
        assert (ROOT / "templates" / name).read_text() == (
            ROOT / "runner/templates" / name
        ).read_text()


def test_notify_test_writes_the_outbox_without_smtp(tmp_path):
    (tmp_path / "runner.yaml").write_text("version: 1\n")
    result = run_cli("notify", "test", "--to", "me@example.org", cwd=tmp_path)
    assert result.code == 0, result.err
    [mail] = outbox(tmp_path)
    assert f"via {tmp_path / '.runner/outbox'}" in result.out
    assert mail["To"] == "me@example.org" and mail["From"] == "runner@localhost"
    assert next(a.get_filename() for a in mail.iter_attachments()).endswith(".csv")


def test_notify_test_over_smtp_with_auth(tmp_path, tls, monkeypatch):
    from tests.smtp_server import PASSWORD, USER

    with smtp_server(starttls=tls.server_context, auth=True) as server:
        settings = smtp_config(
            server,
            "starttls",
            ca_file=str(tls.ca_file),
            username=USER,
            password="${env:RUNNER_TEST_SMTP_PASSWORD}",
        )
        (tmp_path / "runner.yaml").write_text(f"version: 1\nemail: {json.dumps(settings)}\n")
        env = {"RUNNER_TEST_SMTP_PASSWORD": PASSWORD}
        result = run_cli("notify", "test", "--to", "me@example.org", cwd=tmp_path, env=env)
    assert result.code == 0, result.err
    assert f"via smtp 127.0.0.1:{server.port} (starttls)" in result.out
    assert server.logins == [USER] and len(server.received) == 1
    assert PASSWORD not in result.out + result.err


def test_notify_test_fails_clearly(tmp_path, tls):
    port = free_port()
    settings = {"smtp": {"host": "127.0.0.1", "port": port, "security": "none", "timeout": "2s"}}
    (tmp_path / "runner.yaml").write_text(f"version: 1\nemail: {json.dumps(settings)}\n")
    down = run_cli("notify", "test", "--to", "me@example.org", cwd=tmp_path)
    assert down.code == 1 and down.err.startswith("error: ") and "Connection" in down.err
    with smtp_server(starttls=tls.server_context) as server:
        untrusted = smtp_config(server, "starttls")
        (tmp_path / "runner.yaml").write_text(f"version: 1\nemail: {json.dumps(untrusted)}\n")
        refused = run_cli("notify", "test", "--to", "me@example.org", cwd=tmp_path)
    assert refused.code == 1 and "TLS certificate not trusted" in refused.err
    assert server.received == []
    bad = run_cli("notify", "test", "--to", "not an address", cwd=tmp_path)
    assert bad.code == 2 and "not a valid email address" in bad.err
    missing = run_cli(
        "notify", "test", "--to", "me@example.org", "--template", "nope", cwd=tmp_path
    )
    assert missing.code == 1 and "no email template 'nope'" in missing.err
