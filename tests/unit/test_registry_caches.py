"""The notice archive's EC directory, the stand-in's stations and station modes remember what
they read for ``ttl`` seconds of their monotonic clock, and then read again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.notices.service import EcDirectory
from shared.parties.models import Party, Role
from shared.platform.errors import NotFound
from shared.standin.manager import StationStates
from shared.standin.stations import Stations
from shared.standin.store import station_key

AT = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
EC = "77777777777"


def party(party_id: str, role: Role, **fields: object) -> Party:
    return Party.model_validate(
        {"partyId": party_id, "name": party_id, "role": role, "createdAt": AT, "updatedAt": AT}
        | fields
    )


class CountingParties:
    def __init__(self, *parties: Party) -> None:
        self.parties = {p.party_id: p for p in parties}
        self.asked: list[str] = []

    async def get(self, party_id: str) -> Party:
        self.asked.append(party_id)
        if party_id not in self.parties:
            raise NotFound(party_id)
        return self.parties[party_id]


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_the_ec_directory_asks_the_registry_again_once_ttl_passed() -> None:
    registry, clock = CountingParties(party(EC, "ec")), Monotonic()
    directory = EcDirectory(registry, ttl=60, monotonic=clock)
    assert (await directory.get(EC)).party_id == EC
    clock.now += 59
    await directory.get(EC)
    assert registry.asked == [EC]
    clock.now += 1
    await directory.get(EC)
    assert registry.asked == [EC, EC]


async def test_the_ec_directory_does_not_remember_an_unknown_ec() -> None:
    registry = CountingParties()
    directory = EcDirectory(registry, ttl=60, monotonic=Monotonic())
    for _ in range(2):
        with pytest.raises(NotFound):  # pagoPA's 404 for an unknown EC
            await directory.get(EC)
    assert registry.asked == [EC, EC]


async def test_stations_remember_a_missing_party_too_until_ttl_passed() -> None:
    registry, clock = CountingParties(), Monotonic()
    stations = Stations(registry, ttl=60, monotonic=clock)
    for _ in range(2):
        with pytest.raises(NotFound):
            await stations.get("ST1")
    assert registry.asked == ["ST1"]
    registry.parties["ST1"] = party("ST1", "station", endpoint="http://ec.example/st1")
    clock.now += 60
    assert (await stations.get("ST1")).endpoint == "http://ec.example/st1"
    assert registry.asked == ["ST1", "ST1"]


class StationDocuments:
    """The one method of the stand-in store that StationStates reads."""

    def __init__(self) -> None:
        self.documents: dict[tuple[str, str], dict[str, object]] = {}
        self.reads = 0

    async def get(self, key: tuple[str, str]) -> dict[str, object] | None:
        self.reads += 1
        return self.documents.get(key)


async def test_station_modes_are_remembered_for_ttl_and_forgotten_on_a_local_change() -> None:
    store, clock = StationDocuments(), Monotonic()
    states = StationStates(store, ttl=5, monotonic=clock)  # type: ignore[arg-type]
    assert await states.mode("ST1") == "NORMAL"
    store.documents[station_key("ST1")] = {"automaticMode": "STANDIN", "forced": None}
    clock.now += 4
    assert await states.mode("ST1") == "NORMAL"  # remembered
    clock.now += 1
    assert await states.mode("ST1") == "STANDIN"
    store.documents[station_key("ST1")] = {"automaticMode": "NORMAL", "forced": None}
    states.forget("ST1")
    assert await states.mode("ST1") == "NORMAL"
    assert store.reads == 3
