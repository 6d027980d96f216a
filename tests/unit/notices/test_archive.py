"""The archive's service on in-memory ports: the behaviour table, who may write and read,
payments, expiry, history, ETag concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from shared.notices import rules
from shared.notices.models import HISTORY_LENGTH, Position, PositionIn
from shared.notices.service import authorize_write, parse_segregation_codes
from shared.platform.errors import Conflict, Forbidden, Invalid, NotFound
from tests.unit.notices.fakes import (
    BROKER,
    EC,
    IBAN,
    OTHER_EC,
    OTHER_IBAN,
    UNREGISTERED_EC,
    World,
    iuv,
    nav,
    position,
)


@pytest.fixture
async def world() -> World:
    return await World().seed()


async def publish(
    world: World, party: str = EC, codes: list[str] | None = None, **fields: Any
) -> Position:
    return await world.archive.publish(
        world.parties[party], position(**fields), segregation_codes=codes, now=world.later()
    )


# ------------------------------------------------------------------ the behaviour table
async def test_absent_with_an_amount_is_created_valid(world: World) -> None:
    created = await publish(world)
    assert created.status == "VALID"
    assert created.company_name == "Comune di Demo"
    assert created.iban == IBAN  # the EC's default IBAN from the registry
    assert created.nav == nav(1)
    assert [c.action for c in created.history] == ["created"]
    assert world.stored(EC, nav(1))["status"] == "VALID"  # type: ignore[index]


async def test_present_with_an_amount_is_updated(world: World) -> None:
    await publish(world)
    updated = await publish(world, amount=99, iban=OTHER_IBAN)
    assert (updated.status, updated.amount, updated.iban) == ("VALID", 99, OTHER_IBAN)
    assert [c.action for c in updated.history] == ["created", "updated"]
    assert updated.history[-1].fields == ["amount", "iban"]


async def test_present_with_amount_zero_is_invalidated(world: World) -> None:
    await publish(world)
    invalid = await publish(world, amount=0)
    assert invalid.status == "INVALID"
    assert invalid.history[-1].action == "invalidated"


async def test_absent_with_amount_zero_is_422(world: World) -> None:
    with pytest.raises(Invalid) as refused:
        await publish(world, amount=0)
    assert refused.value.status == 422
    with pytest.raises(NotFound):
        await world.archive.get(EC, nav(1), now=world.now)


async def test_a_paid_position_is_409(world: World) -> None:
    await publish(world)
    await world.archive.mark_paid(
        EC, nav(1), receipt_id="r-1", paid_at=world.now, by="GW", stand_in=True, now=world.later()
    )
    for amount in (50, 0):
        with pytest.raises(Conflict) as refused:
            await publish(world, amount=amount)
        assert "paid" in refused.value.detail
    assert world.stored(EC, nav(1))["status"] == "PAID"  # type: ignore[index]


async def test_the_same_content_again_changes_nothing(world: World) -> None:
    first = await publish(world)
    again = await publish(world)
    assert again.history == first.history
    assert again.updated_at == first.updated_at


async def test_invalid_or_expired_with_an_amount_is_valid_again(world: World) -> None:
    await publish(world)
    await publish(world, amount=0)
    revived = await publish(world, amount=10)
    assert (revived.status, revived.history[-1].action) == ("VALID", "revalidated")
    await publish(world, n=2, switchToExpired=True, expirationDate="2026-12-08T10:00:00Z")
    world.later(3600)
    assert await world.archive.expire_due(now=world.now) == 1
    assert world.stored(EC, nav(2))["status"] == "EXPIRED"  # type: ignore[index]
    renewed = await publish(world, n=2, switchToExpired=True, expirationDate="2027-06-30T10:00:00Z")
    assert (renewed.status, renewed.history[-1].action) == ("VALID", "revalidated")


# ------------------------------------------------------------------ who may write
async def test_an_ec_writes_only_its_own_positions(world: World) -> None:
    with pytest.raises(Forbidden):
        await publish(world, party=OTHER_EC)
    with pytest.raises(Forbidden):
        await publish(world, paFiscalCode=OTHER_EC)  # EC writing for another EC


async def test_an_intermediary_writes_for_its_ecs_on_its_segregation_codes(world: World) -> None:
    assert (await publish(world, party=BROKER, code="01")).status == "VALID"
    assert (await publish(world, party=BROKER, n=2, code="02", codes=["02"])).status == "VALID"
    with pytest.raises(Forbidden):  # a code the registry does not give it
        await publish(world, party=BROKER, n=3, code="03")
    with pytest.raises(Forbidden):  # the query narrows: 01 is outside it
        await publish(world, party=BROKER, n=4, code="01", codes=["02"])
    with pytest.raises(Forbidden):  # the query cannot widen
        await publish(world, party=BROKER, n=5, code="03", codes=["01", "03"])
    assert (await publish(world, party=BROKER, n=6, code="01", codes=["01", "03"])).iuv
    with pytest.raises(Forbidden):  # an EC it does not act for
        await publish(world, party=BROKER, paFiscalCode=OTHER_EC)


async def test_the_ec_itself_may_narrow_too(world: World) -> None:
    with pytest.raises(Forbidden):
        await publish(world, code="01", codes=["05"])
    assert (await publish(world, code="05", codes=["05"])).status == "VALID"


async def test_an_ec_missing_from_the_registry_is_422(world: World) -> None:
    with pytest.raises(Invalid) as refused:
        await publish(world, party="ALLCODES", paFiscalCode=UNREGISTERED_EC)
    assert refused.value.status == 422


@pytest.mark.parametrize("raw", ["", "1", "001", "01,", "ab", "01;02", "\u0660\u0661"])
def test_malformed_segregation_codes_are_400(raw: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_segregation_codes(raw)
    assert refused.value.status == 400


def test_segregation_codes_parse() -> None:
    assert parse_segregation_codes(None) is None
    assert parse_segregation_codes(" 02,01,02") == ["01", "02"]


async def test_authorize_write_needs_the_iuv_code_within_the_registry(world: World) -> None:
    authorize_write(world.parties["ALLCODES"], unchecked(iuv="99000", nav="399" + "0" * 15), None)
    with pytest.raises(Forbidden):  # no two-digit code at all
        authorize_write(world.parties[BROKER], unchecked(iuv="x", nav="301" + "0" * 15), None)


def unchecked(**fields: Any) -> PositionIn:
    """A body as if its validation had let it through (the authorization stands alone)."""
    return position().model_copy(update=fields)


async def test_a_write_is_authorized_on_its_nav_too(world: World) -> None:
    """The attack: a code-01 IUV with an explicit nav of code 03 reached the EC's code-03
    notice. The model refuses the pair; the authorization checks every identifier anyway."""
    await publish(world, code="03")
    before = world.stored(EC, nav(1, "03"))
    hijack = unchecked(iuv=iuv(1, "01"), nav=nav(1, "03"), amount=1, description="x")
    for codes in (None, ["01"]):
        with pytest.raises(Forbidden):
            authorize_write(world.parties[BROKER], hijack, codes)
        with pytest.raises(Forbidden):
            await world.archive.publish(
                world.parties[BROKER], hijack, segregation_codes=codes, now=world.later()
            )
    with pytest.raises(Forbidden):  # the EC narrowing to 01 may not touch its 03 notice either
        await world.archive.publish(
            world.parties[EC], hijack, segregation_codes=["01"], now=world.later()
        )
    assert world.stored(EC, nav(1, "03")) == before


# ------------------------------------------------------------------ reads
async def test_reads_follow_the_same_rules(world: World) -> None:
    await publish(world, code="01")
    await publish(world, n=2, code="07")
    read = world.archive.read
    assert (await read(world.parties[EC], EC, nav(1), now=world.now)).nav == nav(1)
    assert (await read(world.parties[BROKER], EC, nav(1), now=world.now)).nav == nav(1)
    with pytest.raises(Forbidden):  # code 07 is not the broker's
        await read(world.parties[BROKER], EC, nav(2, "07"), now=world.now)
    with pytest.raises(Forbidden):
        await read(world.parties[OTHER_EC], EC, nav(1), now=world.now)
    with pytest.raises(NotFound):
        await read(world.parties[EC], EC, nav(9), now=world.now)
    with pytest.raises(Invalid):
        await read(world.parties[EC], EC, "123", now=world.now)


async def test_a_read_is_authorized_on_the_nav_before_the_store_is_asked(world: World) -> None:
    read = world.archive.read
    # absent or present, a notice of another code is 403 alike: nothing leaks its existence
    with pytest.raises(Forbidden):
        await read(world.parties[BROKER], EC, nav(9, "07"), now=world.now)
    with pytest.raises(Forbidden):  # aux digit 0: the notice number carries no code
        await read(world.parties[BROKER], EC, "0" + iuv(9), now=world.now)
    # a notice whose identifiers disagree (written before they had to agree): every one counts
    await publish(world, code="03")
    legacy = world.stored(EC, nav(1, "03"))
    assert legacy is not None
    world.store.items[legacy["id"]]["iuv"] = iuv(1, "01")
    with pytest.raises(Forbidden):
        await read(world.parties[BROKER], EC, nav(1, "03"), now=world.now)
    assert (await read(world.parties[EC], EC, nav(1, "03"), now=world.now)).iuv == iuv(1, "01")


async def test_a_valid_position_past_its_date_reads_expired_before_the_timer(world: World) -> None:
    await publish(world, switchToExpired=True, expirationDate="2026-12-08T10:00:00Z")
    await publish(world, n=2, switchToExpired=False, expirationDate="2026-12-08T10:00:00Z")
    later = world.now + timedelta(hours=1)
    assert (await world.archive.get(EC, nav(1), now=later)).status == "EXPIRED"
    assert (await world.archive.get(EC, nav(2), now=later)).status == "VALID"
    assert world.stored(EC, nav(1))["status"] == "VALID"  # type: ignore[index]


# ------------------------------------------------------------------ payments
async def test_payments(world: World) -> None:
    await publish(world)
    paid = await world.archive.mark_paid(
        EC,
        nav(1),
        receipt_id="r-1",
        paid_at=world.now,
        by="GATEWAY",
        stand_in=True,
        now=world.later(),
    )
    assert (paid.status, paid.receipt_id) == ("PAID", "r-1")
    assert paid.history[-1].model_dump(include={"action", "by", "receipt_id"}) == {
        "action": "paid",
        "by": "GATEWAY",
        "receipt_id": "r-1",
    }
    again = await world.archive.mark_paid(
        EC,
        nav(1),
        receipt_id="r-1",
        paid_at=world.now,
        by="GATEWAY",
        stand_in=True,
        now=world.later(),
    )
    assert again.history == paid.history
    with pytest.raises(Conflict):
        await world.archive.mark_paid(
            EC,
            nav(1),
            receipt_id="r-2",
            paid_at=world.now,
            by="GATEWAY",
            stand_in=False,
            now=world.later(),
        )
    with pytest.raises(NotFound):
        await world.archive.mark_paid(
            EC,
            nav(9),
            receipt_id="r-3",
            paid_at=world.now,
            by="GATEWAY",
            stand_in=False,
            now=world.now,
        )


async def test_stand_in_pays_only_payable_positions(world: World) -> None:
    await publish(world, n=1, payStandIn=False)
    await publish(world, n=2, switchToExpired=True, expirationDate="2026-12-08T09:00:00Z")
    await publish(world, n=3)
    await publish(world, n=3, amount=0)
    for n in (1, 2, 3):
        with pytest.raises(Conflict):
            await world.archive.mark_paid(
                EC,
                nav(n),
                receipt_id=f"r{n}",
                paid_at=world.now,
                by="GATEWAY",
                stand_in=True,
                now=world.now,
            )
    # the EC's own system took the payment: the archive records it whatever it knew
    paid = await world.archive.mark_paid(
        EC, nav(3), receipt_id="r3", paid_at=world.now, by="GATEWAY", stand_in=False, now=world.now
    )
    assert paid.status == "PAID"


# ------------------------------------------------------------------ expiry and history
async def test_the_timer_expires_only_what_is_due(world: World) -> None:
    await publish(world, n=1, switchToExpired=True, expirationDate="2026-12-08T12:00:00Z")
    await publish(world, n=2, switchToExpired=True, expirationDate="2026-12-09T12:00:00Z")
    await publish(world, n=3, switchToExpired=False, expirationDate="2026-12-08T12:00:00Z")
    await publish(world, n=4, switchToExpired=True, expirationDate="2026-12-08T12:00:00Z")
    await publish(world, n=4, amount=0, switchToExpired=True, expirationDate="2026-12-08T12:00:00Z")
    noon = world.now.replace(hour=12)
    assert await world.archive.expire_due(now=noon) == 1
    assert await world.archive.expire_due(now=noon) == 0
    statuses = {n: world.stored(EC, nav(n))["status"] for n in (1, 2, 3, 4)}  # type: ignore[index]
    assert statuses == {1: "EXPIRED", 2: "VALID", 3: "VALID", 4: "INVALID"}
    expired = await world.archive.get(EC, nav(1), now=noon)
    assert expired.history[-1].model_dump(include={"action", "by"}) == {
        "action": "expired",
        "by": "archive",
    }


async def test_history_keeps_the_last_changes(world: World) -> None:
    for amount in range(1, HISTORY_LENGTH + 6):
        position = await publish(world, amount=amount)
    assert len(position.history) == HISTORY_LENGTH
    assert position.history[-1].fields == ["amount"]
    assert position.history[0].action == "updated"


# ------------------------------------------------------------------ concurrency
async def test_concurrent_writes_lose_no_update(world: World) -> None:
    """Writes racing on one notice: ETags make each decide on what it read; the newest wins
    and every change that applied is in the history."""
    await publish(world)
    party = world.parties[EC]
    ec = await world.archive.ecs.get(EC)
    writes = [
        rules.Write(
            position=position(amount=100 + i),
            key=rules.order_key(world.later(), "s", i),
            by=party.party_id,
            at=world.now,
            source="api",
            company_name=ec.name,
        )
        for i in range(12)
    ]
    outcomes = await asyncio.gather(*(world.archive.apply(w) for w in reversed(writes)))
    final = world.stored(EC, nav(1))
    assert final is not None
    assert final["amount"] == 111
    assert final["version"] == writes[-1].key
    assert world.store.conflicts > 0  # the race happened, and ETags resolved it
    applied = sum(1 for outcome, _ in outcomes if outcome == "updated")
    assert len(final["history"]) == 1 + applied


async def test_a_tombstone_stays_hidden(world: World) -> None:
    with pytest.raises(Invalid):
        await publish(world, amount=0)
    assert world.stored(EC, nav(1))["tombstone"] is True  # type: ignore[index]
    with pytest.raises(NotFound):
        await world.archive.mark_paid(
            EC, nav(1), receipt_id="r", paid_at=world.now, by="GW", stand_in=False, now=world.now
        )
    assert await world.archive.expire_due(now=world.now + timedelta(days=999)) == 0
    created = await publish(world)  # a newer create replaces it
    assert created.status == "VALID"
    assert [c.action for c in created.history] == ["created"]
