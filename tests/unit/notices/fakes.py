"""In-memory ports of the notice archive (no I/O), shared by the unit and functions tiers."""

from __future__ import annotations

import asyncio
import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.notices.bulk import Bulks
from shared.notices.identity import position_id
from shared.notices.models import PositionIn
from shared.notices.service import EcDirectory, NoticeArchive
from shared.notices.store import Document
from shared.parties.models import Party, PartyIn
from shared.parties.service import PartyRegistry
from tests.fakes.notices import MemoryBlobs, MemoryBulkStore, MemoryNoticeStore
from tests.fakes.parties import MemoryPartyStore
from tests.fakes.platform import MemorySender

NOW = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
EC = "77777777777"
OTHER_EC = "80000000001"
UNREGISTERED_EC = "80000000009"
BROKER = "15376371009"
IBAN = "IT60X0542811101000000123456"
OTHER_IBAN = "IT42L1234512345123456789012"
QUEUE = "notices"


def iuv(n: int, code: str = "01") -> str:
    """A 17-digit IUV with segregation code ``code`` (so nav = "3" + iuv)."""
    return f"{code}{n:015d}"


def nav(n: int, code: str = "01") -> str:
    return "3" + iuv(n, code)


def body(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A valid paCreatePosition body (JSON form)."""
    code = overrides.pop("code", "01")
    data: dict[str, Any] = {
        "paFiscalCode": EC,
        "entityType": "F",
        "entityFiscalCode": "RSSMRA85T10A562S",
        "entityFullName": "Mario Rossi",
        "iuv": iuv(n, code),
        "amount": 12_050,
        "description": "TARI 2026",
        "expirationDate": "2027-01-31T23:00:00Z",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def position(n: int = 1, **overrides: Any) -> PositionIn:
    """A validated paCreatePosition body (as the HTTP edge decodes it: from JSON)."""
    return PositionIn.model_validate_json(json.dumps(body(n, **overrides)))


def party(
    party_id: str,
    role: str = "ec",
    acts_for: dict[str, list[str]] | None = None,
    *,
    name: str | None = None,
    default_iban: str | None = None,
) -> PartyIn:
    return PartyIn.model_validate(
        {
            "partyId": party_id,
            "name": name or f"Party {party_id}",
            "role": role,
            "actsFor": acts_for or {},
            "defaultIban": default_iban,
        }
    )


class SlowStore(MemoryNoticeStore):
    """Yields to the loop on every call, so concurrent writers interleave between a read and
    its write (the race ETags exist for)."""

    async def get(self, doc_id: str) -> Document | None:
        await asyncio.sleep(0)
        found = await super().get(doc_id)
        await asyncio.sleep(0)
        return found

    async def create(self, document: Document) -> Document:
        await asyncio.sleep(0)
        return await super().create(document)

    async def replace(self, document: Document, etag: str) -> Document:
        await asyncio.sleep(0)
        return await super().replace(document, etag)


class FailingStore(MemoryNoticeStore):
    """Raises ``error`` on the write after ``fail_after`` successful ones (a crash midway)."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_after: int | None = None
        self.error: Exception = RuntimeError("the host died")
        self.writes = 0

    def _maybe_fail(self) -> None:
        if self.fail_after is not None and self.writes >= self.fail_after:
            raise self.error
        self.writes += 1

    async def create(self, document: Document) -> Document:
        self._maybe_fail()
        return await super().create(document)

    async def replace(self, document: Document, etag: str) -> Document:
        self._maybe_fail()
        return await super().replace(document, etag)


@dataclass
class World:
    """The archive on in-memory ports, with the registry seeded: an EC (with a default IBAN),
    another EC, a broker acting for EC on codes 01 and 02, an unrestricted intermediary."""

    store: MemoryNoticeStore = field(default_factory=SlowStore)
    party_store: MemoryPartyStore = field(default_factory=MemoryPartyStore)
    sender: MemorySender = field(default_factory=MemorySender)
    blobs: MemoryBlobs = field(default_factory=MemoryBlobs)
    bulk_store: MemoryBulkStore = field(default_factory=MemoryBulkStore)
    chunk_lines: int = 3
    now: datetime = NOW

    def __post_init__(self) -> None:
        self.registry = PartyRegistry(self.party_store, cache_seconds=0)
        self.archive = NoticeArchive(self.store, EcDirectory(self.registry, ttl=0))
        self.bulks = Bulks(
            self.archive,
            self.bulk_store,
            self.blobs,
            self.sender,
            self.registry,
            queue=QUEUE,
            chunk_lines=self.chunk_lines,
            concurrency=4,
        )
        self.parties: dict[str, Party] = {}

    async def seed(self) -> World:
        for item in (
            party(EC, name="Comune di Demo", default_iban=IBAN),
            party(OTHER_EC, name="Comune di Altrove"),
            party(BROKER, "intermediary", {EC: ["01", "02"]}, name="Partner"),
            party("ALLCODES", "intermediary", {EC: [], UNREGISTERED_EC: []}),
            party("ACQ", "acquirer"),
        ):
            self.parties[item.party_id] = await self.registry.register(item, now=self.now)
        return self

    def later(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def stored(self, pa: str, nav_: str) -> Document | None:
        """The stored document of the position whose nav is ``"3" + iuv`` (a tombstone too)."""
        found = self.store.items.get(position_id(pa, nav_[1:]))
        return copy.deepcopy(found) if found else None

    def stored_iuv(self, pa: str, iuv_: str) -> Document | None:
        found = self.store.items.get(position_id(pa, iuv_))
        return copy.deepcopy(found) if found else None

    async def deliver_all(self) -> int:
        """Process every chunk message sent so far (in order); returns how many."""
        delivered = 0
        while self.sender.sent:
            _, message = self.sender.sent.pop(0)
            await self.bulks.process_message(message.body, now=self.later())
            delivered += 1
        return delivered
