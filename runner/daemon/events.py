"""What the daemon says about itself: one JSON object per line (on stderr by default)."""

from __future__ import annotations

import json
import sys
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any

from runner.runs.ids import iso_ms

SEEN = 10_000


class EventSink:
    def __init__(
        self, daemon_id: str, now: Callable[[], datetime], stream: IO[str] | None = None
    ) -> None:
        self.daemon_id = daemon_id
        self._now = now
        self._stream = stream or sys.stderr
        self._lock = threading.Lock()
        # the latest events, for tests: a daemon that runs for months must not keep them all
        self.seen: deque[dict[str, Any]] = deque(maxlen=SEEN)

    def emit(self, event: str, msg: str, level: str = "info", **extra: Any) -> None:
        line = {
            "ts": iso_ms(self._now()),
            "daemon": self.daemon_id,
            "level": level,
            "event": event,
            "msg": msg,
        }
        line.update({k: v for k, v in extra.items() if v is not None})
        with self._lock:
            self.seen.append(line)
            self._stream.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
            self._stream.flush()
