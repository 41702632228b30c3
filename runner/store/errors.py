"""Errors of the store: each message names the identifiers involved and what to do."""

from __future__ import annotations

from collections.abc import Sequence

from runner.errors import RunnerError

KeyPath = tuple[str | int, ...]


class StoreError(RunnerError):
    """A store operation that cannot be done as asked."""


class StoreNotInitialized(StoreError):
    def __init__(self, location: str) -> None:
        super().__init__(f"store {location} has no data model yet; run 'runner store init'")


class SchemaTooNew(StoreError):
    def __init__(self, location: str, found: int, supported: int) -> None:
        super().__init__(
            f"store {location} has schema version {found}, newer than this runner supports "
            f"({supported}); upgrade runner"
        )


class UnknownUser(StoreError):
    def __init__(self, user: str) -> None:
        super().__init__(f"unknown user '{user}' in the store's data model")
        self.user = user


class NotAllowed(StoreError):
    """The user lacks a system right the operation needs."""

    def __init__(self, user: str, what: str, needs: str) -> None:
        super().__init__(f"user '{user}' may not {what}: it needs {needs}")
        self.user = user


class DestructiveChange(StoreError):
    """`init` with a data model that would lose or invalidate stored data."""

    def __init__(self, reasons: Sequence[str]) -> None:
        listed = "\n".join(f"  - {reason}" for reason in reasons)
        super().__init__(
            "the new data model would destroy stored data, so nothing was changed:\n" + listed
        )
        self.reasons = tuple(reasons)


class InvalidChange(StoreError):
    """A write whose arguments do not fit the data model (unknown tag, bad field value)."""


class SearchError(StoreError):
    """A search request that does not fit the data model, with the element's key path."""

    def __init__(self, path: KeyPath, message: str) -> None:
        where = ".".join(str(part) for part in path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.detail = message
