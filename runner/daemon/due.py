"""When each task is next due: a heap, so that a tick looks only at the tasks that are due.

Changing a task's time leaves its old heap entry behind; entries that no longer match the
task's current time are skipped when they reach the top, and the heap is rebuilt when they
outnumber the live ones.
"""

from __future__ import annotations

import heapq
from datetime import datetime


class DueQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._due)

    def set(self, task_id: str, when: datetime | None) -> None:
        """The task is next due at `when` (None: not until its spec changes)."""
        if when is None:
            self._due.pop(task_id, None)
            return
        stamp = when.timestamp()
        if self._due.get(task_id) == stamp:
            return
        self._due[task_id] = stamp
        heapq.heappush(self._heap, (stamp, task_id))
        if len(self._heap) > 2 * len(self._due) + 64:
            self._heap = [(stamp, task) for task, stamp in self._due.items()]
            heapq.heapify(self._heap)

    def when(self, task_id: str) -> float | None:
        """The POSIX time at which the task is due, if it is queued."""
        return self._due.get(task_id)

    def pop_due(self, now: datetime) -> list[str]:
        """The tasks due at or before `now`, taken out of the queue."""
        limit = now.timestamp()
        due = []
        while self._heap and self._heap[0][0] <= limit:
            stamp, task_id = heapq.heappop(self._heap)
            if self._due.get(task_id) == stamp:
                del self._due[task_id]
                due.append(task_id)
        return due

    def first(self) -> tuple[float, str] | None:
        """(POSIX time, task id) of the soonest due task."""
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else None
