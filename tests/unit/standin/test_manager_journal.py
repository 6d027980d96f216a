"""A station's change of effective mode reaches the journal of each EC it acts for: one event
in the station's outbox (the same write), none when the mode stays; the registry is read by the
journal's consumer (one entry per EC), not inside the station's write."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.journal.service import Journal
from shared.parties.service import PartyRegistry
from shared.platform.errors import DependencyError
from shared.standin.manager import Manager, StationStates
from shared.standin.models import ForceIn
from shared.standin.rules import Thresholds
from shared.standin.stations import Stations
from tests.fakes.journal import MemoryJournalStore
from tests.fakes.parties import MemoryPartyStore
from tests.fakes.platform import HandedEvents
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


async def registry() -> PartyRegistry:
    made = PartyRegistry(MemoryPartyStore(), cache_seconds=0)
    for ec in ECS:
        await made.register(party(ec), now=NOW)
    station = party(STATION, "station", {ec: [] for ec in ECS})
    station = station.model_copy(update={"endpoint": "https://station.example/ws"})
    await made.register(station, now=NOW)
    return made


async def manager(stations: Any = None) -> tuple[Manager, Store, HandedEvents]:
    store, published = Store(), HandedEvents()
    made = Manager(
        store,  # type: ignore[arg-type]
        stations or Stations(await registry(), ttl=0),
        None,  # type: ignore[arg-type]  # no probe is made here
        StationStates(store),  # type: ignore[arg-type]
        Thresholds(),
        journal=(JOURNAL, published),
    )
    return made, store, published


async def test_forcing_stand_in_tells_the_journal_once_and_it_writes_each_ecs_entry() -> None:
    m, store, published = await manager()
    await m.force(STATION, ForceIn(mode="STANDIN", reason="EC down"), by="ops", now=NOW)
    (entered,) = published.events
    assert (entered.type, entered.queue, entered.data["reason"], entered.data["by"]) == (
        "StationStandInEntered",
        JOURNAL,
        "EC down",
        "ops",
    )
    assert entered.data["stationId"] == STATION
    (document,) = store.items.values()
    assert [e["id"] for e in document["outbox"]] == [entered.id]

    # the same mode again: no change, nothing told
    await m.force(STATION, ForceIn(mode="STANDIN", reason="still"), by="ops", now=NOW)
    assert len(published.events) == 1

    await m.release(STATION, by="ops", now=NOW + timedelta(minutes=5))
    (exited,) = published.events[1:]
    assert exited.type == "StationStandInExited"

    journal_store = MemoryJournalStore()
    journal = Journal(journal_store, retention_days=30, parties=await registry())
    entries = await journal.take_event(exited.outgoing().body)
    assert sorted(e.ec for e in entries) == list(ECS)
    assert {(e.id, e.kind, e.object, e.at, e.fields["by"]) for e in entries} == {
        (exited.id, "station.standin.exited", STATION, NOW + timedelta(minutes=5), "ops")
    }
    await journal.take_event(exited.outgoing().body)  # redelivered: nothing new
    assert len(journal_store.documents) == 2


class _DownRegistry:
    """The registry answers the operator's check, then is down for the manager's write."""

    def __init__(self, stations: Stations) -> None:
        self._stations = stations

    async def get(self, station_id: str) -> Any:
        return await self._stations.get(station_id)

    async def party(self, party_id: str) -> Any:
        raise DependencyError("cosmos", "the registry is down")


async def test_a_registry_that_is_down_does_not_stop_the_stations_write() -> None:
    m, store, published = await manager(_DownRegistry(Stations(await registry(), ttl=0)))
    await m.force(STATION, ForceIn(mode="STANDIN", reason="EC down"), by="ops", now=NOW)
    (document,) = store.items.values()
    assert document["forced"] is not None
    assert [e.type for e in published.events] == ["StationStandInEntered"]


class _DownParties:
    async def get(self, party_id: str) -> Any:
        raise DependencyError("cosmos", "the registry is down")


async def test_the_journal_retries_a_station_event_while_the_registry_is_down() -> None:
    m, _, published = await manager()
    await m.force(STATION, ForceIn(mode="STANDIN", reason="EC down"), by="ops", now=NOW)
    (entered,) = published.events
    journal_store = MemoryJournalStore()
    down = Journal(journal_store, retention_days=30, parties=_DownParties())
    with pytest.raises(DependencyError):  # the delivery fails: the message comes again
        await down.take_event(entered.outgoing().body)
    assert journal_store.documents == {}
    up = Journal(journal_store, retention_days=30, parties=await registry())
    assert len(await up.take_event(entered.outgoing().body)) == len(ECS)


async def test_a_station_event_of_one_ec_in_flight_is_written_for_that_ec_only() -> None:
    # sent by the manager before the journal looked the ECs up (it named one EC per event)
    m, _, published = await manager()
    await m.force(STATION, ForceIn(mode="STANDIN", reason="EC down"), by="ops", now=NOW)
    (entered,) = published.events
    old = entered.model_copy(update={"data": {**entered.data, "ecFiscalCode": ECS[1]}})
    journal = Journal(MemoryJournalStore(), retention_days=30, parties=_DownParties())
    assert [e.ec for e in await journal.take_event(old.outgoing().body)] == [ECS[1]]


async def test_a_station_the_registry_does_not_have_writes_no_entry() -> None:
    m, _, published = await manager()
    await m.force(STATION, ForceIn(mode="STANDIN", reason="EC down"), by="ops", now=NOW)
    empty = PartyRegistry(MemoryPartyStore(), cache_seconds=0)
    journal = Journal(MemoryJournalStore(), retention_days=30, parties=empty)
    assert await journal.take_event(published.events[0].outgoing().body) == []
