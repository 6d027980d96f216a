"""The notice index's store against the Cosmos emulator, and its in-memory fake held to the
same behaviour: ETag writes, open notices and history newest first in keyset pages, and a
citizen's list in ONE Cosmos round trip."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.cosmos import stats
from local.platform import Platform
from shared.payments.index import NoticeEvent, apply
from shared.payments.index_service import NoticeIndex
from shared.payments.index_store import CosmosIndexStore, IndexStore
from shared.platform.clients import Clients
from shared.platform.cosmos import StaleDocument
from tests.fakes.payments_index import MemoryIndexStore, user_ids

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)


def event(n: int, seq: int = 1, status: str = "VALID", **data: Any) -> NoticeEvent:
    return NoticeEvent.model_validate(
        {
            "id": f"e-{n}-{seq}",
            "type": "NoticeCreated",
            "createdAt": (T0 + timedelta(minutes=n)).isoformat(),
            "data": {
                "ecFiscalCode": "77777777777",
                "ecName": "Comune di Demo",
                "noticeCode": f"3{n:017d}",
                "iuv": f"{n:017d}",
                "debtorFiscalCode": "RSSMRA85T10A562S",
                "description": f"TARI {n}",
                "amount": 1_000 + n,
                "dueDate": (T0 + timedelta(days=30)).isoformat(),
                "status": status,
                "publishedAt": (T0 + timedelta(minutes=n)).isoformat(),
                "seq": seq,
                **data,
            },
        }
    )


@pytest.fixture(scope="module")
async def clients(platform: Platform) -> AsyncIterator[Clients]:
    built = Clients(platform.provision(f"pindex-{uuid.uuid4().hex[:8]}"))
    yield built
    await built.close()


@pytest.fixture(params=["cosmos", "fake"])
def store(request: pytest.FixtureRequest, clients: Clients) -> IndexStore:
    if request.param == "fake":
        return MemoryIndexStore()
    return CosmosIndexStore(clients.container(clients.settings.payments_container), 5)


def user() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


async def write(store: IndexStore, user_id: str, e: NoticeEvent) -> dict[str, Any]:
    current = await store.get(user_id, f"notice:ACA_77777777777_{e.data.iuv}")
    entry = apply(current, e, user_id=user_id)
    assert entry is not None
    return await store.put(entry, current["_etag"] if current else None)


async def test_writes_are_etag_conditioned(store: IndexStore) -> None:
    user_id = user()
    first = await write(store, user_id, event(1))
    again = apply(None, event(1, seq=2), user_id=user_id)
    assert again is not None
    with pytest.raises(StaleDocument):
        await store.put(again, None)  # created meanwhile
    await store.put(again, first["_etag"])
    with pytest.raises(StaleDocument):
        await store.put(again, first["_etag"])  # changed since
    found = await store.get(user_id, first["id"])
    assert found is not None
    assert found["seq"] == 2
    assert await store.get(user(), first["id"]) is None


async def test_open_and_history_pages_newest_first(store: IndexStore) -> None:
    user_id = user()
    for n in range(5):
        await write(store, user_id, event(n))
    await write(store, user_id, event(1, seq=2, status="PAID"))
    await write(store, user_id, event(3, seq=2, status="INVALID"))
    await write(store, user_id, event(5, switchToExpired=True, dueDate=T0.isoformat()))
    seen: list[str] = []
    after: str | None = None
    while True:
        page = await store.page(user_id, history=False, now=NOW, limit=2, after=after)
        seen += [d["noticeCode"] for d in page]
        if len(page) < 2:
            break
        after = page[-1]["sortKey"]
    assert seen == [f"3{n:017d}" for n in (4, 2, 0)]
    history = await store.page(user_id, history=True, now=NOW, limit=10, after=None)
    assert [d["noticeCode"][-1] for d in history] == ["5", "3", "1"]


async def test_a_citizens_list_is_one_cosmos_round_trip(
    platform: Platform, clients: Clients
) -> None:
    store = CosmosIndexStore(clients.container(clients.settings.payments_container), 5)
    index = NoticeIndex(store, user_ids())
    for n in range(30):
        await index.take(event(n).model_dump_json(by_alias=True).encode())
    await index.list("RSSMRA85T10A562S", history=False, now=NOW)  # warm: container properties
    stats(platform.cosmos.port, reset=True)
    page = await index.list("RSSMRA85T10A562S", history=False, now=NOW, limit=20)
    assert stats(platform.cosmos.port, reset=True)["requests"] == 1
    assert len(page.items) == 20
    assert page.continuation_token is not None
