"""runner.yaml (DESIGN section 10): the model, secret references, and finding the file.

Relative paths are relative to the file that names them (to the working directory when there
is no runner.yaml). Secrets are written `${env:NAME}` or `${file:PATH}` and resolved only when
used; the model keeps the reference, never the value.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
    field_validator,
)

from runner.errors import ConfigError
from runner.spec.types import STRICT_FROZEN, Duration, EmailAddress, Timezone, Version

CONFIG_NAME = "runner.yaml"
SECRET_REF = re.compile(r"\$\{(env|file):([^}]*)\}")
PathStr = Annotated[StrictStr, Field(min_length=1)]


class SmtpConfig(BaseModel):
    model_config = STRICT_FROZEN
    host: Annotated[StrictStr, Field(min_length=1)]
    port: StrictInt | None = Field(None, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: StrictStr | None = None
    password: StrictStr | None = None
    timeout: Duration = timedelta(seconds=30)
    verify: StrictBool = True
    ca_file: PathStr | None = None

    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "ssl": 465, "none": 25}[self.security]


class EmailConfig(BaseModel):
    model_config = STRICT_FROZEN
    from_: EmailAddress = Field("runner@localhost", alias="from")
    outbox: PathStr = ".runner/outbox"
    smtp: SmtpConfig | None = None


class SqliteStore(BaseModel):
    model_config = STRICT_FROZEN
    type: Literal["sqlite"] = "sqlite"
    path: PathStr = ".runner/store.db"
    assets: PathStr = ".runner/assets"


class PostgresStore(BaseModel):
    model_config = STRICT_FROZEN
    type: Literal["postgres"]
    dsn: Annotated[StrictStr, Field(min_length=1)]
    assets: PathStr = ".runner/assets"


def _store_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("type", "sqlite")
        return f"type={kind}" if isinstance(kind, str) else None
    return f"type={getattr(value, 'type', None)}"


StoreConfig = Annotated[
    Annotated[SqliteStore, Tag("type=sqlite")] | Annotated[PostgresStore, Tag("type=postgres")],
    Discriminator(
        _store_tag,
        custom_error_type="store_type",
        custom_error_message="unknown store type; use 'sqlite' or 'postgres'",
    ),
]


class Retention(BaseModel):
    model_config = STRICT_FROZEN
    keep_runs: StrictInt | None = Field(100, ge=1)
    keep_days: StrictInt | None = Field(90, ge=1)


class RunnerConfig(BaseModel):
    model_config = STRICT_FROZEN
    version: Version = 1
    tasks_dir: PathStr = "tasks.d"
    templates_dir: PathStr = "templates"
    mappings_dir: PathStr = "mappings"
    datamodel: PathStr | None = None
    logs_dir: PathStr = ".runner/logs"
    state: Annotated[StrictStr, Field(pattern=r"^(sqlite:.+|postgres(ql)?://.+)$")] = (
        "sqlite:.runner/state.db"
    )
    store: StoreConfig = Field(default_factory=SqliteStore)
    timezone: Timezone = "UTC"
    email: EmailConfig = Field(default_factory=EmailConfig)
    retention: Retention = Field(default_factory=Retention)
    max_parallel_runs: StrictInt = Field(4, ge=1, le=64)
    # how long a run's lease lasts between renewals: a process that stops renewing (crashed,
    # paused, cut off) has its run taken over this long after its last renewal
    lease: Duration = timedelta(seconds=60)
    allow_empty: StrictBool = False

    @field_validator("lease")
    @classmethod
    def _lease_range(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=2) <= value <= timedelta(hours=1):
            raise ValueError("lease must be between 2s and 1h")
        return value


@dataclass(frozen=True)
class Config:
    """A validated runner.yaml with the directory its relative paths start from."""

    model: RunnerConfig
    path: Path | None
    base: Path

    def resolve(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base / path

    @property
    def tasks_dir(self) -> Path:
        return self.resolve(self.model.tasks_dir)

    @property
    def templates_dir(self) -> Path:
        return self.resolve(self.model.templates_dir)

    @property
    def mappings_dir(self) -> Path:
        return self.resolve(self.model.mappings_dir)

    @property
    def logs_dir(self) -> Path:
        return self.resolve(self.model.logs_dir)

    @property
    def datamodel_path(self) -> Path | None:
        """The configured data model, else datamodel.yaml beside the config if present."""
        if self.model.datamodel is not None:
            return self.resolve(self.model.datamodel)
        default = self.base / "datamodel.yaml"
        return default if default.exists() else None


def find_config(explicit: str | None, cwd: Path) -> Path | None:
    """--config, else $RUNNER_CONFIG, else the nearest runner.yaml in cwd or above."""
    chosen = explicit or os.environ.get("RUNNER_CONFIG")
    if chosen:
        path = Path(chosen).expanduser()
        path = path if path.is_absolute() else cwd / path
        if not path.is_file():
            raise ConfigError(f"config file {chosen} does not exist")
        return path
    for directory in (cwd, *cwd.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def secret_references(value: str) -> list[tuple[str, str]]:
    """The (kind, name) of each `${env:NAME}` / `${file:PATH}` in a string."""
    return [(m.group(1), m.group(2)) for m in SECRET_REF.finditer(value)]


def resolve_secret(value: str, base: Path) -> str:
    """Substitute secret references; raises ConfigError naming (never showing) a missing one."""

    def replace(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        if kind == "env":
            if name not in os.environ:
                raise ConfigError(f"secret ${{env:{name}}} is not set in the environment")
            return os.environ[name]
        path = Path(name).expanduser()
        path = path if path.is_absolute() else base / path
        try:
            return path.read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise ConfigError(f"secret ${{file:{name}}} cannot be read: {exc.strerror}") from None

    return SECRET_REF.sub(replace, value)


def unresolvable_secret(kind: str, name: str, base: Path) -> str | None:
    """Why a reference cannot be resolved now, or None (for `runner check` warnings)."""
    if kind == "env":
        return None if name in os.environ else f"environment variable {name} is not set"
    path = Path(name).expanduser()
    path = path if path.is_absolute() else base / path
    return None if path.is_file() else f"file {name} does not exist"


SECRET_FIELDS: tuple[tuple[str, ...], ...] = (
    ("email", "smtp", "username"),
    ("email", "smtp", "password"),
    ("store", "dsn"),
    ("state",),
)
