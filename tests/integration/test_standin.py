"""The stand-in gateway, manager and receipts against the emulators (Cosmos, Service Bus) with
the real composition root and an injected clock: locks under concurrency, token lifetimes,
outcomes, refusals, traffic counting and the entry rule on recorded traffic."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from functions.root import Root
from local.devclock import DevClock
from local.ecsim import Notice, control
from local.platform import DEMO_STATION_SECRET, Platform
from shared.journal.service import ROME, JournalFilter
from shared.parties.models import Party, PartyIn
from shared.platform.clients import Clients
from shared.platform.clock import FixedClock
from shared.platform.errors import (
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    PermanentError,
    RescheduleLater,
    UpstreamFailed,
)
from shared.platform.outbox import pending
from shared.standin import rules
from shared.standin.models import ActivateIn, ForceIn, NoticeRef, OutcomeIn
from shared.standin.payments import (
    PAYMENT_IN_PROGRESS,
    RECEIPT_REUSED,
    TOKEN_NOT_LIVE,
    token_notice,
)
from shared.standin.soapstation import receipt_request
from shared.standin.store import receipt_key, station_key
from shared.standin.traffic import Traffic, by_station
from tests.servicebus_tools import receive
from tests.unit.notices.fakes import EC, NOW, nav, position

STATION = f"{EC}_07"
PSP = "TESTPSP"
DOWN = "http://127.0.0.1:9/ec/v1"  # nothing listens on port 9: connection refused


@dataclass
class World:
    root: Root
    clock: FixedClock
    start: datetime
    """The dev clock's time when the world was built: the EC simulator follows the dev clock,
    which earlier tests may have moved by years."""
    ec: Party
    psp: Party
    node: Party
    connection: str
    queue: str

    async def publish(self, n: int, **fields: Any) -> str:
        fields.setdefault("expirationDate", (self.start + timedelta(days=400)).isoformat())
        await self.root.notices().publish(
            self.ec, position(n, **fields), segregation_codes=None, now=self.clock.now()
        )
        return nav(n)

    async def force(self, mode: str) -> None:
        await self.root.standin_manager().force(
            STATION, ForceIn(mode=mode, reason="test"), by="tests", now=self.clock.now()
        )  # type: ignore[arg-type]

    async def activate(
        self,
        number: str,
        key: str = "k1",
        *,
        amount: int = 12_050,
        psp: str = PSP,
        by: Party | None = None,
        lifetime: timedelta | None = None,
    ) -> Any:
        return await self.root.standin_gateway().activate(
            by or self.psp,
            ActivateIn(
                pa_fiscal_code=EC,
                notice_number=number,
                amount=amount,
                idempotency_key=key,
                psp_id=psp,
            ),
            now=self.clock.now(),
            lifetime=lifetime,
        )

    async def outcome(
        self,
        token: str,
        receipt: str = "r1",
        outcome: str = "OK",
        *,
        by: Party | None = None,
        psp: str = PSP,
    ) -> Any:
        return await self.root.standin_gateway().outcome(
            by or self.psp,
            OutcomeIn.model_validate(
                {
                    "paymentToken": token,
                    "outcome": outcome,
                    "pspId": psp,
                    "receiptId": receipt,
                    "paymentDateTime": self.clock.now().isoformat(),
                    "paymentMethod": "CP",
                    "fee": 100,
                }
            ),
            now=self.clock.now(),
        )

    async def verify(self, number: str) -> Any:
        return await self.root.standin_gateway().verify(
            self.psp, NoticeRef(pa_fiscal_code=EC, notice_number=number), now=self.clock.now()
        )


@contextlib.asynccontextmanager
async def built(platform: Platform, endpoint: str, **overrides: str) -> AsyncIterator[World]:
    """``overrides``: settings, by name, as the environment would give them."""
    queue = f"standin-receipts-{uuid.uuid4().hex[:8]}"
    settings = platform.provision(f"standin-{uuid.uuid4().hex[:8]}", overrides)
    settings = settings.model_copy(
        update={"standin_receipts_queue": queue, "standin_station_timeout_seconds": 1.0}
    )
    clients = Clients(settings)
    start = DevClock(platform.clock_file).now().replace(microsecond=0)
    clock = FixedClock(start)
    root = Root(clients, clock)
    registry = root.parties()

    async def register(party_id: str, role: str, **extra: Any) -> Party:
        return await registry.register(
            PartyIn.model_validate({"partyId": party_id, "name": party_id, "role": role, **extra}),
            now=start,
        )

    ec = await register(EC, "ec", stations=[STATION], defaultIban="IT60X0542811101000000123456")
    await register(
        STATION, "station", actsFor={EC: []}, endpoint=endpoint, secretName=DEMO_STATION_SECRET
    )
    psp = await register(PSP, "psp")
    node = await register("NODE", "node")
    try:
        yield World(root, clock, start, ec, psp, node, settings.servicebus_connection or "", queue)
    finally:
        # the archive's events go out after each write (an outbox's flush): let them finish
        await root.drain_outboxes()
        await clients.close()


@pytest.fixture
async def world(platform: Platform) -> AsyncIterator[World]:
    """A world whose station is down: nothing listens at its endpoint."""
    async with built(platform, DOWN) as made:
        yield made


@pytest.fixture
async def live_world(platform: Platform, ec_control: str) -> AsyncIterator[World]:
    """A world whose station is the EC simulator."""
    async with built(platform, platform.ecsim.soap_url) as made:
        yield made


async def test_stand_in_pays_from_the_archive_and_queues_the_receipt(world: World) -> None:
    number = await world.publish(1)
    await world.force("STANDIN")
    verified = await world.verify(number)
    assert verified.stand_in
    assert verified.amount == 12_050
    assert verified.company_name == EC  # the registry's name of the EC
    activation = await world.activate(number)
    assert activation.stand_in
    assert token_notice(activation.payment_token) == (EC, number)
    assert activation.expires_at == world.start + timedelta(minutes=30)
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
        {"paFiscalCode": EC, "noticeNumber": number, "receiptId": "r1"}
    ]
    payment = await world.root.standin.store.get((f"payment:{EC}:{number}", f"{EC}:{number}"))
    assert payment is not None
    assert [e["data"]["receiptId"] for e in payment["outbox"]] == ["r1"]  # sent, not cleared
    assert payment["paid"]["standIn"] is True
    # the delivery's lease clears it (the EC is down here: the delivery is rescheduled)
    with pytest.raises(RescheduleLater):
        await world.root.standin_receipts().deliver(
            json.dumps(messages[0]["body"]).encode(), now=world.clock.now()
        )
    payment = await world.root.standin.store.get((f"payment:{EC}:{number}", f"{EC}:{number}"))
    assert payment is not None
    assert payment["outbox"] == []

    with pytest.raises(Conflict) as refused:
        await world.activate(number, "another-key")
    assert refused.value.code == rules.ALREADY_PAID


async def test_fifty_concurrent_activations_give_exactly_one_token(world: World) -> None:
    number = await world.publish(2)
    await world.force("STANDIN")
    results = await asyncio.gather(
        *(world.activate(number, f"key-{i}") for i in range(50)), return_exceptions=True
    )
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
        (await world.publish(11, payStandIn=False), 12_050, Invalid, rules.NOT_PAYABLE_IN_STAND_IN),
        (
            await world.publish(
                12,
                switchToExpired=True,
                expirationDate=(world.start - timedelta(seconds=1)).isoformat(),
            ),
            12_050,
            Gone,
            rules.EXPIRED,
        ),
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
    # Past its due date, a notice whose EC did not ask it to expire stays payable.
    overdue = await world.publish(
        15, switchToExpired=False, expirationDate=(world.start - timedelta(seconds=1)).isoformat()
    )
    assert (await world.activate(overdue)).stand_in


async def test_a_token_lives_what_the_psp_asks_but_never_past_the_policy(world: World) -> None:
    await world.force("STANDIN")
    short = await world.activate(await world.publish(16), lifetime=timedelta(minutes=1))
    assert short.expires_at == world.start + timedelta(minutes=1)
    long = await world.activate(await world.publish(17), lifetime=timedelta(hours=2))
    assert long.expires_at == world.start + timedelta(minutes=30)


async def test_a_psp_may_only_pay_as_itself(world: World) -> None:
    number = await world.publish(20)
    await world.force("STANDIN")
    with pytest.raises(Forbidden):
        await world.activate(number, psp="OTHERPSP")
    as_node = await world.root.standin_gateway().activate(
        world.node,
        ActivateIn(
            pa_fiscal_code=EC,
            notice_number=number,
            amount=12_050,
            idempotency_key="n",
            psp_id="OTHERPSP",
        ),
        now=world.clock.now(),
    )
    with pytest.raises(Forbidden):
        await world.outcome(as_node.payment_token)  # the token belongs to OTHERPSP


async def test_another_psp_learns_nothing_from_a_token_that_is_not_its_own(world: World) -> None:
    other = await world.root.parties().register(
        PartyIn.model_validate({"partyId": "OTHERPSP", "name": "OTHERPSP", "role": "psp"}),
        now=world.start,
    )
    paid_number, live_number, released_number = [await world.publish(n) for n in (21, 22, 23)]
    await world.force("STANDIN")
    paid = (await world.activate(paid_number)).payment_token
    assert (await world.outcome(paid, "r-paid")).status == "PAID"
    live = (await world.activate(live_number)).payment_token
    released = (await world.activate(released_number)).payment_token
    assert (await world.outcome(released, "r-ko", "KO")).status == "RELEASED"
    await world.activate(released_number, "after-ko", psp="OTHERPSP", by=other)  # a new token

    # Repeating another PSP's outcome (its token, its receipt id) must not answer as a repeat:
    # the answer would tell the notice, the mode and that it was paid.
    for token, receipt, outcome in (
        (paid, "r-paid", "OK"),
        (released, "r-ko", "KO"),
        (live, "r-steal", "OK"),
    ):
        for caller in (other, world.node):
            with pytest.raises(Forbidden):
                await world.outcome(token, receipt, outcome, by=caller, psp="OTHERPSP")
    # A refused outcome claimed nothing: the token's PSP pays with that very receipt id.
    assert (await world.outcome(live, "r-steal")).status == "PAID"
    assert (await world.outcome(paid, "r-paid")).status == "PAID"  # its own repeat still works


async def test_a_receipt_id_pays_one_notice_of_an_ec(world: World) -> None:
    first, second, third, fourth = [await world.publish(n) for n in (24, 25, 26, 27)]
    await world.force("STANDIN")
    tokens = [(await world.activate(n)).payment_token for n in (first, second, third, fourth)]
    assert (await world.outcome(tokens[0], "r-once")).status == "PAID"
    # The EC would answer the second receipt "duplicate" and it would be lost: refused here.
    with pytest.raises(Conflict) as reused:
        await world.outcome(tokens[1], "r-once")
    assert reused.value.code == RECEIPT_REUSED
    with pytest.raises(Conflict):
        await world.outcome(tokens[1], "r-once", "KO")
    second_now = await world.root.notices().get(EC, second, now=world.clock.now())
    assert second_now.status == "VALID"
    assert (await world.outcome(tokens[1], "r-other")).status == "PAID"
    assert (await world.outcome(tokens[0], "r-once")).status == "PAID"  # the repeat is still one

    # Two outcomes racing with one receipt id on two notices: exactly one pays.
    raced = await asyncio.gather(
        world.outcome(tokens[2], "r-race"),
        world.outcome(tokens[3], "r-race"),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in raced) == ["Conflict", "OutcomeOut"]
    paid_documents = [
        await world.root.standin.store.get((f"payment:{EC}:{n}", f"{EC}:{n}"))
        for n in (third, fourth)
    ]
    assert [(d or {}).get("paid") is not None for d in paid_documents].count(True) == 1


async def test_a_receipt_id_that_is_the_payment_token_pays_without_a_claim(world: World) -> None:
    # SANP's receipt id is the payment token (every outcome of the SOAP endpoint).
    first, second = [await world.publish(n) for n in (32, 33)]
    await world.force("STANDIN")
    tokens = [(await world.activate(n)).payment_token for n in (first, second)]
    assert (await world.outcome(tokens[0], tokens[0])).status == "PAID"
    assert await world_store(world).get(receipt_key(EC, tokens[0])) is None
    assert (await world.root.notices().get(EC, first, now=world.clock.now())).status == "PAID"
    assert (await world.outcome(tokens[0], tokens[0])).status == "PAID"  # a repeat is one
    # No other payment may take that token as its receipt id.
    with pytest.raises(Conflict) as reused:
        await world.outcome(tokens[1], tokens[0])
    assert reused.value.code == RECEIPT_REUSED
    assert (await world.root.notices().get(EC, second, now=world.clock.now())).status == "VALID"


async def test_normal_mode_counts_a_down_station_and_the_manager_enters_stand_in(
    world: World,
) -> None:
    number = await world.publish(30)
    # 12:00 Rome on a Tuesday; one call per minute for 30 minutes, all unreachable.
    world.clock.set(world.start.replace(hour=11, minute=0))  # 12:00 or 13:00 in Rome
    for _ in range(30):
        with pytest.raises(UpstreamFailed) as failed:
            await world.verify(number)
        assert failed.value.status == 502
        assert failed.value.code == "STATION_UNREACHABLE"
        world.clock.advance(60)
    stats = await world.root.standin.store.stats_since("2000-01-01")
    assert sum(d["counts"]["unreachable"] for d in stats) == 30
    changes = await world.root.standin_manager().evaluate(now=world.clock.now())
    assert [(c.event, c.mode) for c in changes] == [("entered", "STANDIN")]
    station = await world.root.standin_manager().get(STATION)
    assert station.automatic_mode == "STANDIN"
    assert station.last_evaluation is not None
    assert station.last_evaluation.faulty_slots == 6
    assert station.last_evaluation.share == 1.0
    # the EC's journal is told, by an event the station's write put in its outbox
    document = await world.root.standin.store.get(station_key(STATION))
    assert document is not None
    [told] = [e for e in pending(document) if e.type == "StationStandInEntered"]
    assert (told.data["stationId"], told.data["by"]) == (STATION, "stand-in manager")
    (entry,) = await world.root.journal.take_event(told.outgoing().body)  # the station's EC
    assert entry.ec == EC
    assert (entry.kind, entry.object, entry.fields["reason"]) == (
        "station.standin.entered",
        STATION,
        changes[0].reason,
    )
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


async def test_an_excluded_station_never_enters_stand_in_however_faulty(
    platform: Platform,
) -> None:
    async with built(platform, DOWN, STANDIN_EXCLUDED_STATIONS=f"{STATION}, {EC}_99") as world:
        number = await world.publish(31)
        world.clock.set(world.start.replace(hour=11, minute=0))
        for _ in range(30):
            with pytest.raises(UpstreamFailed):
                await world.verify(number)
            world.clock.advance(60)
        manager = world.root.standin_manager()
        assert await manager.evaluate(now=world.clock.now()) == []
        station = await manager.get(STATION)
        assert station.mode == "NORMAL"
        assert station.last_evaluation is not None
        assert station.last_evaluation.faulty_slots == 6
        assert station.last_evaluation.share == 1.0
        assert not station.last_evaluation.enter
        with pytest.raises(UpstreamFailed):  # still forwarded to the station, never the archive
            await world.verify(number)
        # an operator may still put it there
        await world.force("STANDIN")
        assert (await world.verify(number)).stand_in


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
        await manager.force("NOSUCHSTATION", ForceIn(mode="STANDIN", reason="x"), by="t", now=NOW)
    listed = await manager.list()
    assert [s.station_id for s in listed] == [STATION]
    assert json.loads(listed[0].model_dump_json(by_alias=True))["history"][0]["by"] == "tests"


# ------------------------------------------------------------------ a live EC (the simulator)


async def at_ec(world: World, ec_control: str, n: int, amount: int = 12_050) -> str:
    """Notice ``n`` in the archive and at the EC (the EC's own amount: ``amount``)."""
    number = await world.publish(n)
    await asyncio.to_thread(
        control.put_notices,
        ec_control,
        [Notice(EC, number, amount, world.start + timedelta(days=60), "TARI 2026", "Comune (EC)")],
    )
    return number


async def counted(world: World) -> dict[str, int]:
    totals: dict[str, int] = {}
    for doc in await world.root.standin.store.stats_since("2000-01-01"):
        for outcome, n in doc["counts"].items():
            totals[outcome] = totals.get(outcome, 0) + n
    return totals


def receipt_message(number: str, receipt: str) -> bytes:
    return json.dumps(
        {
            "id": "e",
            "type": "standin.receipt",
            "data": {"paFiscalCode": EC, "noticeNumber": number, "receiptId": receipt},
        }
    ).encode()


async def test_normal_mode_forwards_and_queues_a_receipt_marked_not_stand_in(
    live_world: World, ec_control: str
) -> None:
    world = live_world
    number = await at_ec(world, ec_control, 40)
    verified = await world.verify(number)
    assert not verified.stand_in
    assert verified.company_name == "Comune (EC)"  # the EC's answer, not the archive's
    activation = await world.activate(number)
    assert not activation.stand_in
    assert activation.description == "TARI 2026"
    # paGetPaymentV2 carries no token: our lock, not the EC's, holds the notice.
    with pytest.raises(Conflict) as locked:
        await world.activate(number, "other")  # refused by our lock, in either mode
    assert locked.value.code == PAYMENT_IN_PROGRESS
    assert (await world.activate(number)).payment_token == activation.payment_token

    paid = await world.outcome(activation.payment_token, "r-normal")
    assert paid.status == "PAID"
    assert not paid.stand_in
    assert (await world.root.notices().get(EC, number, now=world.start)).status == "PAID"
    receipts = world.root.standin_receipts()
    message = receipt_message(number, "r-normal")
    assert await receipts.deliver(message, now=world.start) == "delivered"
    assert await receipts.deliver(message, now=world.start) == "already delivered"
    got = await asyncio.to_thread(control.receipts, ec_control)
    assert got["deliveries"]["r-normal"] == 1
    day = world.start.astimezone(ROME).date()
    delivered = JournalFilter(day, day, kind="receipt.delivered")
    journal = await world.root.journal.search(EC, delivered, cursor=None, limit=10)
    assert [(e.id, e.object) for e in journal.items] == [("receipt-r-normal", number)]
    sent = next(r for r in got["receipts"] if r["receiptId"] == "r-normal")
    assert sent["standIn"] is False
    assert sent["fee"] == 100
    assert await counted(world) == {"ok": 2}  # verify and activate; the receipt is not traffic


async def test_an_ec_refusal_comes_back_as_it_is_and_frees_the_notice(
    live_world: World, ec_control: str
) -> None:
    world = live_world
    number = await at_ec(world, ec_control, 41, amount=9_999)  # the EC disagrees on the amount
    with pytest.raises(Invalid) as refused:
        await world.activate(number, "first")
    assert refused.value.code == "PAA_SEMANTICA"
    assert refused.value.status == 422
    with pytest.raises(NotFound) as unknown:
        await world.verify(nav(42))  # in the archive of nobody, unknown to the EC
    assert unknown.value.code == "PAA_PAGAMENTO_SCONOSCIUTO"
    second = await world.activate(number, "second", amount=9_999)  # the lock was released
    assert second.amount == 9_999
    assert await counted(world) == {"ok": 3}


async def test_each_station_failure_is_counted_as_what_it_was(
    live_world: World, ec_control: str
) -> None:
    world = live_world
    number = await at_ec(world, ec_control, 43)
    await asyncio.to_thread(control.set_behaviour, ec_control, not_active_fraction=1.0)
    with pytest.raises(UpstreamFailed) as not_active:
        await world.verify(number)
    assert not_active.value.code == "STATION_NOT_ACTIVE"
    assert not_active.value.status == 502
    await asyncio.to_thread(
        control.set_behaviour, ec_control, not_active_fraction=0, timeout_fraction=1.0
    )
    with pytest.raises(UpstreamFailed) as timed_out:
        await world.activate(number)
    assert timed_out.value.status == 504
    assert timed_out.value.code == "STATION_TIMEOUT"
    await asyncio.to_thread(control.set_behaviour, ec_control, timeout_fraction=0, state="down")
    with pytest.raises(UpstreamFailed):
        await world.verify(number)
    await asyncio.to_thread(control.set_behaviour, ec_control, state="up")
    assert (await world.activate(number, "after")).payment_token  # released after the timeout
    assert await counted(world) == {"notActive": 1, "timeout": 1, "unreachable": 1, "ok": 1}


DEMO_IBAN_FOR_TESTS = "IT60X0542811101000000123456"


async def test_receipts_wait_while_the_ec_is_down_and_a_duplicate_is_success(
    live_world: World, ec_control: str
) -> None:
    world = live_world
    number = await at_ec(world, ec_control, 44)
    await world.force("STANDIN")
    token = (await world.activate(number)).payment_token
    await world.outcome(token, "r-wait")
    receipts = world.root.standin_receipts()
    message = receipt_message(number, "r-wait")
    await asyncio.to_thread(control.set_behaviour, ec_control, state="down")
    with pytest.raises(RescheduleLater, match="unreachable"):
        await receipts.deliver(message, now=world.start)
    with pytest.raises(RescheduleLater, match="being delivered"):  # the lease of that attempt
        await receipts.deliver(message, now=world.start + timedelta(seconds=5))
    await asyncio.to_thread(control.set_behaviour, ec_control, state="up")
    # the EC got it from an attempt whose answer was lost: it says duplicate, which is success
    paid = (await world.root.standin.store.get((f"payment:{EC}:{number}", f"{EC}:{number}")) or {})[
        "paid"
    ]
    client = world.root.standin.station_client
    station = await world.root.standin.stations.get(STATION)
    first = await client.call(
        station,
        "receipt",
        receipt_request(
            station, paid, position=None, ec_name=EC, psp_name=PSP, iban=DEMO_IBAN_FOR_TESTS
        ),
    )
    assert first.accepted
    later = world.start + timedelta(minutes=2)
    assert await receipts.deliver(message, now=later) == "duplicate"
    assert await receipts.deliver(message, now=later) == "already delivered"
    with pytest.raises(PermanentError):
        await receipts.deliver(receipt_message(number, "r-other"), now=later)
    with pytest.raises(PermanentError):
        await receipts.deliver(b"{not json", now=later)


async def test_leaving_needs_an_hour_and_more_than_six_good_probes(
    live_world: World, ec_control: str
) -> None:
    world = live_world
    manager = world.root.standin_manager()
    number = await at_ec(world, ec_control, 45)
    await asyncio.to_thread(control.set_behaviour, ec_control, state="down")
    world.clock.set(world.start.replace(hour=11, minute=0))  # 12:00 or 13:00 in Rome
    for _ in range(6):
        with pytest.raises(UpstreamFailed):
            await world.verify(number)
        world.clock.advance(300)
    entered = await manager.evaluate(now=world.clock.now())
    assert [c.event for c in entered] == ["entered"]
    entered_at = world.clock.now()
    await asyncio.to_thread(control.set_behaviour, ec_control, state="up")
    left_after: list[int] = []
    for run in range(1, 15):
        world.clock.advance(300)
        if await manager.evaluate(now=world.clock.now()):
            left_after.append(run)
    assert left_after == [12]  # 12 good probes, but only after 60 minutes
    station = await manager.get(STATION)
    assert station.mode == "NORMAL"
    assert station.since == entered_at + timedelta(minutes=60)
    assert station.history[-1].reason.startswith("12 successful probes")
    assert not (await world.verify(number)).stand_in


async def test_traffic_counts_are_exact_and_written_coalesced(live_world: World) -> None:
    traffic = Traffic(world_store(live_world))
    writes = 0
    real_upsert = live_world.root.standin.store.upsert

    async def counting(document: dict[str, Any]) -> dict[str, Any]:
        nonlocal writes
        writes += 1
        return await real_upsert(document)

    traffic._store = SimpleNamespace(upsert=counting)  # type: ignore[assignment]
    await asyncio.gather(
        *(
            traffic.record("S1" if i % 2 else "S2", "ok" if i % 3 else "timeout", now=NOW)
            for i in range(200)
        )
    )
    totals = by_station(await world_store(live_world).stats_since("2000-01-01"))
    assert sum(sum(c.values()) for c in totals["S1"].values()) == 100
    assert sum(sum(c.values()) for c in totals["S2"].values()) == 100
    assert sum(c["timeout"] for s in totals.values() for c in s.values()) == 67
    assert writes < 200 / 4  # one writer at a time writes what accumulated meanwhile


def world_store(world: World) -> Any:
    return world.root.standin.store
