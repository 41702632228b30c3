"""What the PostgreSQL store and state share: connections, and the fence between them.

Both live in one database (the DSN of `runner.yaml`; several replicas point at the same one).
The state's runs table is also the fencing token of the store's writes: a write attributed to
a run (`run_id`) that the state knows commits only while that run is still `running` under a
lease that has not expired by the database's clock, and it holds the run's row `FOR SHARE`
until it commits, so a replica taking over (which closes the run, an UPDATE of that row) waits
for it, and a replica whose lease was taken meanwhile (paused, partitioned) has its write
rejected (`LeaseLost`) instead of changing objects a second time. Writes without a run, or
with a run the state does not know (the state is elsewhere, or `runner store` commands), are
not fenced.
"""

from __future__ import annotations

from runner.errors import RunnerError

# The state's runs table (runner/state/postgres.py creates it; the store only reads it).
RUNS_TABLE = "state_runs"

# Run in the store's write transaction, with the run id; no row back means: reject the write.
FENCE_SQL = (
    f"SELECT 1 FROM {RUNS_TABLE} WHERE run_id = %s AND status = 'running'"
    " AND lease_expires > now() FOR SHARE"
)
# Whether the run is one the state knows at all (unknown runs are not fenced).
KNOWN_RUN_SQL = f"SELECT 1 FROM {RUNS_TABLE} WHERE run_id = %s"


class LeaseLost(RunnerError):
    """A write of a run whose lease expired or was taken over by another replica."""

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"run {run_id} no longer holds its lease (expired or taken over by another"
            " replica); its write was rejected"
        )
        self.run_id = run_id


class SchemaOutdated(RunnerError):
    """A database whose schema is older (or newer) than this runner's; says what to run."""

    def __init__(self, what: str, found: int, wanted: int, command: str) -> None:
        if found > wanted:
            message = (
                f"the {what} schema in PostgreSQL is at version {found}, newer than this"
                f" runner knows ({wanted}); upgrade runner"
            )
        else:
            message = (
                f"the {what} schema in PostgreSQL is at version {found}, this runner needs"
                f" {wanted}: run `{command}`"
            )
        super().__init__(message)
        self.found = found
        self.wanted = wanted
