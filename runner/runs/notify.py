"""Email summaries of runs: the engine's notify hook (DESIGN sections 4, 7 and 10).

When a run ends, its task's `notify.email` decides whether a mail goes out (`problems_only`
mails only runs with problems); the summary is rendered from the task's template in the
sandbox and delivered through runner.yaml's transport, retried with backoff. The outcome is
logged as `mail_sent` or `mail_failed`, before `run_finished`. Nothing here changes a run's
status: every failure, a template's included, ends as a `mail_failed` line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from runner.clock import Clock
from runner.runs.engine import NotifyContext
from runner.runs.log import read_lines
from runner.runs.mail import (
    RETRY_DELAYS,
    Attachment,
    Mail,
    build_message,
    failure_text,
    header_text,
    redact,
    secret_values,
    send_with_retry,
    transport_for,
)
from runner.runs.render import render_mail, template_environment
from runner.runs.summary import Summary, hit_list, template_context
from runner.spec.config import Config
from runner.spec.task import AnyTask, Email


def compose(config: Config, template: str, summary: Summary, to: Sequence[str]) -> Mail:
    """Render the summary with the named template; secrets that leaked into it are blanked."""
    rendered = render_mail(
        template_environment(config.templates_dir), template, template_context(summary)
    )
    secrets = secret_values(config)
    hits = summary.hits
    attachments = (Attachment(summary.csv_name, hits.csv),) if hits is not None and hits.csv else ()
    return Mail(
        sender=config.model.email.from_,
        to=tuple(to),
        subject=redact(header_text(rendered.subject), secrets),
        text=redact(rendered.text, secrets),
        html=redact(rendered.html, secrets),
        attachments=attachments,
    )


@dataclass
class Notifier:
    """Called by the engine with each finished run; `sleep` and `delays` pace the retries."""

    config: Config
    clock: Clock
    sleep: Callable[[float], None] = time.sleep
    delays: Sequence[float] = RETRY_DELAYS

    def __call__(self, ctx: NotifyContext) -> None:
        spec = ctx.spec
        if spec is None or spec.notify is None:
            return
        email = spec.notify.email
        if email.problems_only and not ctx.problems:
            return
        self._mail(ctx, spec, email)

    def _mail(self, ctx: NotifyContext, spec: AnyTask, email: Email) -> None:
        to, subject = list(email.to), None
        try:
            mail = compose(self.config, email.template, self._summary(ctx, spec), to)
            subject = mail.subject
            message = build_message(mail, now=self.clock.now())
            where = send_with_retry(
                transport_for(self.config, self.clock.now),
                message,
                delays=self.delays,
                sleep=self.sleep,
                secrets=secret_values(self.config),
            )
        except Exception as exc:  # a mail never changes the run: every failure is logged
            error = redact(failure_text(exc), secret_values(self.config))
            ctx.log.error(
                "mail_failed",
                f"mail to {', '.join(to)} failed: {error}",
                to=to,
                subject=subject,
                error=error,
            )
            return
        ctx.log.info(
            "mail_sent",
            f"mail sent to {', '.join(to)} via {where}",
            to=to,
            subject=subject,
            error=None,
            via=where,
        )

    def _summary(self, ctx: NotifyContext, spec: AnyTask) -> Summary:
        return Summary(
            task_id=ctx.run.task_id,
            spec=spec,
            run=ctx.run,
            git_commit=ctx.git_commit,
            log_path=ctx.log.path,
            lines=read_lines(ctx.log.path),
            default_timezone=self.config.model.timezone,
            hits=hit_list(spec, ctx.extra),
        )
