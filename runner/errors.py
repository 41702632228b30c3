"""The one exception root. The CLI maps these to exit codes; messages name what is involved."""

from __future__ import annotations


class RunnerError(Exception):
    """A failure the user can act on; its message is shown without a traceback."""

    exit_code = 1


class UsageError(RunnerError):
    """Bad flags or arguments (exit code 2)."""

    exit_code = 2


class TaskNotFound(RunnerError):
    def __init__(self, task: str, tasks_dir: str) -> None:
        super().__init__(f"no task '{task}' in {tasks_dir}/")
        self.task = task


class InvalidFile(RunnerError):
    """A file the command needs did not validate; `diagnostics` says why."""

    def __init__(self, path: str, diagnostics: list[object]) -> None:
        first = diagnostics[0] if diagnostics else None
        super().__init__(f"{path} is invalid: {first}" if first else f"{path} is invalid")
        self.path = path
        self.diagnostics = diagnostics


class ConfigError(RunnerError):
    """runner.yaml could not be found, read or validated."""
