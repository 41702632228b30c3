"""`runner notify test --to ADDRESS [--template NAME]`: mail a sample summary through the
configured transport, to verify runner.yaml's email settings (and a template) by hand."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from runner.clock import Clock
from runner.commands.config import Workspace
from runner.errors import RunnerError, UsageError
from runner.runs.mail import build_message, secret_values, send_with_retry, transport_for
from runner.runs.notify import compose
from runner.runs.summary import sample_summary, sample_task
from runner.spec.templates import template_names
from runner.spec.types import check_email


class TemplateNotFound(RunnerError):
    def __init__(self, name: str, directory: str) -> None:
        super().__init__(
            f"no email template '{name}' (looked for {name}.subject.j2, .txt.j2 and .html.j2 "
            f"in {directory}/)"
        )


@dataclass(frozen=True)
class TestMail:
    to: str
    subject: str
    where: str


def send_test(
    workspace: Workspace,
    to: str,
    *,
    template: str,
    clock: Clock,
    sleep: Callable[[float], None] = time.sleep,
) -> TestMail:
    """Send once, without retries: the point is to see a failure at once. Raises MailError."""
    config = workspace.config
    try:
        check_email(to)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if template not in template_names(config.templates_dir):
        raise TemplateNotFound(template, config.model.templates_dir)
    now = clock.now()
    summary = sample_summary(
        "notify-test", sample_task(), now=now, default_timezone=config.model.timezone
    )
    mail = compose(config, template, summary, [to])
    where = send_with_retry(
        transport_for(config, clock.now),
        build_message(mail, now=now),
        delays=(),
        sleep=sleep,
        secrets=secret_values(config),
    )
    return TestMail(to, mail.subject, where)
