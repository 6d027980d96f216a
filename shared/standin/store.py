"""The stand-in container: one document per notice's payment (its token and receipt), one per
receipt id an EC was promised (its claim), one per station (mode, probes, history), and traffic
counters per (slot, station, process).

Partition keys: ``<paFiscalCode>:<noticeNumber>`` for payments, ``receipt:<paFiscalCode>:<id>``
for receipt claims, ``station:<id>`` for stations, ``stats:<slot start>`` for counters, so the hot
paths are point reads and no partition grows without bound.
"""

from __future__ import annotations

from typing import Any, Protocol

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.platform.cosmos import Document, body, create_new, guarded, replace_unchanged


def payment_key(pa_fiscal_code: str, notice_number: str) -> tuple[str, str]:
    """(id, partition key) of a notice's payment document."""
    pk = f"{pa_fiscal_code}:{notice_number}"
    return f"payment:{pk}", pk


def receipt_key(pa_fiscal_code: str, receipt_id: str) -> tuple[str, str]:
    """(id, partition key) of the claim of a receipt id among the EC's payments."""
    key = f"receipt:{pa_fiscal_code}:{receipt_id}"
    return key, key


def station_key(station_id: str) -> tuple[str, str]:
    return f"station:{station_id}", f"station:{station_id}"


def stats_key(slot: str, station_id: str, instance: str) -> tuple[str, str]:
    return f"stats:{slot}:{station_id}:{instance}", f"stats:{slot}"


class StandInStore(Protocol):
    async def get(self, key: tuple[str, str]) -> Document | None: ...

    async def create(self, document: Document) -> Document: ...

    async def replace(self, document: Document) -> Document: ...

    async def upsert(self, document: Document) -> Document: ...

    async def stats_since(self, slot: str) -> list[Document]: ...

    async def stations(self) -> list[Document]: ...

    async def delete_stats_before(self, slot: str, limit: int) -> int: ...


class CosmosStandInStore:
    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def get(self, key: tuple[str, str]) -> Document | None:
        try:
            async with guarded(self._timeout):
                found: Document = await self._c.read_item(key[0], partition_key=key[1])
                return found
        except CosmosResourceNotFoundError:
            return None

    async def create(self, document: Document) -> Document:
        """StaleDocument if it exists already."""
        return await create_new(self._c, document, self._timeout)

    async def replace(self, document: Document) -> Document:
        """StaleDocument unless unchanged since read (its ``_etag``)."""
        return await replace_unchanged(self._c, document, self._timeout)

    async def upsert(self, document: Document) -> Document:
        async with guarded(self._timeout):
            written: Document = await self._c.upsert_item(body(document))
            return written

    async def _query(self, query: str, **parameters: Any) -> list[Document]:
        found: list[Document] = []
        async with guarded(self._timeout * 4):
            async for item in self._c.query_items(
                query, parameters=[{"name": f"@{k}", "value": v} for k, v in parameters.items()]
            ):
                found.append(item)
        return found

    async def stats_since(self, slot: str) -> list[Document]:
        return await self._query(
            "SELECT c.station, c.slot, c.counts FROM c WHERE c.kind = 'stats' AND c.slot >= @slot",
            slot=slot,
        )

    async def stations(self) -> list[Document]:
        return await self._query("SELECT * FROM c WHERE c.kind = 'station'")

    async def delete_stats_before(self, slot: str, limit: int) -> int:
        old = await self._query(
            "SELECT c.id, c.pk FROM c WHERE c.kind = 'stats' AND c.slot < @slot", slot=slot
        )
        for item in old[:limit]:
            try:
                async with guarded(self._timeout):
                    await self._c.delete_item(item["id"], partition_key=item["pk"])
            except CosmosResourceNotFoundError:
                pass
        return min(len(old), limit)
