"""Layer 3: the store the modules act on (DESIGN sections 5 and 6).

- `base`: the `Store` protocol and the values it returns; `errors`: what it raises;
- `compiler`: a fylr search request as one parameterized SQL query (its docstring states the
  search semantics); `dates` and `text`: how dates and words are read;
- `records` and `importing`: fylr record JSON out and in; `indexing`: the rows that make an
  object searchable; `modeldiff`: what a data-model change would destroy;
- `sqlite` (with `sqlite_schema`, `sqlite_sql`, `sqlite_model`, `sqlite_rows`): the embedded
  backend; `seed`: a realistic data set for any data model.
"""

from __future__ import annotations

from runner.store.base import (
    Asset,
    ImportProblem,
    ImportReport,
    InitReport,
    ModelChange,
    Record,
    Right,
    RightsCheck,
    RunChange,
    SearchResult,
    Since,
    Skipped,
    Store,
    Version,
    WriteResult,
)
from runner.store.errors import (
    DestructiveChange,
    InvalidChange,
    NotAllowed,
    SchemaTooNew,
    SearchError,
    StoreError,
    StoreNotInitialized,
    UnknownUser,
)

__all__ = [
    "Asset",
    "DestructiveChange",
    "ImportProblem",
    "ImportReport",
    "InitReport",
    "InvalidChange",
    "ModelChange",
    "NotAllowed",
    "Record",
    "Right",
    "RightsCheck",
    "RunChange",
    "SchemaTooNew",
    "SearchError",
    "SearchResult",
    "Since",
    "Skipped",
    "Store",
    "StoreError",
    "StoreNotInitialized",
    "UnknownUser",
    "Version",
    "WriteResult",
]
