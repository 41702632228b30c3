"""A run whose process is paused past its lease, between a batch's commit and its log lines,
while another process takes the run over: the paused run writes no line after the other's
run_finished, and reports that its run was taken."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from store_support import NOW, image, load, repo_model

from runner.runs.engine import Environment, RunRequest, close_expired, execute
from runner.runs.log import read_lines
from runner.spec.task import validate_task
from runner.state.base import Counts
from runner.state.sqlite import SqliteState
from runner.store.sqlite import SqliteStore
from tests.fake_clock import FakeClock

LEASE = timedelta(seconds=60)
TAG_ALL = {
    "version": 1,
    "description": "tag every image",
    "module": "set_unset_tags",
    "run_as": "root",
    "search": {"objecttypes": ["images"]},
    "params": {"tags": [{"_id": 20, "set": True}]},
    "limits": {"batch_size": 2},
}


class PausedAfterFirstRenewal(SqliteState):
    """The run's process stops right after its lease was renewed at the end of its first batch
    (as under SIGSTOP); meanwhile the lease runs out and another process (`rival`) closes the
    run."""

    def __init__(self, path: Path, clock: FakeClock, rival: SqliteState) -> None:
        super().__init__(path)
        self.clock, self.rival = clock, rival
        self.checkpointed = self.paused = False

    def checkpoint(self, run_id: str, owner: str, *, last_id: int, counts: Counts) -> bool:
        self.checkpointed = True
        return super().checkpoint(run_id, owner, last_id=last_id, counts=counts)

    def heartbeat(self, run_id: str, owner: str, *, now: datetime, expires: datetime) -> bool:
        renewed = super().heartbeat(run_id, owner, now=now, expires=expires)
        if renewed and self.checkpointed and not self.paused:
            self.paused = True
            self.clock.advance(LEASE.total_seconds() * 2)
            assert [r.run_id for r in close_expired(self.rival, self.clock)] == [run_id]
        return renewed


def test_a_run_paused_past_its_lease_writes_nothing_after_the_takeover(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db", tmp_path / "assets")
    store.init(repo_model())
    load(store, *[image(i) for i in range(1, 7)])
    clock = FakeClock(NOW)
    rival = SqliteState(tmp_path / "state.db")
    state = PausedAfterFirstRenewal(tmp_path / "state.db", clock, rival)
    env = Environment(
        store=store,
        state=state,
        clock=clock,
        logs_dir=tmp_path / "logs",
        mappings_dir=tmp_path / "mappings",
        lease=LEASE,
    )
    try:
        outcome = execute(RunRequest("tag/all", validate_task(TAG_ALL, "tag/all")), env)
    finally:
        store.close()
        state.close()
        rival.close()

    assert outcome.lease_lost
    assert (outcome.run.status, outcome.run.reason) == ("failed", "interrupted")
    lines = read_lines(outcome.log_path)
    events = [line["event"] for line in lines]
    assert events[-1] == "run_finished" and lines[-1]["reason"] == "interrupted"
    assert events.count("run_finished") == 1
    # the first batch committed before the pause; its line would have come after it
    assert "batch_done" not in events
