"""The stand-in gateway, manager and receipts against the emulators (Cosmos, Service Bus) with
the real composition root and an injected clock: locks under concurrency, token lifetimes,
outcomes, refusals, traffic counting and the entry rule on recorded traffic."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from local.platform import Platform
from shared.clients import Clients
from shared.clock import FixedClock
from shared.errors import Conflict, Forbidden, Gone, Invalid, NotFound, UpstreamFailed
from shared.parties.models import Party, PartyIn
from shared.root import Root
from shared.standin import rules
from shared.standin.gateway import PAYMENT_IN_PROGRESS, TOKEN_NOT_LIVE
from shared.standin.models import ActivateIn, ForceIn, NoticeRef, OutcomeIn
from tests.servicebus_tools import receive
from tests.unit.notices.fakes import EC, NOW, nav, position

STATION = f"{EC}_07"
PSP = "TESTPSP"
DOWN = "http://127.0.0.1:9/ec/v1"  # nothing listens on port 9: connection refused


@dataclass
class World:
    root: Root
    clock: FixedClock
    ec: Party
    psp: Party
    node: Party
    connection: str
    queue: str

    async def publish(self, n: int, **fields: Any) -> str:
        await self.root.notices().publish(self.ec, position(n, **fields), segregation_codes=None,
                                          now=self.clock.now())
        return nav(n)

    async def force(self, mode: str) -> None:
        await self.root.standin_manager().force(
            STATION, ForceIn(mode=mode, reason="test"), by="tests", now=self.clock.now())  # type: ignore[arg-type]

    async def activate(self, number: str, key: str = "k1", *, amount: int = 12_050,
                       psp: str = PSP) -> Any:
        return await self.root.standin_gateway().activate(
            self.psp, ActivateIn(pa_fiscal_code=EC, notice_number=number, amount=amount,
                                 idempotency_key=key, psp_id=psp), now=self.clock.now())

    async def outcome(self, token: str, receipt: str = "r1", outcome: str = "OK") -> Any:
        return await self.root.standin_gateway().outcome(self.psp, OutcomeIn.model_validate({
            "paymentToken": token, "outcome": outcome, "pspId": PSP, "receiptId": receipt,
            "paymentDateTime": self.clock.now().isoformat(), "paymentMethod": "CP",
            "fee": 100}), now=self.clock.now())

    async def verify(self, number: str) -> Any:
        return await self.root.standin_gateway().verify(
            self.psp, NoticeRef(pa_fiscal_code=EC, notice_number=number), now=self.clock.now())


@pytest.fixture
async def world(platform: Platform) -> AsyncIterator[World]:
    queue = f"standin-receipts-{uuid.uuid4().hex[:8]}"
    settings = platform.provision(f"standin-{uuid.uuid4().hex[:8]}")
    settings = settings.model_copy(update={"standin_receipts_queue": queue})
    clients = Clients(settings)
    clock = FixedClock(NOW)
    root = Root(clients, clock)
    registry = root.parties()

    async def register(party_id: str, role: str, **extra: Any) -> Party:
        return await registry.register(PartyIn.model_validate(
            {"partyId": party_id, "name": party_id, "role": role, **extra}), now=NOW)

    ec = await register(EC, "ec", stations=[STATION], defaultIban="IT60X0542811101000000123456")
    await register(STATION, "station", actsFor={EC: []}, endpoint=DOWN)
    psp = await register(PSP, "psp")
    node = await register("NODE", "node")
    try:
        yield World(root, clock, ec, psp, node, settings.servicebus_connection or "", queue)
    finally:
        await clients.close()


async def test_stand_in_pays_from_the_archive_and_queues_the_receipt(world: World) -> None:
    number = await world.publish(1)
    await world.force("STANDIN")
    verified = await world.verify(number)
    assert verified.stand_in
    assert verified.amount == 12_050
    assert verified.company_name == EC  # the registry's name of the EC
    activation = await world.activate(number)
    assert activation.stand_in
    assert activation.payment_token.startswith(EC + number)
    assert activation.expires_at == NOW + timedelta(minutes=30)
    again = await world.activate(number)
    assert again.payment_token == activation.payment_token  # same idempotency key

    paid = await world.outcome(activation.payment_token)
    assert paid.status == "PAID"
    assert paid.stand_in
    position_now = await world.root.notices().get(EC, number, now=world.clock.now())
    assert position_now.status == "PAID"
    assert position_now.receipt_id == "r1"
    assert position_now.history[-1].source == "stand-in"

    repeated = await world.outcome(activation.payment_token)  # idempotent by receiptId
    assert repeated == paid
    messages = await asyncio.to_thread(receive, world.connection, world.queue, 2, timeout=3)
    assert [m["body"]["data"] for m in messages] == [
        {"paFiscalCode": EC, "noticeNumber": number, "receiptId": "r1"}]
    payment = await world.root._standin_store.get((f"payment:{EC}:{number}", f"{EC}:{number}"))
    assert payment is not None
    assert payment["outbox"] == []  # published and cleared
    assert payment["paid"]["standIn"] is True

    with pytest.raises(Conflict) as refused:
        await world.activate(number, "another-key")
    assert refused.value.code == rules.ALREADY_PAID


async def test_fifty_concurrent_activations_give_exactly_one_token(world: World) -> None:
    number = await world.publish(2)
    await world.force("STANDIN")
    results = await asyncio.gather(*(world.activate(number, f"key-{i}") for i in range(50)),
                                   return_exceptions=True)
    tokens = [r for r in results if not isinstance(r, BaseException)]
    refusals = [r for r in results if isinstance(r, BaseException)]
    assert len(tokens) == 1
    assert len(refusals) == 49
    assert all(isinstance(r, Conflict) and r.code == PAYMENT_IN_PROGRESS for r in refusals)


async def test_an_expired_token_frees_the_notice_and_cannot_be_used_after(world: World) -> None:
    number = await world.publish(3)
    await world.force("STANDIN")
    first = await world.activate(number, "first")
    world.clock.advance(29 * 60)
    with pytest.raises(Conflict):
        await world.activate(number, "second")
    world.clock.advance(61)
    second = await world.activate(number, "second")
    assert second.payment_token != first.payment_token
    with pytest.raises(Conflict) as late:
        await world.outcome(first.payment_token, "late-receipt")
    assert late.value.code == TOKEN_NOT_LIVE
    assert (await world.outcome(second.payment_token, "r-second")).status == "PAID"


async def test_a_ko_outcome_releases_the_notice(world: World) -> None:
    number = await world.publish(4)
    await world.force("STANDIN")
    first = await world.activate(number, "first")
    released = await world.outcome(first.payment_token, "ko-1", "KO")
    assert released.status == "RELEASED"
    assert (await world.outcome(first.payment_token, "ko-1", "KO")) == released
    with pytest.raises(Conflict):
        await world.outcome(first.payment_token, "ok-after-ko")
    second = await world.activate(number, "second")
    assert second.payment_token != first.payment_token
    position_now = await world.root.notices().get(EC, number, now=world.clock.now())
    assert position_now.status == "VALID"


async def test_refusals_in_stand_in_name_their_reason(world: World) -> None:
    await world.force("STANDIN")
    cases: list[tuple[str, int, type[Exception], str]] = [
        (await world.publish(10), 1, Invalid, rules.AMOUNT_MISMATCH),
        (await world.publish(11, payStandIn=False), 12_050, Invalid,
         rules.NOT_PAYABLE_IN_STAND_IN),
        (await world.publish(12, expirationDate="2026-12-08T09:29:59Z", switchToExpired=False),
         12_050, Gone, rules.EXPIRED),
        (nav(13), 12_050, NotFound, rules.UNKNOWN_NOTICE),
    ]
    await world.publish(14)
    world.clock.advance(1)
    await world.publish(14, amount=0)  # invalidated
    cases.append((nav(14), 12_050, Invalid, rules.NOT_PAYABLE))
    for number, amount, error, code in cases:
        with pytest.raises(error) as refused:
            await world.activate(number, amount=amount)
        assert refused.value.code == code, number  # type: ignore[attr-defined]


async def test_a_psp_may_only_pay_as_itself(world: World) -> None:
    number = await world.publish(20)
    await world.force("STANDIN")
    with pytest.raises(Forbidden):
        await world.activate(number, psp="OTHERPSP")
    as_node = await world.root.standin_gateway().activate(
        world.node, ActivateIn(pa_fiscal_code=EC, notice_number=number, amount=12_050,
                               idempotency_key="n", psp_id="OTHERPSP"), now=world.clock.now())
    with pytest.raises(Forbidden):
        await world.outcome(as_node.payment_token)  # the token belongs to OTHERPSP


async def test_normal_mode_counts_a_down_station_and_the_manager_enters_stand_in(
        world: World) -> None:
    number = await world.publish(30)
    # 12:00 Rome on a Tuesday; one call per minute for 30 minutes, all unreachable.
    world.clock.set(NOW.replace(hour=11, minute=0))
    for _ in range(30):
        with pytest.raises(UpstreamFailed) as failed:
            await world.verify(number)
        assert failed.value.status == 502
        assert failed.value.code == "STATION_UNREACHABLE"
        world.clock.advance(60)
    stats = await world.root._standin_store.stats_since("2026-12-08T10:55:00+00:00")
    assert sum(d["counts"]["unreachable"] for d in stats) == 30
    changes = await world.root.standin_manager().evaluate(now=world.clock.now())
    assert [(c.event, c.mode) for c in changes] == [("entered", "STANDIN")]
    station = await world.root.standin_manager().get(STATION)
    assert station.automatic_mode == "STANDIN"
    assert station.last_evaluation is not None
    assert station.last_evaluation.faulty_slots == 6
    assert station.last_evaluation.share == 1.0
    # the gateway now answers from the archive
    assert (await world.verify(number)).stand_in
    # the probes fail while the station is down: no exit, even after an hour
    for _ in range(14):
        world.clock.advance(300)
        assert await world.root.standin_manager().evaluate(now=world.clock.now()) == []
    station = await world.root.standin_manager().get(STATION)
    assert len(station.probes) == 12  # the last hour's
    assert not any(p.ok for p in station.probes)
    assert station.mode == "STANDIN"


async def test_forced_modes_win_until_released(world: World) -> None:
    manager = world.root.standin_manager()
    await world.force("STANDIN")
    station = await manager.get(STATION)
    assert station.mode == "STANDIN"
    assert station.automatic_mode == "NORMAL"
    released = await manager.release(STATION, by="tests", now=world.clock.now())
    assert released.mode == "NORMAL"
    assert [h.event for h in released.history] == ["forced", "released"]
    with pytest.raises(NotFound):
        await manager.force("NOSUCHSTATION", ForceIn(mode="STANDIN", reason="x"), by="t",
                            now=NOW)
    listed = await manager.list()
    assert [s.station_id for s in listed] == [STATION]
    assert json.loads(listed[0].model_dump_json(by_alias=True))["history"][0]["by"] == "tests"
