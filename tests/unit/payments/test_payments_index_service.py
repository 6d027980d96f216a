"""The index fed by the archive's own events (in-memory ports): a citizen's open notices and
history, newest first and paged, each notice announced once however often its events come."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.notices.events import ArchiveEvents
from shared.notices.service import EcDirectory, NoticeArchive
from shared.payments.index_service import NoticeIndex
from shared.platform.errors import Invalid, PermanentError
from tests.fakes.payments_index import MemoryIndexStore, user_ids
from tests.unit.notices.fakes import EC, OTHER_EC, World, nav, position
from tests.unit.notices.test_notices_events import Capture

CF = "RSSMRA85T10A562S"
OTHER_CF = "VRDGPP80A01H501K"


class Announcements:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def new_notice(self, **what: Any) -> None:
        self.sent.append(what)


class Setup:
    def __init__(self, world: World) -> None:
        self.world = world
        self.capture = Capture()
        self.archive = NoticeArchive(
            world.store,
            EcDirectory(world.registry, ttl=0),
            events=ArchiveEvents(("payments-notices",), self.capture),
        )
        self.store = MemoryIndexStore()
        self.announcements = Announcements()
        self.index = NoticeIndex(self.store, user_ids(), self.announcements)
        self.delivered = 0

    async def publish(self, n: int, ec: str = EC, **overrides: Any) -> None:
        await self.archive.publish(
            self.world.parties[ec],
            position(n, paFiscalCode=ec, **overrides),
            segregation_codes=None,
            now=self.world.later(),
        )

    def bodies(self) -> list[bytes]:
        return [e.outgoing().body for e in self.capture.events()]

    async def deliver(self) -> None:
        """Deliver the events not delivered yet, in order."""
        bodies = self.bodies()
        for body in bodies[self.delivered :]:
            await self.index.take(body)
        self.delivered = len(bodies)

    @property
    def now(self) -> datetime:
        return self.world.now


@pytest.fixture
async def setup() -> Setup:
    return Setup(await World().seed())


async def test_a_published_notice_appears_in_its_debtors_open_list(setup: Setup) -> None:
    await setup.publish(1)
    await setup.deliver()
    page = await setup.index.list(CF, history=False, now=setup.now)
    (item,) = page.items
    assert (item.ec_name, item.notice_code, item.amount, item.status, item.payable_now) == (
        "Comune di Demo",
        nav(1),
        12_050,
        "VALID",
        True,
    )
    assert page.continuation_token is None
    assert (await setup.index.list(OTHER_CF, history=False, now=setup.now)).items == []


async def test_notices_of_every_ec_come_newest_first_in_pages(setup: Setup) -> None:
    await setup.publish(1)
    await setup.publish(2, ec=OTHER_EC)
    await setup.publish(3)
    await setup.deliver()
    first = await setup.index.list(CF, history=False, now=setup.now, limit=2)
    assert [i.notice_code for i in first.items] == [nav(3), nav(2)]
    assert [i.ec_fiscal_code for i in first.items] == [EC, OTHER_EC]
    assert first.continuation_token is not None
    second = await setup.index.list(
        CF, history=False, now=setup.now, limit=2, continuation=first.continuation_token
    )
    assert [i.notice_code for i in second.items] == [nav(1)]
    assert second.continuation_token is None


async def test_paid_invalidated_and_expired_notices_move_to_the_history(setup: Setup) -> None:
    for n in (1, 2, 4):
        await setup.publish(n)
    await setup.publish(3, switchToExpired=True, expirationDate="2026-12-10T10:00:00Z")
    await setup.archive.mark_paid(
        EC, nav(1), receipt_id="r-1", paid_at=setup.now, by="PSP", stand_in=False, now=setup.now
    )
    await setup.publish(2, amount=0)
    await setup.deliver()
    later = setup.now + timedelta(days=3)  # the third is past its date, timer or not
    open_ = await setup.index.list(CF, history=False, now=later)
    history = await setup.index.list(CF, history=True, now=later)
    assert [i.notice_code for i in open_.items] == [nav(4)]
    assert {i.notice_code: i.status for i in history.items} == {
        nav(1): "PAID",
        nav(2): "INVALID",
        nav(3): "EXPIRED",
    }
    assert not any(i.payable_now for i in history.items)


async def test_a_notice_is_announced_once_whatever_is_redelivered(setup: Setup) -> None:
    await setup.publish(1)
    await setup.publish(1, amount=500)
    for body in setup.bodies() * 2 + list(reversed(setup.bodies())):
        await setup.index.take(body)
    assert len(setup.announcements.sent) == 1
    sent = setup.announcements.sent[0]
    assert (sent["fiscal_code"], sent["ec_name"], sent["notice_code"]) == (
        CF,
        "Comune di Demo",
        nav(1),
    )
    (item,) = (await setup.index.list(CF, history=False, now=setup.now)).items
    assert item.amount == 500  # the newest state, though the older event came last


async def test_an_announcement_that_failed_is_sent_on_redelivery(setup: Setup) -> None:
    await setup.publish(1)

    class Down(Announcements):
        async def new_notice(self, **what: Any) -> None:
            raise RuntimeError("push's queue is down")

    (body,) = setup.bodies()
    failing = NoticeIndex(setup.store, user_ids(), Down())
    with pytest.raises(RuntimeError):
        await failing.take(body)
    # the list does not wait for push
    assert [
        i.notice_code for i in (await setup.index.list(CF, history=False, now=setup.now)).items
    ] == [nav(1)]
    await setup.index.take(body)  # the redelivery
    await setup.index.take(body)  # and another
    assert len(setup.announcements.sent) == 1


async def test_a_debtor_who_is_not_a_person_is_not_indexed(setup: Setup) -> None:
    await setup.publish(1, entityType="G", entityFiscalCode="12345678901")
    (body,) = setup.bodies()
    assert await setup.index.take(body) is None
    assert setup.store.documents == {}


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{}", json.dumps({"id": "x", "type": "Other", "createdAt": "x"}).encode()],
)
async def test_what_is_not_an_archive_event_is_permanent(setup: Setup, body: bytes) -> None:
    with pytest.raises(PermanentError):
        await setup.index.take(body)


async def test_a_foreign_token_or_limit_is_refused(setup: Setup) -> None:
    with pytest.raises(Invalid):
        await setup.index.list(CF, history=False, now=setup.now, continuation="bm9wZQ")
    with pytest.raises(Invalid):
        await setup.index.list(CF, history=False, now=setup.now, limit=0)
