"""The template sandbox: hostile templates fail closed, fast; ordinary ones render."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.runs.render import RenderError, render_mail, render_part, template_environment
from runner.runs.sandbox import Limits
from runner.runs.summary import sample_summary, sample_task, template_context

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def context() -> dict:
    summary = sample_summary("reports/x", sample_task(), now=NOW, default_timezone="UTC")
    return template_context(summary)


def render(
    tmp_path: Path, source: str, name: str = "t.txt.j2", limits: Limits | None = None
) -> str:
    (tmp_path / name).write_text(source)
    return render_part(template_environment(tmp_path), name, context(), limits)


HOSTILE = {
    "class walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals": "{{ cycler.__init__.__globals__ }}",
    "function globals": "{{ range.__globals__ }}",
    "mro on a class": "{{ namespace.mro() }}",
    "attr filter": "{{ (''|attr('__class__')).__mro__ }}",
    "attr filter on dict": "{{ task|attr('__class__') }}",
    "getitem dunder": "{{ task['__class__'] }}",
    "str.format attribute": "{{ '{0.__class__}'.format(task) }}",
    "str.format padding": "{{ '{:>999999999}'.format('x') }}",
    "format_map": "{{ '{x}'.format_map(task) }}",
    "printf width": "{{ '%999999999s' % 'x' }}",
    "printf star": "{{ '%*s' % (999999999, 'x') }}",
    "format filter width": "{{ '%.999999999f'|format(1.5) }}",
    "power": "{{ 10 ** 100000000 }}",
    "power of a big base": "{{ (2 ** 4000) ** 4000 }}",
    "string repetition": "{{ 'x' * 1000000000 }}",
    "list repetition": "{{ [0] * 1000000000 }}",
    "repetition from the left": "{{ 1000000000 * 'x' }}",
    "huge range": "{% for i in range(10 ** 9) %}{% endfor %}",
    "range to a list": "{{ range(999999999)|list }}",
    "center filter": "{{ 'x'|center(999999999) }}",
    "indent filter": "{{ ('x\\n' * 400000)|indent(1000) }}",
    "replace filter": "{{ ('x' * 900000)|replace('x', 'yyyyyyyyyy') }}",
    "join filter": "{{ range(10000)|join('x' * 100000) }}",
    "doubling with ~": "{% set ns = namespace(s='x') %}"
    "{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "doubling in a block": "{% set ns = namespace(s='x') %}"
    "{% for i in range(64) %}{% set ns.s %}{{ ns.s }}{{ ns.s }}{% endset %}{% endfor %}",
    "squaring": "{% set ns = namespace(n=3) %}"
    "{% for i in range(64) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
    "int to bytes": "{{ (1).to_bytes(999999999, 'big') }}",
    "str ljust": "{{ 'x'.ljust(999999999) }}",
    "batch filler": "{{ [1]|batch(999999999, 0)|list }}",
    "sum of lists": "{{ [[1], [2]]|sum(start=[]) }}",
    "tojson indent": "{{ task|tojson(indent=999999999) }}",
    "recursive macro": "{% macro f() %}{{ f() }}{{ f() }}{% endmacro %}{{ f() }}",
    "lipsum is gone": "{{ lipsum(999999) }}",
    "list mutation": "{% set l = [] %}{{ l.append(1) }}",
}


@pytest.mark.parametrize("source", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_templates_fail_closed_within_a_second(tmp_path, source):
    start = time.monotonic()
    with pytest.raises(RenderError) as caught:
        render(tmp_path, source)
    assert time.monotonic() - start < 1.0
    assert caught.value.path == str(tmp_path / "t.txt.j2")
    assert caught.value.line == 1


def test_a_loop_that_runs_too_long_is_stopped_at_its_deadline(tmp_path):
    nested = "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}"
    start = time.monotonic()
    with pytest.raises(RenderError, match=r"longer than 0\.3 s"):
        render(tmp_path, nested, limits=Limits(time_limit=0.3))
    assert time.monotonic() - start < 1.0


def test_the_default_deadline_applies_without_limits_given(tmp_path):
    start = time.monotonic()
    with pytest.raises(RenderError, match="ran longer than"):
        render(
            tmp_path,
            "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
        )
    assert time.monotonic() - start < 3.0


def test_output_size_is_capped(tmp_path):
    source = "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}"
    with pytest.raises(RenderError, match="output is longer"):
        render(tmp_path, source)


def test_what_templates_may_do_still_works(tmp_path):
    source = (
        "{{ task.id|upper }} {{ '%5.1f'|format(2.25) }} {{ 'a-b'.split('-')|join('+') }} "
        "{{ run.counts.items()|list|length }} {{ 2 ** 10 }} {{ 'ab' * 3 }} {{ [1, 2] + [3] }} "
        "{{ range(3)|sum }} {{ run.id[:8] }} {{ 'x'|center(5) }}|{{ 'long cell'|fit(6) }}|"
        "{{ ['a', 'bb', 'c']|columns([3, 3]) }}|"
    )
    assert render(tmp_path, source) == (
        "REPORTS/X   2.2 a+b 6 1024 ababab [1, 2, 3] 3 "
        f"{context()['run']['id'][:8]}   x  |long …|a    bb   c|"
    )


def test_undefined_names_and_attributes_are_errors_at_their_line(tmp_path):
    with pytest.raises(RenderError) as caught:
        render(tmp_path, "line one\n{{ run.statuss }}\n")
    assert caught.value.line == 2 and "statuss" in caught.value.message
    with pytest.raises(RenderError, match="'nope' is undefined"):
        render(tmp_path, "{{ nope }}")


def test_syntax_errors_name_file_and_line(tmp_path):
    with pytest.raises(RenderError) as caught:
        render(tmp_path, "ok\nok\n{% for x in %}\n")
    assert (caught.value.path, caught.value.line) == (str(tmp_path / "t.txt.j2"), 3)


def test_errors_inside_an_included_file_point_at_that_file(tmp_path):
    (tmp_path / "part.j2").write_text("fine\n{{ run.nothing_here }}\n")
    with pytest.raises(RenderError) as caught:
        render(tmp_path, "{% include 'part.j2' %}")
    assert (caught.value.path, caught.value.line) == (str(tmp_path / "part.j2"), 2)


def test_only_the_html_part_is_autoescaped(tmp_path):
    for part in ("subject", "txt", "html"):
        (tmp_path / f"esc.{part}.j2").write_text("{{ task.description }}")
    summary = sample_summary("x", sample_task(), now=NOW, default_timezone="UTC")
    spec = summary.spec.model_copy(update={"description": "<b>A & B</b>"})
    rendered = render_mail(
        template_environment(tmp_path), "esc", template_context(_with_spec(summary, spec))
    )
    assert rendered.text == rendered.subject == "<b>A & B</b>"
    assert rendered.html == "&lt;b&gt;A &amp; B&lt;/b&gt;"


def test_a_repository_file_overrides_the_packaged_one_of_the_same_name(tmp_path):
    (tmp_path / "default.subject.j2").write_text("custom {{ task.id }}")
    rendered = render_mail(template_environment(tmp_path), "default", context())
    assert rendered.subject == "custom reports/x"
    assert "Hits: 3" in rendered.text and "<table" in rendered.html  # packaged parts


def _with_spec(summary, spec):
    from dataclasses import replace

    return replace(summary, spec=spec)
