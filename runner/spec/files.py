"""Reading one file into a validated model, or into diagnostics: never an exception.

The fast path parses without positions; a file with problems is parsed a second time with
positions, so valid files (the common case in CI) pay nothing for them.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from runner.spec.config import (
    SECRET_FIELDS,
    RunnerConfig,
    secret_references,
    unresolvable_secret,
)
from runner.spec.datamodel import DataModel, check_datamodel
from runner.spec.diagnostics import Collector, Diagnostic, Severity
from runner.spec.mapping import Mapping, check_mapping, mapping_name_problem
from runner.spec.messages import add_validation_errors
from runner.spec.yamlsafe import YamlSyntaxError, decode, load

T = TypeVar("T")
Validator = Callable[[Any, Collector], T | None]


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """One file's outcome: the model when it validated, and every diagnostic."""

    path: Path
    value: T | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    source: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None and not self.errors

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]


def read_text(path: Path) -> str:
    """The file's text; raises YamlSyntaxError (at 1:1) for what cannot be read as text."""
    try:
        mode: int | None = path.stat().st_mode  # one stat: the daemon reads 10,000s of files
    except OSError:
        mode = None  # missing or not accessible: opening it tells which
    if mode is not None and stat.S_ISDIR(mode):
        raise YamlSyntaxError("is a directory, not a file")
    if mode is not None and not stat.S_ISREG(mode):  # a FIFO would wait for a writer forever
        raise YamlSyntaxError("is not a regular file (a FIFO, socket or device)")
    try:
        with path.open("rb") as handle:
            data = handle.read(_cap() + 1)
    except FileNotFoundError:
        raise YamlSyntaxError("file does not exist") from None
    except OSError as exc:
        raise YamlSyntaxError(f"cannot read the file: {exc.strerror or exc}") from None
    return decode(data)


def _cap() -> int:
    from runner.spec.yamlsafe import MAX_BYTES

    return MAX_BYTES


def load_file(path: Path, validate: Validator[T], *, text: str | None = None) -> Loaded[T]:
    """Read, parse and validate one YAML file with `validate(data, collector)`."""
    try:
        source = read_text(path) if text is None else text
        data, _ = load(source)
    except YamlSyntaxError as exc:
        return Loaded(path, None, [Diagnostic(exc.line, exc.column, "", exc.message)])
    out = Collector()
    if data is None:
        out.at(1, 1, "file is empty: it holds no YAML document")
        return Loaded(path, None, out.resolve(None), source)
    value = validate(data, out)
    positions = load(source, positions=True)[1] if out.needs_positions else None
    return Loaded(path, value, out.resolve(positions), source)


def validate_model(model: Any, data: Any, out: Collector, **kwargs: Any) -> Any:
    """`model.model_validate(data)`, errors collected instead of raised."""
    if not isinstance(data, dict):
        out.error((), "expected a mapping of keys at the top of the file")
        return None
    try:
        return model.model_validate(data, **kwargs)
    except ValidationError as exc:
        add_validation_errors(out, exc, data, model)
        return None


def load_config_file(path: Path) -> Loaded[RunnerConfig]:
    def validate(data: Any, out: Collector) -> RunnerConfig | None:
        result: RunnerConfig | None = validate_model(RunnerConfig, data, out)
        if result is not None:
            _check_secrets(data, path.parent, out)
            _check_smtp(result, out)
        return result

    return load_file(path, validate)


def _check_secrets(data: dict[str, Any], base: Path, out: Collector) -> None:
    """Unresolvable references are warnings here (CI has no secrets); a run makes them errors."""
    for key_path in SECRET_FIELDS:
        value: Any = data
        for key in key_path:
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, str):
            continue
        for kind, name in secret_references(value):
            problem = unresolvable_secret(kind, name, base)
            if problem:
                out.warning(
                    key_path, f"secret ${{{kind}:{name}}} cannot be resolved here: {problem}"
                )
        if key_path[-1] == "password" and not secret_references(value):
            out.warning(
                key_path, "write the password as ${env:NAME} or ${file:PATH}, not in the file"
            )


def _check_smtp(config: RunnerConfig, out: Collector) -> None:
    """Settings that work but expose mail or credentials: warnings."""
    smtp = config.email.smtp
    if smtp is None:
        return
    if smtp.security == "none" and smtp.username is not None:
        out.warning(
            ("email", "smtp", "security"),
            "security: none sends the SMTP password in plain text; use starttls or ssl",
        )
    if not smtp.verify:
        out.warning(
            ("email", "smtp", "verify"),
            "verify: false accepts any certificate; give the server's CA as ca_file instead",
        )


def load_datamodel_file(path: Path) -> Loaded[DataModel]:
    def validate(data: Any, out: Collector) -> DataModel | None:
        model: DataModel | None = validate_model(DataModel, data, out)
        if model is not None:
            check_datamodel(model, out)
        return None if model is None or out.has_errors else model

    return load_file(path, validate)


def load_mapping_file(path: Path, model: DataModel | None) -> Loaded[Mapping]:
    def validate(data: Any, out: Collector) -> Mapping | None:
        problem = mapping_name_problem(path.stem)
        if problem:
            out.at(1, 1, problem)
        mapping: Mapping | None = validate_model(Mapping, data, out)
        if mapping is not None:
            check_mapping(mapping, model, out)
        return None if mapping is None or out.has_errors else mapping

    return load_file(path, validate)
