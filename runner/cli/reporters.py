"""Reporters for `runner check`: the same CheckResult as text, json, github or sarif."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from runner import __version__
from runner.commands.check import CheckResult, FileReport
from runner.spec.diagnostics import Diagnostic, Severity


def render_text(result: CheckResult, *, color: bool = False) -> str:
    lines: list[str] = []
    for report in result.files:
        source = report.source.splitlines() if report.source else []
        for diag in report.diagnostics:
            lines.append(_text_line(report, diag, color))
            lines += _excerpt(source, diag)
    lines.append(_summary(result))
    return "\n".join(lines) + "\n"


def _text_line(report: FileReport, diag: Diagnostic, color: bool) -> str:
    where = f" [{diag.loc}]" if diag.loc else ""
    label = "warning: " if diag.severity is Severity.WARNING else ""
    if color:
        tone = "\x1b[33m" if diag.severity is Severity.WARNING else "\x1b[31m"
        label = f"{tone}{label or 'error: '}\x1b[0m"
    return f"{report.path}:{diag.line}:{diag.column}: {label}{diag.message}{where}"


def _excerpt(source: list[str], diag: Diagnostic) -> list[str]:
    if not 1 <= diag.line <= len(source):
        return []
    text = source[diag.line - 1].replace("\t", " ")
    if len(text) > 200:
        return []
    gutter = f"{diag.line:>5} | "
    caret = " " * (len(gutter) - 2) + "| " + " " * (diag.column - 1) + "^"
    return [gutter + text, caret]


def _summary(result: CheckResult) -> str:
    files = len(result.files)
    noun = "file" if files == 1 else "files"
    verdict = "ok" if result.valid else "failed"
    return (
        f"{verdict}: {files} {noun} checked, {result.error_count} error(s), "
        f"{result.warning_count} warning(s)" + (" (--strict)" if result.strict else "")
    )


def check_json(result: CheckResult) -> dict[str, Any]:
    return {
        "valid": result.valid,
        "error_count": result.error_count,
        "warning_count": result.warning_count,
        "files": [
            {
                "path": report.path,
                "task": report.task,
                "errors": [_diag_json(d) for d in report.errors],
                "warnings": [_diag_json(d) for d in report.warnings],
            }
            for report in result.files
        ],
    }


def _diag_json(diag: Diagnostic) -> dict[str, Any]:
    return {"line": diag.line, "column": diag.column, "loc": diag.loc, "message": diag.message}


def render_json(result: CheckResult) -> str:
    return json.dumps(check_json(result), indent=2, ensure_ascii=False) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(result: CheckResult) -> str:
    """GitHub Actions workflow commands: one annotation per problem."""
    lines = []
    for report in result.files:
        for diag in report.diagnostics:
            level = "warning" if diag.severity is Severity.WARNING else "error"
            where = f" [{diag.loc}]" if diag.loc else ""
            props = (
                f"file={_escape_property(report.path)},line={diag.line},col={diag.column},"
                f"title={_escape_property('runner check')}"
            )
            lines.append(f"::{level} {props}::{_escape_data(diag.message + where)}")
    lines.append(_summary(result))
    return "\n".join(lines) + "\n"


def check_sarif(result: CheckResult) -> dict[str, Any]:
    """SARIF 2.1.0, one run, one rule per severity of problem."""
    results = [
        {
            "ruleId": _rule(diag),
            "level": "warning" if diag.severity is Severity.WARNING else "error",
            "message": {"text": diag.message},
            "locations": [_sarif_location(report, diag)],
        }
        for report in result.files
        for diag in report.diagnostics
    ]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "runner",
                        "version": __version__,
                        "rules": [
                            {
                                "id": "runner/invalid",
                                "shortDescription": {"text": "The file is invalid"},
                                "defaultConfiguration": {"level": "error"},
                            },
                            {
                                "id": "runner/warning",
                                "shortDescription": {"text": "The file is valid but risky"},
                                "defaultConfiguration": {"level": "warning"},
                            },
                        ],
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def _rule(diag: Diagnostic) -> str:
    return "runner/warning" if diag.severity is Severity.WARNING else "runner/invalid"


def _sarif_location(report: FileReport, diag: Diagnostic) -> dict[str, Any]:
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": quote(report.path)},
            "region": {"startLine": diag.line, "startColumn": diag.column},
        }
    }
    if diag.loc:
        location["logicalLocations"] = [{"fullyQualifiedName": diag.loc, "kind": "member"}]
    return location


def render_sarif(result: CheckResult) -> str:
    return json.dumps(check_sarif(result), indent=2, ensure_ascii=False) + "\n"


CHECK_REPORTERS: dict[str, Callable[[CheckResult], str]] = {
    "text": render_text,
    "json": render_json,
    "github": render_github,
    "sarif": render_sarif,
}
