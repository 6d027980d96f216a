"""The back office's EC-scoped positions index: an entry holds the newest state of its
position whatever order the archive's events arrive in; the consumer reads the archive; the
rebuild indexes what the archive held before the index existed; the back office's search
reads only the index."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.backoffice.service import BackOffice
from shared.notices import ec_index
from shared.notices.ec_index import Document, ec_partition
from shared.notices.ec_index_service import PositionsIndex
from shared.notices.identity import position_id
from shared.notices.search import PositionFilter
from shared.parties.users import BackOfficeUsers, UserIn
from shared.platform.errors import PermanentError
from tests.fakes.notices import MemoryEcIndex, MemoryPositionSearch
from tests.unit.backoffice.test_backoffice import EDITOR, VIEWER, form
from tests.unit.notices.fakes import EC, OTHER_EC, World, iuv, position


def state(seq: int, at: int, amount: int) -> Document:
    """An archived position as the archive stores it, at write ``seq`` (``at``: seconds)."""
    return {
        "id": position_id(EC, iuv(1)),
        "pk": position_id(EC, iuv(1)),
        "kind": "position",
        "paFiscalCode": EC,
        "iuv": iuv(1),
        "amount": amount,
        "status": "VALID",
        "seq": seq,
        "updatedAt": f"2026-12-08T09:{at // 60:02d}:{at % 60:02d}.000000Z",
        "outbox": [{"id": "e"}],
        "_etag": "x",
    }


# states in the order the archive wrote them: seq never falls; within one seq, time goes on
_HISTORY = st.lists(
    st.tuples(st.integers(0, 1), st.integers(1, 3), st.integers(1, 10**6)), min_size=1, max_size=8
).map(
    lambda steps: [
        state(sum(s for s, _, _ in steps[: i + 1]), sum(t for _, t, _ in steps[: i + 1]), a)
        for i, (_, _, a) in enumerate(steps)
    ]
)


@given(_HISTORY.flatmap(lambda h: st.tuples(st.just(h), st.permutations(h + h[:2]))))
def test_any_order_of_reads_duplicates_included_ends_in_the_newest_state(
    case: tuple[list[Document], list[Document]],
) -> None:
    history, delivered = case
    entry: Document | None = None
    for archived in delivered:
        changed = ec_index.apply(entry, archived)
        if changed is not None:
            entry = changed
    assert entry is not None
    newest = max(history, key=ec_index.order_key)
    assert ec_index.order_key(entry) == ec_index.order_key(newest)
    assert entry["amount"] == newest["amount"]


def test_an_entry_lives_in_its_ecs_partition_without_the_archives_outbox() -> None:
    entry = ec_index.entry_of(state(1, 1, 100))
    assert (entry["pk"], entry["kind"], entry["present"]) == (ec_partition(EC), "ecposition", True)
    assert "outbox" not in entry
    assert "_etag" not in entry
    assert ec_index.apply(entry, state(1, 1, 100)) is None


def event(ec: str, iuv_: str, seq: int = 1) -> bytes:
    data = {"ecFiscalCode": ec, "iuv": iuv_, "seq": seq, "status": "VALID"}
    return json.dumps(
        {
            "id": f"ev-{seq}",
            "type": "NoticeCreated",
            "createdAt": "2026-12-08T09:00:00Z",
            "data": data,
        }
    ).encode()


async def indexed() -> tuple[World, MemoryEcIndex, PositionsIndex]:
    world = await World().seed()
    store = MemoryEcIndex()
    return world, store, PositionsIndex(store, world.archive, MemoryPositionSearch(world.store))


async def test_the_consumer_indexes_the_archives_current_state_once() -> None:
    world, store, index = await indexed()
    ec_party = world.parties[EC]
    await world.archive.publish(ec_party, position(1), segregation_codes=None, now=world.now)
    first = await index.take(event(EC, iuv(1)))
    assert first is not None
    assert first["amount"] == 12_050
    await world.archive.publish(
        ec_party, position(1, amount=900), segregation_codes=None, now=world.later()
    )
    # a late duplicate of the first event still brings the entry to the archive's state
    again = await index.take(event(EC, iuv(1)))
    assert again is not None
    assert again["amount"] == 900
    assert store.entries[(ec_partition(EC), position_id(EC, iuv(1)))]["amount"] == 900
    unchanged = await index.take(event(EC, iuv(1)))
    assert unchanged is not None
    assert unchanged["_etag"] == again["_etag"]


async def test_an_event_of_a_position_the_archive_lacks_writes_nothing() -> None:
    _, store, index = await indexed()
    assert await index.take(event(EC, iuv(7))) is None
    assert store.entries == {}


@pytest.mark.parametrize(
    "raw",
    [b"", b"[]", b"{}", json.dumps({"id": "x", "data": {"ecFiscalCode": EC}}).encode()],
)
async def test_what_is_not_an_archive_event_is_permanent(raw: bytes) -> None:
    _, store, index = await indexed()
    with pytest.raises(PermanentError):
        await index.take(raw)
    assert store.entries == {}


async def test_the_rebuild_indexes_one_ec_and_skips_what_the_consumer_wrote() -> None:
    world, store, index = await indexed()
    for n in range(1, 8):
        await world.archive.publish(
            world.parties[EC], position(n), segregation_codes=None, now=world.now
        )
    await world.archive.publish(
        world.parties[OTHER_EC],
        position(1, paFiscalCode=OTHER_EC, iban="IT60X0542811101000000123456"),
        segregation_codes=None,
        now=world.now,
    )
    await index.take(event(EC, iuv(3)))
    report = await index.rebuild(EC)
    assert (report.read, report.written) == (7, 6)
    assert {pk for pk, _ in store.entries} == {ec_partition(EC)}
    assert (await index.rebuild(EC)).written == 0


async def test_the_back_offices_search_reads_only_the_index() -> None:
    world, store, index = await indexed()
    users = BackOfficeUsers(world.party_store)
    await users.put(EDITOR.object_id, UserIn(name="E", ecs={EC: "editor"}), now=world.now)
    await users.put(VIEWER.object_id, UserIn(name="V", ecs={EC: "viewer"}), now=world.now)
    bo = BackOffice(users, world.archive, store)
    for n in range(1, 6):
        await bo.create(EDITOR, EC, form(n, entityFiscalCode=f"DEBTOR{n % 2}"), now=world.now)
    # nothing indexed yet: the table is empty although the archive holds five
    empty = await bo.search(VIEWER, EC, PositionFilter(), cursor=None, page_size=10, now=world.now)
    assert empty.items == []
    await index.rebuild(EC)
    seen, cursor = [], None
    while True:
        page = await bo.search(
            VIEWER, EC, PositionFilter(), cursor=cursor, page_size=2, now=world.now
        )
        seen += [p.iuv for p in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [iuv(n) for n in range(1, 6)]
    odd = PositionFilter(debtor="DEBTOR1", due_from=date(2027, 2, 1), due_to=date(2027, 2, 1))
    found = await bo.search(VIEWER, EC, odd, cursor=None, page_size=10, now=world.now)
    assert [p.iuv for p in found.items] == [iuv(1), iuv(3), iuv(5)]
    await bo.invalidate(EDITOR, EC, found.items[0].nav, now=world.later())
    await index.take(event(EC, iuv(1), seq=2))
    invalid = PositionFilter(status="INVALID")
    gone = await bo.search(VIEWER, EC, invalid, cursor=None, page_size=10, now=world.now)
    assert [p.iuv for p in gone.items] == [iuv(1)]
