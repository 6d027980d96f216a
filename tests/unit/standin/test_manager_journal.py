"""A station's change of effective mode reaches the journal of each EC it acts for: events in
the station's outbox (the same write), one per EC, and none when the mode stays."""

from __future__ import annotations

import copy
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.journal.service import Journal
from shared.parties.service import PartyRegistry
from shared.platform.outbox import Event
from shared.standin.manager import Manager, StationStates
from shared.standin.models import ForceIn
from shared.standin.rules import Thresholds
from shared.standin.stations import Stations
from tests.fakes.journal import MemoryJournalStore
from tests.fakes.parties import MemoryPartyStore
from tests.unit.notices.fakes import party

NOW = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
STATION = "77777777777_01"
ECS = ("77777777777", "88888888888")
JOURNAL = "journal"


class Store:
    """The stand-in store's documents, by key (what the manager's writes use)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    async def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        found = self.items.get(key)
        return copy.deepcopy(found) if found else None

    async def create(self, document: dict[str, Any]) -> dict[str, Any]:
        self.items[(document["id"], document["pk"])] = copy.deepcopy(document)
        return document

    replace = upsert = create

    async def stations(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(d) for d in self.items.values() if d.get("kind") == "station"]


class Published:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish_soon(
        self, document: dict[str, Any], *, only: Collection[Event] | None = None
    ) -> None:
        self.events.extend(only or [])


async def manager() -> tuple[Manager, Store, Published]:
    registry = PartyRegistry(MemoryPartyStore(), cache_seconds=0)
    for ec in ECS:
        await registry.register(party(ec), now=NOW)
    station = party(STATION, "station", {ec: [] for ec in ECS})
    station = station.model_copy(update={"endpoint": "https://station.example/ws"})
    await registry.register(station, now=NOW)
    store, published = Store(), Published()
    made = Manager(
        store,  # type: ignore[arg-type]
        Stations(registry, ttl=0),
        None,  # type: ignore[arg-type]  # no probe is made here
        StationStates(store),  # type: ignore[arg-type]
        Thresholds(),
        journal=(JOURNAL, published),
    )
    return made, store, published


async def test_forcing_stand_in_tells_each_ec_of_the_station_once() -> None:
    m, store, published = await manager()
    await m.force(STATION, ForceIn(mode="STANDIN", reason="EC down"), by="ops", now=NOW)
    entered = published.events
    assert sorted(e.data["ecFiscalCode"] for e in entered) == list(ECS)
    assert {(e.type, e.queue, e.data["reason"], e.data["by"]) for e in entered} == {
        ("StationStandInEntered", JOURNAL, "EC down", "ops")
    }
    (document,) = store.items.values()
    assert {e["id"] for e in document["outbox"]} == {e.id for e in entered}

    # the same mode again: no change, nothing told
    await m.force(STATION, ForceIn(mode="STANDIN", reason="still"), by="ops", now=NOW)
    assert len(published.events) == 2

    await m.release(STATION, by="ops", now=NOW + timedelta(minutes=5))
    exited = published.events[2:]
    assert [e.type for e in exited] == ["StationStandInExited"] * 2

    journal = Journal(MemoryJournalStore(), retention_days=30)
    entry = await journal.take_event(exited[0].outgoing().body)
    assert (entry.kind, entry.object, entry.at) == (
        "station.standin.exited",
        STATION,
        NOW + timedelta(minutes=5),
    )
    assert entry.fields["by"] == "ops"
