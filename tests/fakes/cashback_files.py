"""In-memory fakes of the acquirers' files ports: blobs, a decryptor that does not decrypt,
and a registry of parties."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from typing import IO

from shared.parties.models import Party
from shared.platform.errors import Conflict, NotFound


class MemoryFileBlobs:
    def __init__(self, block: int = 1000) -> None:
        self.blobs: dict[tuple[str, str], bytes] = {}
        self.metadata: dict[tuple[str, str], dict[str, str]] = {}
        self.block = block

    async def read(self, container: str, name: str) -> AsyncIterator[bytes]:
        data = self.blobs.get((container, name))
        if data is None:
            raise NotFound(f"no file {name!r}")
        for start in range(0, len(data), self.block):
            yield data[start : start + self.block]

    async def create(self, container: str, name: str, data: bytes) -> None:
        if (container, name) in self.blobs:
            raise Conflict(f"{name!r} was delivered already")
        self.blobs[(container, name)] = bytes(data)

    async def put(
        self, container: str, name: str, data: IO[bytes], metadata: dict[str, str] | None = None
    ) -> None:
        self.blobs[(container, name)] = data.read()
        self.metadata[(container, name)] = dict(metadata or {})

    def url(self, container: str, name: str) -> str:
        return f"memory://{container}/{name}"

    async def read_url(self, container: str, name: str, *, now: datetime) -> str:
        return f"memory://{container}/{name}?until={now.isoformat()}"

    async def exists(self, container: str, name: str) -> bool:
        return (container, name) in self.blobs

    async def delete(self, container: str, name: str) -> None:
        self.blobs.pop((container, name), None)

    async def get(self, container: str, name: str) -> bytes:
        data = self.blobs.get((container, name))
        if data is None:
            raise NotFound(f"no file {name!r}")
        return data


class PlainDecryptor:
    """Passes the bytes through: the unit tests' files are not encrypted (GnuPG has its own
    tests in tests/integration/test_cashback_pgp.py)."""

    async def decrypt(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            yield chunk


class MemoryParties:
    def __init__(self, *parties: Party) -> None:
        self.parties = {p.party_id: p for p in parties}

    async def get(self, party_id: str) -> Party:
        if party_id not in self.parties:
            raise NotFound(f"no party {party_id}")
        return self.parties[party_id]


def acquirer(party_id: str, acts_for: dict[str, list[str]]) -> Party:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return Party(
        party_id=party_id,
        name=party_id,
        role="acquirer",
        acts_for=acts_for,
        created_at=at,
        updated_at=at,
    )
