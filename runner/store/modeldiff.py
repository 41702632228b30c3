"""What changes between two data models, and which changes could destroy stored data.

Objecttypes and fields are matched by name, pools, tags and users by `_id`, groups by name.
A change is *destructive* when stored objects use what it removes or reinterprets: removing an
objecttype, field, pool, tag or user that objects use; changing a used field's type or
`multiple`; turning off `has_tags` where objects carry tags; making a tag group a `choice`
(or moving tags into one) where an object carries two of its tags. Whether objects use
something is the backend's question (`Usage`); this module lists what to ask and explains.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from runner.spec.datamodel import DataModel, FieldDef, TagGroup, check_datamodel
from runner.spec.diagnostics import Collector, Severity
from runner.store.base import ModelChange


@dataclass(frozen=True)
class ModelDiff:
    changes: tuple[ModelChange, ...]
    removed_objecttypes: tuple[str, ...] = ()
    untagged_objecttypes: tuple[str, ...] = ()
    reshaped_fields: tuple[tuple[str, str], ...] = ()  # (objecttype.field, what changes)
    removed_pools: tuple[int, ...] = ()
    removed_tags: tuple[int, ...] = ()
    removed_users: tuple[int, ...] = ()
    choice_groups: tuple[tuple[str, tuple[int, ...]], ...] = ()  # groups to check, with tags


@dataclass(frozen=True)
class Usage:
    """How many objects (trash included) use each thing a diff removes or reshapes."""

    objecttypes: dict[str, int] = field(default_factory=dict)
    tagged: dict[str, int] = field(default_factory=dict)
    fields: dict[str, int] = field(default_factory=dict)
    pools: dict[int, int] = field(default_factory=dict)
    tags: dict[int, int] = field(default_factory=dict)
    owners: dict[int, int] = field(default_factory=dict)
    crowded_groups: dict[str, int] = field(default_factory=dict)


def measure_usage(
    diff: ModelDiff, objecttype_ids: Mapping[str, int], count: Callable[..., int]
) -> Usage:
    """The `Usage` of what a diff removes or reshapes, by one backend query per thing:
    `count(kind, *args)` with the kinds `objecttype` and `tagged` (objecttype id), `field`
    (objecttype id, field name), `pool`, `tag`, `owner` (an id) and `crowded` (a group's tag
    ids: objects holding more than one of them)."""
    fields = [
        (name, *name.split(".", 1))
        for name, _ in diff.reshaped_fields
        if name.split(".")[0] not in diff.removed_objecttypes
    ]
    ots = objecttype_ids
    return Usage(
        {n: count("objecttype", ots[n]) for n in diff.removed_objecttypes},
        {n: count("tagged", ots[n]) for n in diff.untagged_objecttypes},
        {q: count("field", ots[ot], f) for q, ot, f in fields},
        {p: count("pool", p) for p in diff.removed_pools},
        {t: count("tag", t) for t in diff.removed_tags},
        {u: count("owner", u) for u in diff.removed_users},
        {g: count("crowded", list(t)) for g, t in diff.choice_groups},
    )


def model_problems(model: DataModel) -> list[str]:
    """References inside the model that do not resolve (a model not loaded from a file)."""
    out = Collector()
    check_datamodel(model, out)
    return [f"{d.loc}: {d.message}" for d in out.resolve(None) if d.severity is Severity.ERROR]


def diff_models(old: DataModel | None, new: DataModel) -> ModelDiff:
    if old is None:
        return ModelDiff((ModelChange("added", "data model", "all", _summary(new)),))
    changes: list[ModelChange] = []
    removed_ots, untagged, reshaped = _objecttypes(old, new, changes)
    removed_pools = _pools(old, new, changes)
    removed_tags, choice_groups = _tags(old, new, changes)
    removed_users = _users(old, new, changes)
    _simple(changes, "group", {g.name: g for g in old.groups}, {g.name: g for g in new.groups})
    if old.grants != new.grants:
        changes.append(ModelChange("changed", "grants", "all", f"{len(new.grants)} grants"))
    return ModelDiff(
        tuple(changes),
        removed_ots,
        untagged,
        reshaped,
        removed_pools,
        removed_tags,
        removed_users,
        choice_groups,
    )


def destructive_reasons(diff: ModelDiff, old: DataModel, usage: Usage) -> list[str]:
    """Every reason the change would destroy data, with counts; empty when it is safe."""
    reshaped = dict(diff.reshaped_fields)
    pools = {pool.id: pool.name for pool, _, _ in old.pool_entries()}
    tags = {t.id: t.reference for g in old.tag_groups for t in g.tags}
    users = {u.id: u.name for u in old.users}
    found: list[tuple[str, int]] = [
        (f"objecttype '{k}' is removed, but the store holds {{}} of it (trash included)", n)
        for k, n in usage.objecttypes.items()
    ]
    found += [
        (f"objecttype '{k}' would have no tags, but tags are set on {{}} of it", n)
        for k, n in usage.tagged.items()
    ]
    found += [
        (f"field '{k}' {reshaped[k]}, but it has values in {{}}", n)
        for k, n in usage.fields.items()
    ]
    found += [
        (f"pool '{pools[k]}' (_id {k}) is removed, but it holds {{}}", n)
        for k, n in usage.pools.items()
    ]
    found += [
        (f"tag {k} '{tags[k]}' is removed, but it is set on {{}}", n) for k, n in usage.tags.items()
    ]
    found += [
        (f"user '{users[k]}' (_id {k}) is removed, but it owns {{}}", n)
        for k, n in usage.owners.items()
    ]
    found += [
        (
            f"tag group '{k}' would be a choice group (one tag per object), but more than one"
            " of its tags is set on {}",
            n,
        )
        for k, n in usage.crowded_groups.items()
    ]
    return [template.format(_objects(n)) for template, n in found if n]


def _objects(count: int) -> str:
    return f"{count} object" + ("" if count == 1 else "s")


def _summary(model: DataModel) -> str:
    pools = sum(1 for _ in model.pool_entries())
    tags = sum(len(g.tags) for g in model.tag_groups)
    return (
        f"{len(model.objecttypes)} objecttypes, {pools} pools, {tags} tags, "
        f"{len(model.users)} users, {len(model.grants)} grants"
    )


def _objecttypes(
    old: DataModel, new: DataModel, changes: list[ModelChange]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
    before, after = old.objecttype_names, new.objecttype_names
    removed = tuple(name for name in before if name not in after)
    changes += [ModelChange("removed", "objecttype", name) for name in removed]
    changes += [ModelChange("added", "objecttype", name) for name in after if name not in before]
    untagged: list[str] = []
    reshaped: list[tuple[str, str]] = []
    for name in (n for n in after if n in before):
        was, now = before[name], after[name]
        if was.has_tags != now.has_tags:
            changes.append(ModelChange("changed", "objecttype", name, f"has_tags {now.has_tags}"))
            if not now.has_tags:
                untagged.append(name)
        reshaped += _fields(name, was.fields, now.fields, changes)
    return removed, tuple(untagged), tuple(reshaped)


def _fields(
    objecttype: str, old: list[FieldDef], new: list[FieldDef], changes: list[ModelChange]
) -> list[tuple[str, str]]:
    before, after = {f.name: f for f in old}, {f.name: f for f in new}
    reshaped = []
    for name, was in before.items():
        qualified = f"{objecttype}.{name}"
        now = after.get(name)
        if now is None:
            changes.append(ModelChange("removed", "field", qualified))
            reshaped.append((qualified, "is removed"))
        elif now.type != was.type:
            changes.append(ModelChange("changed", "field", qualified, f"{was.type} -> {now.type}"))
            reshaped.append((qualified, f"changes type from {was.type} to {now.type}"))
        elif now.multiple != was.multiple:
            changes.append(ModelChange("changed", "field", qualified, f"multiple {now.multiple}"))
            reshaped.append((qualified, f"changes multiple to {str(now.multiple).lower()}"))
    changes += [
        ModelChange("added", "field", f"{objecttype}.{name}", after[name].type)
        for name in after
        if name not in before
    ]
    return reshaped


def _pools(old: DataModel, new: DataModel, changes: list[ModelChange]) -> tuple[int, ...]:
    def shape(model: DataModel) -> dict[int, tuple[str, int | None]]:
        return {
            p.id: (p.name, parent.id if parent else None) for p, parent, _ in model.pool_entries()
        }

    before, after = shape(old), shape(new)
    removed = tuple(ident for ident in before if ident not in after)
    changes += [ModelChange("removed", "pool", f"{before[i][0]} (_id {i})") for i in removed]
    for ident, (name, parent) in after.items():
        if ident not in before:
            changes.append(ModelChange("added", "pool", f"{name} (_id {ident})"))
        elif before[ident] != (name, parent):
            changes.append(
                ModelChange(
                    "changed",
                    "pool",
                    f"{name} (_id {ident})",
                    _moved(before[ident], (name, parent)),
                )
            )
    return removed


def _moved(was: tuple[str, int | None], now: tuple[str, int | None]) -> str:
    parts = []
    if was[0] != now[0]:
        parts.append(f"renamed from {was[0]}")
    if was[1] != now[1]:
        parts.append(f"parent {now[1]}")
    return ", ".join(parts)


def _tags(
    old: DataModel, new: DataModel, changes: list[ModelChange]
) -> tuple[tuple[int, ...], tuple[tuple[str, tuple[int, ...]], ...]]:
    before, after = old.tags_by_id, new.tags_by_id
    removed = tuple(tag for tag in before if tag not in after)
    changes += [
        ModelChange("removed", "tag", f"{tag} {before[tag][1].reference}") for tag in removed
    ]
    for tag, (group, definition) in after.items():
        if tag not in before:
            changes.append(ModelChange("added", "tag", f"{tag} {definition.reference}", group.name))
        elif before[tag][0].name != group.name or before[tag][1] != definition:
            changes.append(
                ModelChange("changed", "tag", f"{tag} {definition.reference}", group.name)
            )
    old_groups = {g.name: g for g in old.tag_groups}
    _simple(changes, "tag group", old_groups, {g.name: g for g in new.tag_groups}, _group_shape)
    checks = tuple(
        (g.name, tuple(t.id for t in g.tags))
        for g in new.tag_groups
        if g.type == "choice" and _grows_choice(old_groups.get(g.name), g)
    )
    return removed, checks


def _grows_choice(old: TagGroup | None, new: TagGroup) -> bool:
    """A choice group whose tags could now meet on one object."""
    if old is None or old.type != "choice":
        return True
    return not {t.id for t in new.tags} <= {t.id for t in old.tags}


def _group_shape(group: TagGroup) -> object:
    return (group.type, tuple(t.id for t in group.tags))


def _users(old: DataModel, new: DataModel, changes: list[ModelChange]) -> tuple[int, ...]:
    before = {u.id: u for u in old.users}
    after = {u.id: u for u in new.users}
    removed = tuple(ident for ident in before if ident not in after)
    changes += [ModelChange("removed", "user", f"{before[i].name} (_id {i})") for i in removed]
    for ident, user in after.items():
        if ident not in before:
            changes.append(ModelChange("added", "user", f"{user.name} (_id {ident})"))
        elif before[ident] != user:
            changes.append(ModelChange("changed", "user", f"{user.name} (_id {ident})"))
    return removed


def _simple(
    changes: list[ModelChange],
    kind: str,
    before: Mapping[str, object],
    after: Mapping[str, object],
    shape: Callable[..., object] = lambda x: x,
) -> None:
    changes += [ModelChange("removed", kind, name) for name in before if name not in after]
    for name, value in after.items():
        if name not in before:
            changes.append(ModelChange("added", kind, name))
        elif shape(before[name]) != shape(value):
            changes.append(ModelChange("changed", kind, name))
