"""What a write does with each id it is given: backend-neutral decisions on classified ids.

A backend classifies the ids of a call in one query (exists, trashed, has tags, permitted);
these functions decide which ids the write changes and build the `WriteResult` for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from runner.spec.datamodel import DataModel
from runner.store.base import RunChange, Skipped, WriteResult
from runner.store.errors import InvalidChange
from runner.store.records import choice_conflicts, unknown_tags


@dataclass(frozen=True)
class Target:
    """An id given to a write, as one query classified it."""

    id: int
    exists: bool
    trashed: bool
    has_tags: bool
    permitted: bool


def refused(targets: list[Target]) -> tuple[tuple[int, ...], tuple[Skipped, ...]]:
    """The ids the user lacks the right for, and those that do not exist."""
    denied = tuple(t.id for t in targets if t.exists and not t.permitted)
    return denied, tuple(Skipped(t.id, "missing") for t in targets if not t.exists)


def live(targets: list[Target], *, need_tags: bool) -> tuple[list[int], WriteResult]:
    """The objects a write to live objects may change, and the result for the others."""
    denied, missing = refused(targets)
    skipped = list(missing)
    changeable = []
    for t in targets:
        if not t.exists or not t.permitted:
            continue
        if t.trashed:
            skipped.append(Skipped(t.id, "trashed"))
        elif need_tags and not t.has_tags:
            skipped.append(Skipped(t.id, "no_tags"))
        else:
            changeable.append(t.id)
    return changeable, WriteResult((), (), denied, tuple(sorted(skipped, key=lambda s: s.id)))


def finished(base: WriteResult, changed: list[int], candidates: list[int]) -> WriteResult:
    """`base` with the changed ids, and the other candidates as unchanged."""
    done = set(changed)
    unchanged = tuple(i for i in candidates if i not in done)
    return WriteResult(tuple(changed), unchanged, base.denied, base.skipped)


def tag_plan(
    model: DataModel, setting: list[int], unsetting: list[int]
) -> tuple[list[int], list[int]]:
    """The tags `set_tags` adds and removes: setting a `choice` tag removes its group's others.
    Raises InvalidChange for unknown tags and contradictions."""
    problems = unknown_tags(model, [*setting, *unsetting]) + choice_conflicts(model, setting)
    both = sorted(set(setting) & set(unsetting))
    problems += [f"tag {tag} is both set and unset" for tag in both]
    if problems:
        raise InvalidChange("cannot change tags: " + "; ".join(problems))
    removing = set(unsetting)
    for tag in setting:
        group = model.tags_by_id[tag][0]
        if group.type == "choice":
            removing.update(t.id for t in group.tags)
    return setting, sorted(removing - set(setting))


LEFT_ALONE_AS_RESULT = {"unchanged", "denied"}


def written(changed: list[int], left: list[tuple[int, str]]) -> WriteResult:
    """The result of a write that changed `changed` and left the ids of `left` alone, each with
    its reason: `unchanged`, `denied`, or that of a Skipped; both lists sorted by id."""
    unchanged = tuple(i for i, reason in left if reason == "unchanged")
    denied = tuple(i for i, reason in left if reason == "denied")
    skipped = tuple(Skipped(i, r) for i, r in left if r not in LEFT_ALONE_AS_RESULT)
    return WriteResult(tuple(changed), unchanged, denied, skipped)


@dataclass(frozen=True)
class Current:
    """An object's state as `revert` needs it: its version, and whether it and the version
    to return to are trashed (None: that version is not kept)."""

    version: int
    trashed: bool
    target_trashed: bool | None


def revert_plan(
    changes: Mapping[int, RunChange], current: Mapping[int, Current]
) -> tuple[dict[int, str], list[Skipped]]:
    """Per object: the changelog operation that puts it back, or why it is left alone."""
    plan: dict[int, str] = {}
    skipped = []
    for object_id, change in sorted(changes.items()):
        found = current.get(object_id)
        reason = _revert_blocked(change, found)
        if reason is not None:
            skipped.append(Skipped(object_id, reason))
            continue
        assert found is not None and found.target_trashed is not None
        if found.trashed == found.target_trashed:
            plan[object_id] = "update"
        else:
            plan[object_id] = "delete" if found.target_trashed else "restore"
    return plan, skipped


def _revert_blocked(change: RunChange, found: Current | None) -> str | None:
    if found is None:
        return "missing"
    if change.version_before < 1:
        return "inserted"
    if found.version != change.version_after:
        return "changed_since_run"
    if found.target_trashed is None:
        return "no_version"
    return None
