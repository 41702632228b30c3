"""The data model as a store holds it: stable integer ids for objecttypes and fields.

Fields keep their id for as long as they exist, so index rows stay valid across `init`.
Each value of a text or string field is one row of the full-text index whose rowid packs
(object id, field id, value index), so a match yields the object without a join and an
object's rows are one rowid range.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from runner.spec.datamodel import DataModel, FieldDef
from runner.store.errors import UnknownUser

FIELD_BITS = 12
INDEX_BITS = 10
OBJECT_SHIFT = FIELD_BITS + INDEX_BITS
MAX_FIELD_ID = (1 << FIELD_BITS) - 1
MAX_VALUES = 1 << INDEX_BITS
TEXT_TYPES = ("text", "string")
INDEXED_TYPES = ("string", "number", "date", "boolean", "file")


def text_rowid(object_id: int, field_id: int, index: int) -> int:
    return (object_id << OBJECT_SHIFT) | (field_id << INDEX_BITS) | index


def text_rowid_range(object_id: int) -> tuple[int, int]:
    """The half-open rowid range of one object's text rows."""
    return object_id << OBJECT_SHIFT, (object_id + 1) << OBJECT_SHIFT


@dataclass(frozen=True)
class FieldInfo:
    id: int
    objecttype: str
    objecttype_id: int
    definition: FieldDef

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def qualified(self) -> str:
        return f"{self.objecttype}.{self.definition.name}"

    @property
    def type(self) -> str:
        return self.definition.type

    @property
    def multiple(self) -> bool:
        return self.definition.multiple

    @property
    def searchable_text(self) -> bool:
        return self.definition.type in TEXT_TYPES

    @property
    def indexed_value(self) -> bool:
        return self.definition.type in INDEXED_TYPES


@dataclass(frozen=True)
class Actor:
    """A user of the data model as writes and searches see it."""

    id: int
    name: str
    root: bool
    purge: bool


@dataclass(frozen=True)
class Catalog:
    model: DataModel
    objecttype_ids: Mapping[str, int]
    field_ids: Mapping[tuple[str, str], int]

    @cached_property
    def fields(self) -> dict[str, FieldInfo]:
        """By qualified name, `images.title`."""
        found: dict[str, FieldInfo] = {}
        for ot in self.model.objecttypes:
            for definition in ot.fields:
                info = FieldInfo(
                    self.field_ids[ot.name, definition.name],
                    ot.name,
                    self.objecttype_ids[ot.name],
                    definition,
                )
                found[info.qualified] = info
        return found

    @cached_property
    def objecttype_names(self) -> dict[int, str]:
        return {ident: name for name, ident in self.objecttype_ids.items()}

    def fields_of(self, objecttype: str) -> dict[str, FieldInfo]:
        """The objecttype's fields by name (cached: indexing asks once per object)."""
        return self._by_objecttype.get(objecttype, {})

    @cached_property
    def _by_objecttype(self) -> dict[str, dict[str, FieldInfo]]:
        found: dict[str, dict[str, FieldInfo]] = {}
        for info in self.fields.values():
            found.setdefault(info.objecttype, {})[info.name] = info
        return found

    def field(self, objecttype: str, name: str) -> FieldInfo | None:
        return self.fields.get(f"{objecttype}.{name}")

    def text_fields(self, objecttypes: Iterable[str]) -> list[FieldInfo]:
        wanted = set(objecttypes)
        return [f for f in self.fields.values() if f.objecttype in wanted and f.searchable_text]

    @cached_property
    def has_tags(self) -> dict[str, bool]:
        return {ot.name: ot.has_tags for ot in self.model.objecttypes}

    def actor(self, name: str) -> Actor:
        """The user `name` with the system rights that matter to the store (UnknownUser)."""
        user = self.model.user_names.get(name)
        if user is None:
            raise UnknownUser(name)
        rights = self.model.system_rights(name)
        root = "system.root" in rights
        return Actor(user.id, name, root, root or "system.purge" in rights)
