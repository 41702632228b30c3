"""set_unset_tags: set and unset tags, named by id or reference, on the selected objects."""

from __future__ import annotations

from typing import Any

from runner.modules.base import SET_BASED_BATCH_SIZE, BatchOutcome, ModuleError, RunContext
from runner.spec.datamodel import DataModel
from runner.spec.task import SetUnsetTagsTask, TagChange


def resolve_tags(model: DataModel, changes: list[TagChange]) -> tuple[list[int], list[int]]:
    """(ids to set, ids to unset); an unknown id or reference is a ModuleError."""
    to_set: list[int] = []
    to_unset: list[int] = []
    for change in changes:
        if change.id is not None:
            if change.id not in model.tags_by_id:
                raise ModuleError(f"no tag with _id {change.id} in the store's data model")
            tag_id = change.id
        else:
            found = model.tags_by_reference.get(change.reference or "")
            if found is None:
                raise ModuleError(f"no tag with reference '{change.reference}' in the store")
            tag_id = found[1].id
        (to_set if change.set else to_unset).append(tag_id)
    return to_set, to_unset


class SetUnsetTags:
    batch_size = SET_BASED_BATCH_SIZE

    def __init__(self) -> None:
        self.to_set: list[int] = []
        self.to_unset: list[int] = []

    def start(self, ctx: RunContext) -> None:
        assert isinstance(ctx.spec, SetUnsetTagsTask)
        self.to_set, self.to_unset = resolve_tags(ctx.store.model, ctx.spec.params.tags)

    def apply(self, ctx: RunContext, ids: list[int]) -> BatchOutcome:
        result = ctx.store.set_tags(
            ids,
            self.to_set,
            self.to_unset,
            user=ctx.user,
            now=ctx.now(),
            run_id=ctx.run_id,
            dry_run=ctx.dry_run,
        )
        return BatchOutcome.of(result)

    def finish(self, ctx: RunContext) -> dict[str, Any]:
        return {}
