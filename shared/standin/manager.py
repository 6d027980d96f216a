"""The stand-in manager: stations' modes, the 5-minute evaluation (probes, entries, exits), and
the operators' view and overrides.

A station document holds the automatic mode (what the rules decided), an optional forced mode
(an operator's, which wins until released), the last evaluation's figures, the probes of the
last hour and the history of entries and exits with their reasons.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any, Protocol

from cachetools import TTLCache

from shared.parties.models import PARTY_ID
from shared.platform.cosmos import Document
from shared.platform.errors import DependencyError, NotFound
from shared.platform.outbox import Event, add_events
from shared.platform.retry import retry_on_stale
from shared.standin import rules
from shared.standin.models import (
    EcVerifyRequest,
    Evaluation,
    ForceIn,
    HistoryEntry,
    Mode,
    Probe,
    Station,
)
from shared.standin.rules import Thresholds
from shared.standin.soapstation import probe_succeeded
from shared.standin.stations import StationCalls, Stations
from shared.standin.store import StandInStore, station_key
from shared.standin.traffic import by_station

logger = logging.getLogger(__name__)

PROBE_NOTICE = "000000000000000000"
HISTORY = 100
STATIONS_REMEMBERED = 10_000
"""Stations whose mode a process remembers at most (a bound only: they expire after ttl)."""
MAX_ATTEMPTS = 8


class Publisher(Protocol):
    def publish_soon(self, document: Document, *, only: Collection[Event] | None = None) -> None:
        """Send these events of the written document soon (the outbox's publish_soon)."""
        ...


def effective_mode(document: Document | None) -> Mode:
    if not document:
        return "NORMAL"
    forced = document.get("forced")
    mode: Mode = forced["mode"] if forced else document.get("automaticMode", "NORMAL")
    return mode


class StationStates:
    """Stations' effective modes, cached for ``ttl`` seconds per process (the gateway asks on
    every call; a change made in this process is seen at once, one made elsewhere within
    ``ttl``). The payment lock, not the mode, keeps a notice from being paid twice."""

    def __init__(
        self,
        store: StandInStore,
        *,
        ttl: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._cache: TTLCache[str, Mode, float] = TTLCache(
            STATIONS_REMEMBERED, ttl=ttl, timer=monotonic
        )

    async def mode(self, station_id: str) -> Mode:
        mode = self._cache.get(station_id)
        if mode is None:
            mode = effective_mode(await self._store.get(station_key(station_id)))
            self._cache[station_id] = mode
        return mode

    def forget(self, station_id: str) -> None:
        self._cache.pop(station_id, None)


def _new_station(station_id: str) -> Document:
    key = station_key(station_id)
    return {
        "id": key[0],
        "pk": key[1],
        "kind": "station",
        "stationId": station_id,
        "automaticMode": "NORMAL",
        "since": None,
        "forced": None,
        "lastEvaluation": None,
        "probes": [],
        "history": [],
    }


def _history(document: Document, entry: HistoryEntry) -> list[Any]:
    return [*(document.get("history") or []), entry.model_dump(mode="json", by_alias=True)][
        -HISTORY:
    ]


def view(document: Document) -> Station:
    return Station.model_validate({**document, "mode": effective_mode(document)})


class Manager:
    def __init__(
        self,
        store: StandInStore,
        stations: Stations,
        client: StationCalls,
        states: StationStates,
        rules_: Thresholds,
        journal: tuple[str, Publisher] | None = None,
    ) -> None:
        """``journal``: the journal's queue and the publisher of the stand-in's outboxes: a
        station's change of effective mode is told to the journal (which writes it in the
        journal of each EC the station acts for)."""
        self._store = store
        self._stations = stations
        self._client = client
        self._states = states
        self._rules = rules_
        self._journal = journal

    async def _update(
        self, station_id: str, change: Callable[[Document], Document | None]
    ) -> Document:
        """Apply ``change`` to the station's document (created on first use), ETag-guarded;
        ``change`` returns None for "nothing to write"."""

        told: list[Event] = []

        async def step() -> Document:
            current = await self._store.get(station_key(station_id))
            base = current or _new_station(station_id)
            updated = change(dict(base))
            if updated is None:
                return base
            told[:] = self._mode_events(station_id, base, updated)
            written = await (
                self._store.replace(updated) if current is not None else self._store.create(updated)
            )
            self._states.forget(station_id)
            return written

        busy = DependencyError("cosmos", f"station {station_id} kept changing", retry_after=1)
        written = await retry_on_stale(step, conflict=busy, attempts=MAX_ATTEMPTS)
        if told and self._journal is not None:
            self._journal[1].publish_soon(written, only=told)
        return written

    def _mode_events(self, station_id: str, base: Document, updated: Document) -> list[Event]:
        """When ``updated`` changes the station's effective mode, one event put in
        ``updated``'s outbox (the same write) with the reason and author of the history entry
        that made it. It names the station only: the journal's consumer looks up the ECs the
        station acts for, so the registry is not read inside this write."""
        after = effective_mode(updated)
        if self._journal is None or effective_mode(base) == after or not updated.get("history"):
            return []
        last = updated["history"][-1]
        type_ = "StationStandInEntered" if after == "STANDIN" else "StationStandInExited"
        at = datetime.fromisoformat(last["at"])
        data = {
            "stationId": station_id,
            "at": last["at"],
            "mode": after,
            "reason": last["reason"],
            "by": last["by"],
        }
        events = [Event.new(type_, self._journal[0], data, now=at)]
        updated["outbox"] = list(updated.get("outbox") or [])  # not the list ``base`` holds
        add_events(updated, events)
        return events

    # ------------------------------------------------------------------ the 5-minute run
    async def evaluate(self, *, now: datetime) -> list[HistoryEntry]:
        """Probe stations in stand-in, then apply the entry and exit rules; returns the
        entries and exits made."""
        slots = rules.window_slots(now, self._rules.window)
        traffic = by_station(await self._store.stats_since(slots[0].isoformat()))
        documents = {d["stationId"]: d for d in await self._store.stations()}
        changes: list[HistoryEntry] = []
        for station_id, known in documents.items():
            if known.get("automaticMode") == "STANDIN" or effective_mode(known) == "STANDIN":
                await self._probe(station_id, now=now)
        for station_id in sorted(set(traffic) | set(documents)):
            document = documents.get(station_id)
            if document is not None and document.get("automaticMode") == "STANDIN":
                entry = await self._maybe_leave(station_id, now=now)
            else:
                evaluation = rules.evaluate_entry(station_id, traffic, now=now, rules=self._rules)
                entry = await self._maybe_enter(station_id, evaluation, now=now)
            if entry is not None:
                changes.append(entry)
                logger.warning(
                    "station %s %s stand-in: %s",
                    station_id,
                    "entered" if entry.event == "entered" else "left",
                    entry.reason,
                )
        keep_from = rules.window_slots(now - self._rules.window, self._rules.window)[0]
        await self._store.delete_stats_before(keep_from.isoformat(), limit=1000)
        return changes

    async def _maybe_enter(
        self, station_id: str, evaluation: Evaluation, *, now: datetime
    ) -> HistoryEntry | None:
        made: list[HistoryEntry] = []

        def change(document: Document) -> Document | None:
            made.clear()
            document["lastEvaluation"] = evaluation.model_dump(mode="json", by_alias=True)
            if evaluation.enter and document.get("automaticMode") != "STANDIN":
                document.update(automaticMode="STANDIN", since=now.isoformat(), probes=[])
                entry = HistoryEntry(
                    at=now,
                    event="entered",
                    mode=effective_mode(document),
                    reason=evaluation.reason,
                    by="stand-in manager",
                )
                document["history"] = _history(document, entry)
                made.append(entry)
            elif evaluation.traffic == 0 and document.get("lastEvaluation") is None:
                return None  # a station never seen: no document just for "no traffic"
            return document

        await self._update(station_id, change)
        return made[0] if made else None

    async def _maybe_leave(self, station_id: str, *, now: datetime) -> HistoryEntry | None:
        made: list[HistoryEntry] = []

        def change(document: Document) -> Document | None:
            made.clear()
            if document.get("automaticMode") != "STANDIN":
                return None
            since = datetime.fromisoformat(document["since"])
            probes = [Probe.model_validate(p) for p in document.get("probes") or []]
            leave, reason = rules.should_leave(since, probes, now=now, rules=self._rules)
            if not leave:
                return None
            document.update(automaticMode="NORMAL", since=now.isoformat())
            entry = HistoryEntry(
                at=now,
                event="left",
                mode=effective_mode(document),
                reason=reason,
                by="stand-in manager",
            )
            document["history"] = _history(document, entry)
            made.append(entry)
            return document

        await self._update(station_id, change)
        return made[0] if made else None

    async def _probe(self, station_id: str, *, now: datetime) -> Probe:
        try:
            station = await self._stations.get(station_id)
        except NotFound as error:
            probe = Probe(at=now, ok=False, detail=error.detail)
        else:
            if not station.ecs:
                probe = Probe(at=now, ok=False, detail="the station acts for no EC")
            else:
                answer = await self._client.call(
                    station,
                    "verify",
                    EcVerifyRequest(pa_fiscal_code=station.ecs[0], notice_number=PROBE_NOTICE),
                )
                probe = Probe(
                    at=now,
                    ok=probe_succeeded(answer),
                    detail=f"status {answer.status} {answer.fault_code or ''}".rstrip()
                    if answer.outcome == "ok"
                    else f"{answer.outcome}: {answer.detail}",
                )

        def change(document: Document) -> Document:
            kept = rules.recent_probes(
                [Probe.model_validate(p) for p in document.get("probes") or []] + [probe],
                now=now,
                rules=self._rules,
            )
            document["probes"] = [p.model_dump(mode="json", by_alias=True) for p in kept]
            return document

        await self._update(station_id, change)
        return probe

    # ------------------------------------------------------------------ operators
    async def list(self) -> list[Station]:
        return sorted((view(d) for d in await self._store.stations()), key=lambda s: s.station_id)

    async def get(self, station_id: str) -> Station:
        _check_id(station_id)
        document = await self._store.get(station_key(station_id))
        if document is None:
            await self._stations.get(station_id)  # NotFound if the registry has no such station
            document = _new_station(station_id)
        return view(document)

    async def force(self, station_id: str, request: ForceIn, *, by: str, now: datetime) -> Station:
        _check_id(station_id)
        await self._stations.get(station_id)

        def change(document: Document) -> Document:
            document["forced"] = {
                "mode": request.mode,
                "reason": request.reason,
                "by": by,
                "at": now.isoformat(),
            }
            entry = HistoryEntry(
                at=now, event="forced", mode=request.mode, reason=request.reason, by=by
            )
            document["history"] = _history(document, entry)
            return document

        return view(await self._update(station_id, change))

    async def release(self, station_id: str, *, by: str, now: datetime) -> Station:
        def change(document: Document) -> Document | None:
            if not document.get("forced"):
                return None
            document["forced"] = None
            entry = HistoryEntry(
                at=now,
                event="released",
                mode=effective_mode(document),
                reason="forced mode released; the rules decide again",
                by=by,
            )
            document["history"] = _history(document, entry)
            return document

        _check_id(station_id)
        if await self._store.get(station_key(station_id)) is None:
            await self._stations.get(station_id)
        return view(await self._update(station_id, change))


def _check_id(station_id: str) -> None:
    """NotFound for what cannot be a registry's party id (no such station, and nothing a
    document id may not hold reaches the store)."""
    if not re.fullmatch(PARTY_ID, station_id):
        raise NotFound(f"no station {station_id[:70]!r} in the registry")
