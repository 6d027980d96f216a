"""Which station serves a notice (from the party registry), and calls to it over the EC-facing
protocol on one shared keep-alive session, each call classified for the traffic counters."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from cachetools import TTLCache
from pydantic import BaseModel

from shared.parties.models import Party
from shared.platform.errors import Invalid, NotFound
from shared.standin.models import CallOutcome

logger = logging.getLogger(__name__)

Operation = Literal["verify", "activate", "receipt"]
NO_STATION = "NO_STATION"
UNKNOWN_EC = "UNKNOWN_EC"


class Parties(Protocol):
    async def get(self, party_id: str) -> Party: ...


@dataclass(frozen=True)
class StationRef:
    station_id: str
    endpoint: str
    secret_name: str | None
    ecs: tuple[str, ...]
    """The ECs it acts for (the first one is the probe's paFiscalCode)."""
    broker: str | None = None
    """Its intermediary (idBrokerPA) as the registry names it, if it does."""


def _segregation(notice_number: str) -> str | None:
    # Notice numbers with aux digit 3 carry the IUV, whose first two digits are the code.
    return notice_number[1:3] if notice_number.startswith("3") else None


class _Missing(enum.Enum):
    """A party the registry does not have (remembered as such, like the parties it has)."""

    MISSING = enum.auto()


_MISSING = _Missing.MISSING
REGISTRY_CACHE_SIZE = 10_000
"""Parties remembered at most (a bound only: they expire after ``ttl`` anyway)."""


class Stations:
    """Stations of the registry, cached for ``ttl`` seconds (the registry changes rarely)."""

    def __init__(
        self,
        parties: Parties,
        *,
        ttl: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._parties = parties
        self._cache: TTLCache[str, Party | _Missing, float] = TTLCache(
            REGISTRY_CACHE_SIZE, ttl=ttl, timer=monotonic
        )

    async def _party(self, party_id: str) -> Party | None:
        cached = self._cache.get(party_id)
        if cached is None:
            try:
                cached = await self._parties.get(party_id)
            except NotFound:
                cached = _MISSING
            self._cache[party_id] = cached
        return None if cached is _MISSING else cached

    async def party(self, party_id: str) -> Party | None:
        """A party of the registry (cached like the stations), or None."""
        return await self._party(party_id)

    async def get(self, station_id: str) -> StationRef:
        """A station with an endpoint; NotFound otherwise."""
        party = await self._party(station_id)
        if party is None or party.role != "station":
            raise NotFound(f"no station {station_id} in the registry")
        if not party.endpoint:
            raise NotFound(f"station {station_id} has no endpoint", code=NO_STATION)
        return StationRef(
            party.party_id,
            party.endpoint.rstrip("/"),
            party.secret_name,
            tuple(party.acts_for),
            party.broker_id,
        )

    async def for_notice(self, pa_fiscal_code: str, notice_number: str) -> StationRef:
        """The EC's station serving this notice's segregation code (or all of them)."""
        ec = await self._party(pa_fiscal_code)
        if ec is None or ec.role != "ec":
            raise NotFound(
                f"{pa_fiscal_code} is not a creditor institution of the registry", code=UNKNOWN_EC
            )
        code = _segregation(notice_number)
        general: StationRef | None = None
        for station_id in ec.stations:
            party = await self._party(station_id)
            if party is None or party.role != "station" or not party.endpoint:
                continue
            codes = party.acts_for.get(pa_fiscal_code, [])
            ref = StationRef(
                party.party_id,
                party.endpoint.rstrip("/"),
                party.secret_name,
                tuple(party.acts_for),
                party.broker_id,
            )
            if codes and code in codes:
                return ref
            if not codes and general is None:
                general = ref
        if general is None:
            raise Invalid(
                f"{pa_fiscal_code} has no station with an endpoint for this notice",
                status=422,
                code=NO_STATION,
            )
        return general


@dataclass(frozen=True)
class Answer:
    """A station call's result: ``outcome`` for the counters; ``status``/``body`` when the EC
    answered."""

    outcome: CallOutcome
    status: int | None = None
    body: dict[str, Any] | None = None
    detail: str = ""

    @property
    def accepted(self) -> bool:
        """The EC answered 2xx with ``outcome: OK``."""
        return (
            self.outcome == "ok"
            and self.status is not None
            and self.status < 300
            and self.body is not None
            and self.body.get("outcome") == "OK"
        )

    @property
    def fault_code(self) -> str | None:
        return str(self.body.get("faultCode")) if self.body and "faultCode" in self.body else None


class StationCalls(Protocol):
    """A call to a station that never raises for the station's failure (see Answer)."""

    async def call(
        self, station: StationRef, operation: Operation, payload: BaseModel
    ) -> Answer: ...
