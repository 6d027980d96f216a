"""Forwarded calls counted per station in 5-minute slots.

Each process keeps its own counts in memory and writes them as absolute numbers to a document of
its own per (slot, station): an upsert that no other process contends for, so a retry or a
re-write is harmless and no ETag loop is needed. Writes are coalesced: a call that finds a write
in progress leaves its count to that writer, so under load there is about one write per
round-trip time, not one per call. A crash loses at most the counts not written yet; the
manager sums the documents of every process.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.platform.errors import DependencyError
from shared.standin.models import CallOutcome
from shared.standin.rules import slot_of
from shared.standin.store import StandInStore, stats_key

logger = logging.getLogger(__name__)

KEEP = timedelta(minutes=40)
"""How long a process keeps a slot's counts in memory after it was written."""


class Traffic:
    def __init__(self, store: StandInStore, *, instance: str | None = None) -> None:
        self._store = store
        self.instance = instance or uuid.uuid4().hex[:12]
        self._counts: dict[tuple[str, str], Counter[str]] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._writing = False

    async def record(self, station_id: str, outcome: CallOutcome, *, now: datetime) -> None:
        key = (slot_of(now).isoformat(), station_id)
        self._counts.setdefault(key, Counter())[outcome] += 1
        self._dirty.add(key)
        if not self._writing:
            await self.flush(now=now)

    async def flush(self, *, now: datetime) -> None:
        """Write every changed count (the writer loops until nothing is left to write)."""
        if self._writing:
            return
        self._writing = True
        try:
            while self._dirty:
                keys, self._dirty = self._dirty, set()
                try:
                    for key in keys:
                        await self._write(key)
                except DependencyError as error:
                    self._dirty |= keys
                    logger.warning("traffic counts not written yet: %s", error)
                    return
            self._forget(before=now - KEEP)
        finally:
            self._writing = False

    async def _write(self, key: tuple[str, str]) -> None:
        slot, station = key
        doc_id, pk = stats_key(slot, station, self.instance)
        await self._store.upsert(
            {
                "id": doc_id,
                "pk": pk,
                "kind": "stats",
                "slot": slot,
                "station": station,
                "instance": self.instance,
                "counts": dict(self._counts[key]),
            }
        )

    def _forget(self, *, before: datetime) -> None:
        cutoff = slot_of(before).isoformat()
        for key in [k for k in self._counts if k[0] < cutoff and k not in self._dirty]:
            del self._counts[key]


def by_station(documents: Iterable[Mapping[str, Any]]) -> dict[str, dict[datetime, Counter[str]]]:
    """Stats documents (of every process) summed: station -> slot start -> counts."""
    summed: dict[str, dict[datetime, Counter[str]]] = {}
    for doc in documents:
        slots = summed.setdefault(str(doc["station"]), {})
        counts = slots.setdefault(datetime.fromisoformat(doc["slot"]), Counter())
        counts.update({str(k): int(v) for k, v in (doc.get("counts") or {}).items()})
    return summed
