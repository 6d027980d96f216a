"""The one dev clock: system time plus an offset that only the dev host changes.

The offset lives in a small JSON file (``{"offsetMs": n}``) so the other local processes (the
broker's scheduled messages, the simulators, ``make token``) follow the same clock. It is never
a setting of the app.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

_RECENT_NS = 2_000_000_000


def read_offset_ms(path: Path | None) -> int:
    if path is None:
        return 0
    try:
        return int(json.loads(path.read_text())["offsetMs"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


class DevClock:
    """A :class:`shared.platform.clock.Clock` whose offset is shared through ``path``."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._where = os.fspath(path) if path is not None else ""
        self._offset_ms = read_offset_ms(path)
        self._seen = self._stat()

    def _stat(self) -> tuple[int, int]:
        try:  # os.stat on a str: pathlib's stat costs a few us more, on every now()
            found = os.stat(self._where) if self._where else None
        except OSError:
            return (0, 0)
        return (found.st_mtime_ns, found.st_ino) if found is not None else (0, 0)

    def _refresh(self) -> None:
        # Two writes within one tick of the file system's coarse clock leave the same mtime, and
        # a reader that saw the first would keep its offset for good (a simulator minutes away
        # from the host refuses its signatures). So the inode (each write is a new file) is
        # compared too, and a file written in the last two seconds is read again on every call.
        seen = self._stat()
        if seen != self._seen or time.time_ns() - seen[0] < _RECENT_NS:
            self._seen = seen
            self._offset_ms = read_offset_ms(self.path)

    def now(self) -> datetime:
        self._refresh()
        return datetime.now(UTC) + timedelta(milliseconds=self._offset_ms)

    @property
    def offset_ms(self) -> int:
        self._refresh()
        return self._offset_ms

    def set_offset(self, offset_ms: int) -> None:
        self._offset_ms = int(offset_ms)
        if self.path is not None:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".clock-")
            with os.fdopen(fd, "w") as handle:
                json.dump({"offsetMs": self._offset_ms}, handle)
            os.replace(tmp, self.path)
            self._seen = self._stat()

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("the dev clock needs an aware datetime")
        self.set_offset(round((when - datetime.now(UTC)).total_seconds() * 1000))

    def advance(self, seconds: float) -> None:
        self.set_offset(self.offset_ms + round(seconds * 1000))
