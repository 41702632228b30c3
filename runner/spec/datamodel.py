"""datamodel.yaml (DESIGN section 6): objecttypes, pools, tags, users, groups and grants.

The model validates shape; `check_datamodel` checks references between its parts.
`DataModel` answers the questions other layers ask: which fields exist, which tag has a
reference, what rights a user holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr, model_validator

from runner.spec.diagnostics import Collector, suggest
from runner.spec.types import STRICT_FROZEN, Name, OneLine, Version
from runner.spec.yamlsafe import Path

FieldType = Literal["text", "string", "number", "date", "boolean", "file"]
SystemRight = Literal["system.task", "system.purge", "system.root"]
Right = Literal["read", "write", "delete"]
IDENT = r"^[a-z][a-z0-9_]*$"
Ident = Annotated[StrictStr, Field(pattern=IDENT)]
Id = Annotated[StrictInt, Field(ge=1)]
RIGHT_ORDER: dict[str, int] = {"read": 1, "write": 2, "delete": 3}


class FieldDef(BaseModel):
    model_config = STRICT_FROZEN
    name: Ident
    type: FieldType
    multiple: StrictBool = False


class ObjectType(BaseModel):
    model_config = STRICT_FROZEN
    name: Ident
    has_tags: StrictBool = True
    fields: list[FieldDef] = Field(default_factory=list)

    def field(self, name: str) -> FieldDef | None:
        return next((f for f in self.fields if f.name == name), None)


class Pool(BaseModel):
    model_config = STRICT_FROZEN
    id: Id = Field(alias="_id")
    name: Name
    children: list[Pool] = Field(default_factory=list)


class TagDef(BaseModel):
    model_config = STRICT_FROZEN
    id: Id = Field(alias="_id")
    reference: Name
    name: OneLine


class TagGroup(BaseModel):
    model_config = STRICT_FROZEN
    name: Name
    type: Literal["checkbox", "choice"]
    tags: list[TagDef] = Field(min_length=1)


class User(BaseModel):
    model_config = STRICT_FROZEN
    id: Id = Field(alias="_id")
    name: Name
    email: StrictStr | None = None
    system_rights: list[SystemRight] = Field(default_factory=list)
    groups: list[Name] = Field(default_factory=list)


class Group(BaseModel):
    model_config = STRICT_FROZEN
    name: Name
    system_rights: list[SystemRight] = Field(default_factory=list)


class Grant(BaseModel):
    """Rights for a user or group on a pool (and its sub-pools) or on an objecttype."""

    model_config = STRICT_FROZEN
    user: Name | None = None
    group: Name | None = None
    rights: list[Right] = Field(min_length=1)
    pool: Name | None = None
    objecttype: Ident | None = None

    @model_validator(mode="after")
    def _one_each(self) -> Grant:
        if (self.user is None) == (self.group is None):
            raise ValueError("a grant names exactly one of 'user' or 'group'")
        if (self.pool is None) == (self.objecttype is None):
            raise ValueError("a grant is on exactly one of 'pool' or 'objecttype'")
        return self

    @property
    def level(self) -> int:
        """delete implies write implies read: the strongest right given."""
        return max(RIGHT_ORDER[r] for r in self.rights)


class DataModel(BaseModel):
    model_config = STRICT_FROZEN
    version: Version = 1
    objecttypes: list[ObjectType] = Field(min_length=1)
    pools: list[Pool] = Field(min_length=1)
    tag_groups: list[TagGroup] = Field(default_factory=list)
    users: list[User] = Field(min_length=1)
    groups: list[Group] = Field(default_factory=list)
    grants: list[Grant] = Field(default_factory=list)

    @cached_property
    def objecttype_names(self) -> dict[str, ObjectType]:
        return {ot.name: ot for ot in self.objecttypes}

    @cached_property
    def user_names(self) -> dict[str, User]:
        return {u.name: u for u in self.users}

    @cached_property
    def tags_by_id(self) -> dict[int, tuple[TagGroup, TagDef]]:
        return {t.id: (g, t) for g in self.tag_groups for t in g.tags}

    @cached_property
    def tags_by_reference(self) -> dict[str, tuple[TagGroup, TagDef]]:
        return {t.reference: (g, t) for g in self.tag_groups for t in g.tags}

    def pool_entries(self) -> Iterator[tuple[Pool, Pool | None, Path]]:
        """Every pool with its parent and its path in the file, parents first."""
        stack: list[tuple[Pool, Pool | None, Path]] = [
            (p, None, ("pools", i)) for i, p in reversed(list(enumerate(self.pools)))
        ]
        while stack:
            pool, parent, path = stack.pop()
            yield pool, parent, path
            children = reversed(list(enumerate(pool.children)))
            stack.extend((child, pool, (*path, "children", j)) for j, child in children)

    def system_rights(self, user_name: str) -> set[str]:
        user = self.user_names.get(user_name)
        if user is None:
            return set()
        groups = {g.name: g for g in self.groups}
        rights: set[str] = set(user.system_rights)
        for group in user.groups:
            if group in groups:
                rights.update(groups[group].system_rights)
        return rights

    def field_type(self, name: str) -> str | None:
        """The type of a searchable field (system or `<ot>.<field>`), None when unknown."""
        if name in SYSTEM_FIELDS:
            return SYSTEM_FIELDS[name]
        objecttype, _, rest = name.partition(".")
        ot = self.objecttype_names.get(objecttype)
        if ot is None or not rest:
            return None
        if rest in OBJECTTYPE_SYSTEM_FIELDS:
            return OBJECTTYPE_SYSTEM_FIELDS[rest]
        defined = ot.field(rest)
        return defined.type if defined else None

    def field_names(self) -> list[str]:
        names = list(SYSTEM_FIELDS)
        for ot in self.objecttypes:
            names += [f"{ot.name}.{f}" for f in OBJECTTYPE_SYSTEM_FIELDS]
            names += [f"{ot.name}.{f.name}" for f in ot.fields]
        return names


SYSTEM_FIELDS: dict[str, str] = {
    "_system_object_id": "number",
    "_global_object_id": "string",
    "_uuid": "string",
    "_objecttype": "string",
    "_tags._id": "number",
    "_owner.user._id": "number",
    "_last_modified": "date",
    "_changelog.date_created": "date",
}
OBJECTTYPE_SYSTEM_FIELDS: dict[str, str] = {
    "_id": "number",
    "_pool.pool._id": "number",
    "_pool._path.pool._id": "number",
}


def check_datamodel(model: DataModel, out: Collector) -> None:
    """References and uniqueness inside datamodel.yaml, all collected."""
    ots = model.objecttypes
    _unique(out, "objecttype", [(("objecttypes", i, "name"), ot.name) for i, ot in enumerate(ots)])
    for i, ot in enumerate(ots):
        entries = [
            (("objecttypes", i, "fields", j, "name"), f.name) for j, f in enumerate(ot.fields)
        ]
        _unique(out, "field", entries)
    pools = list(model.pool_entries())
    _unique(out, "pool name", [((*path, "name"), p.name) for p, _, path in pools])
    _unique(out, "pool _id", [((*path, "_id"), p.id) for p, _, path in pools])
    tags = [
        (("tag_groups", i, "tags", j), t)
        for i, g in enumerate(model.tag_groups)
        for j, t in enumerate(g.tags)
    ]
    _unique(out, "tag _id", [((*path, "_id"), t.id) for path, t in tags])
    _unique(out, "tag reference", [((*path, "reference"), t.reference) for path, t in tags])
    groups = enumerate(model.tag_groups)
    _unique(out, "tag group", [(("tag_groups", i, "name"), g.name) for i, g in groups])
    users = list(enumerate(model.users))
    _unique(out, "user", [(("users", i, "name"), u.name) for i, u in users])
    _unique(out, "user _id", [(("users", i, "_id"), u.id) for i, u in users])
    _unique(out, "group", [(("groups", i, "name"), g.name) for i, g in enumerate(model.groups)])
    group_names = {g.name for g in model.groups}
    for i, user in users:
        for j, group in enumerate(user.groups):
            if group not in group_names:
                out.error(("users", i, "groups", j), f"unknown group '{group}'")
    _check_grants(model, out, group_names, {p.name for p, _, _ in pools})


def _check_grants(model: DataModel, out: Collector, groups: set[str], pools: set[str]) -> None:
    users = set(model.user_names)
    for i, grant in enumerate(model.grants):
        checks = [
            ("user", grant.user, users),
            ("group", grant.group, groups),
            ("pool", grant.pool, pools),
            ("objecttype", grant.objecttype, set(model.objecttype_names)),
        ]
        for key, value, known in checks:
            if value is not None and value not in known:
                out.error(("grants", i, key), f"unknown {key} '{value}'" + suggest(value, known))


def _unique(out: Collector, what: str, entries: Sequence[tuple[Path, object]]) -> None:
    seen: set[object] = set()
    for path, name in entries:
        if name in seen:
            out.error(path, f"duplicate {what} '{name}'")
        seen.add(name)
