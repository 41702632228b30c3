"""delete_objects: move the selected objects to the trash (default), or purge them for good."""

from __future__ import annotations

from typing import Any

from runner.modules.base import SET_BASED_BATCH_SIZE, BatchOutcome, RunContext
from runner.spec.task import DeleteObjectsTask


class DeleteObjects:
    batch_size = SET_BASED_BATCH_SIZE

    def start(self, ctx: RunContext) -> None:
        return None

    def apply(self, ctx: RunContext, ids: list[int]) -> BatchOutcome:
        assert isinstance(ctx.spec, DeleteObjectsTask)
        write = ctx.store.purge if ctx.spec.params.mode == "purge" else ctx.store.trash
        result = write(ids, user=ctx.user, now=ctx.now(), run_id=ctx.run_id, dry_run=ctx.dry_run)
        return BatchOutcome.of(result)

    def finish(self, ctx: RunContext) -> dict[str, Any]:
        return {}
