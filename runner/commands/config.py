"""Finding and loading runner.yaml and the data model, shared by every command."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

from runner.errors import ConfigError
from runner.spec.config import Config, RunnerConfig, find_config, resolve_secret
from runner.spec.datamodel import DataModel
from runner.spec.files import Loaded, load_config_file, load_datamodel_file, load_mapping_file
from runner.spec.mapping import Mapping
from runner.spec.semantic import CheckContext
from runner.spec.templates import template_names
from runner.state.base import StateStore
from runner.store.base import Store


@dataclass(frozen=True)
class Workspace:
    """The configuration in force, with the outcome of loading its files."""

    config: Config
    config_file: Loaded[RunnerConfig] | None
    datamodel_file: Loaded[DataModel] | None

    @property
    def datamodel(self) -> DataModel | None:
        return self.datamodel_file.value if self.datamodel_file else None

    @cached_property
    def mapping_files(self) -> dict[Path, Loaded[Mapping]]:
        """Every mapping profile in the mappings directory, loaded and checked once."""
        directory = self.config.mappings_dir
        paths = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
        return {path: load_mapping_file(path, self.datamodel) for path in paths}

    def check_context(self, now: datetime) -> CheckContext:
        """What task files are checked against: the data model, templates and mappings."""
        return CheckContext(
            now=now,
            timezone=self.config.model.timezone,
            datamodel=self.datamodel,
            templates=frozenset(template_names(self.config.templates_dir)),
            mappings={path.stem: loaded.value for path, loaded in self.mapping_files.items()},
        )


def load_workspace(explicit: str | None, cwd: Path) -> Workspace:
    """Load what is there; problems stay in the Loaded results (for `runner check`)."""
    path = find_config(explicit, cwd)
    if path is None:
        config = Config(RunnerConfig(), None, cwd)
        loaded = None
    else:
        loaded = load_config_file(path)
        config = Config(loaded.value or RunnerConfig(), path, path.parent)
    datamodel_path = config.datamodel_path
    datamodel = load_datamodel_file(datamodel_path) if datamodel_path else None
    return Workspace(config, loaded, datamodel)


def require_valid(workspace: Workspace) -> Workspace:
    """For commands that act: an invalid runner.yaml or data model is an error."""
    for loaded in (workspace.config_file, workspace.datamodel_file):
        if loaded is not None and loaded.errors:
            first = loaded.errors[0]
            raise ConfigError(
                f"{loaded.path}:{first.line}:{first.column}: {first.message} "
                f"(run 'runner check' for every problem)"
            )
    return workspace


def open_store(config: Config, *, upgrade: bool = False) -> Store:
    """The store runner.yaml names. An SQLite file is created empty if missing (and upgraded
    in place); a PostgreSQL database must be at this runner's schema version, unless `upgrade`
    (for `runner store init`, which migrates it). `${env:NAME}` secrets of the DSN are resolved
    here, and messages show it without its password."""
    from runner.spec.config import PostgresStore as PostgresStoreConfig
    from runner.store.sqlite import SqliteStore

    store = config.model.store
    if isinstance(store, PostgresStoreConfig):
        from runner.store.postgres import PostgresStore

        dsn = resolve_secret(store.dsn, config.base)
        assets = config.resolve(store.assets)
        return PostgresStore(dsn, assets, upgrade=upgrade, lease=config.model.lease)
    return SqliteStore(config.resolve(store.path), config.resolve(store.assets))


def open_state_store(config: Config) -> StateStore:
    """The state runner.yaml names (`sqlite:PATH` or `postgresql://...`, whose `${env:NAME}`
    secrets are resolved here and never shown)."""
    from runner.state.backends import open_state

    return open_state(config.model.state, config.base)
