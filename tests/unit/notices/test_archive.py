"""The archive's service on in-memory ports: pagoPA's behaviour table (IUPD identity, 409 for
INVALID and PAID, 404 for an unknown EC, 422), who may write and read, the answer's fields,
navs that are not "3" + iuv, payments, expiry, history, ETag concurrency, the re-key."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from shared.notices import rules
from shared.notices.access import SegregationRefused, authorize_write, parse_segregation_codes
from shared.notices.identity import iupd, legacy_position_id, position_id
from shared.notices.models import HISTORY_LENGTH, DebtPositionResponse, Position, PositionIn
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
    party,
    position,
)


@pytest.fixture
async def world() -> World:
    return await World().seed()


async def publish(
    world: World, party: str = EC, codes: list[str] | None = None, **fields: Any
) -> DebtPositionResponse:
    return await world.archive.publish(
        world.parties[party], position(**fields), segregation_codes=codes, now=world.later()
    )


def stored(world: World, n: int = 1, code: str = "01") -> Position:
    """The stored position of IUV ``iuv(n, code)``, as the archive's own routes show it."""
    document = world.stored_iuv(EC, iuv(n, code))
    assert document is not None
    assert rules.is_present(document)
    return rules.as_position(document, now=world.now)


# ------------------------------------------------------------------ the behaviour table
async def test_absent_with_an_amount_is_created_valid(world: World) -> None:
    created = await publish(world)
    assert created.model_dump(mode="json", by_alias=True) == {
        "paFiscalCode": EC,
        "companyName": "Comune di Demo",
        "entityType": "F",
        "entityFiscalCode": "RSSMRA85T10A562S",
        "entityFullName": "Mario Rossi",
        "iuv": iuv(1),
        "nav": nav(1),
        "amount": 12_050,
        "description": "TARI 2026",
        "expirationDate": "2027-01-31T23:00",
        "iban": IBAN,  # the EC's default IBAN from the registry
        "switchToExpired": False,
        "status": "VALID",
    }
    assert [c.action for c in stored(world).history] == ["created"]
    assert stored(world).iupd == f"ACA_{EC}_{iuv(1)}"


async def test_present_with_an_amount_is_updated(world: World) -> None:
    await publish(world)
    updated = await publish(world, amount=99, iban=OTHER_IBAN)
    assert (updated.status, updated.amount, updated.iban) == ("VALID", 99, OTHER_IBAN)
    assert [c.action for c in stored(world).history] == ["created", "updated"]
    assert stored(world).history[-1].fields == ["amount", "iban"]


async def test_present_with_amount_zero_is_invalidated(world: World) -> None:
    await publish(world)
    invalid = await publish(world, amount=0)
    assert invalid.status == "INVALID"
    assert stored(world).history[-1].action == "invalidated"


async def test_absent_with_amount_zero_is_422(world: World) -> None:
    with pytest.raises(Invalid) as refused:
        await publish(world, amount=0)
    assert refused.value.status == 422
    with pytest.raises(NotFound):
        await world.archive.get(EC, nav(1), now=world.now)


@pytest.mark.parametrize("amount", [50, 0])
async def test_an_invalid_position_refuses_updates_and_invalidations_409(
    world: World, amount: int
) -> None:
    await publish(world)
    await publish(world, amount=0)
    before = world.stored(EC, nav(1))
    with pytest.raises(Conflict) as refused:
        await publish(world, amount=amount)
    assert refused.value.status == 409
    assert "INVALID" in refused.value.detail
    assert world.stored(EC, nav(1)) == before


async def test_a_paid_position_is_409(world: World) -> None:
    await publish(world)
    await world.archive.mark_paid(
        EC, nav(1), receipt_id="r-1", paid_at=world.now, by="GW", stand_in=True, now=world.later()
    )
    for amount in (50, 0):
        with pytest.raises(Conflict) as refused:
            await publish(world, amount=amount)
        assert "paid" in refused.value.detail
    assert stored(world).status == "PAID"


async def test_the_same_content_again_changes_nothing(world: World) -> None:
    await publish(world)
    first = stored(world)
    await publish(world)
    assert stored(world).history == first.history
    assert stored(world).updated_at == first.updated_at


async def test_an_expired_position_is_updated_valid_again(world: World) -> None:
    await publish(world, n=2, switchToExpired=True, expirationDate="2026-12-08T10:00:00Z")
    world.later(3600)
    assert await world.archive.expire_due(now=world.now) == 1
    assert stored(world, 2).status == "EXPIRED"
    renewed = await publish(world, n=2, switchToExpired=True, expirationDate="2027-06-30T10:00:00Z")
    assert renewed.status == "VALID"
    assert stored(world, 2).history[-1].action == "revalidated"
    assert (await publish(world, n=2, amount=0)).status == "INVALID"  # and can be invalidated


async def test_an_unknown_ec_is_404(world: World) -> None:
    with pytest.raises(NotFound):
        await publish(world, party="ALLCODES", paFiscalCode=UNREGISTERED_EC)
    with pytest.raises(NotFound):  # not even a registry id: no store is asked
        await publish(world, paFiscalCode="7777/777777")
    acquirer = party("ACQ00000000", "acquirer")
    await world.registry.register(acquirer, now=world.now)
    with pytest.raises(NotFound):  # registered, but not an EC
        await publish(world, party="ALLCODES", paFiscalCode="ACQ00000000")


# ------------------------------------------------------------------ identity: the IUPD
async def test_the_same_iuv_with_another_nav_is_the_same_position(world: World) -> None:
    await publish(world, iuv="01-ABC")
    again = await publish(world, iuv="01-ABC", nav="0" + "5" * 17, amount=99)
    assert (again.nav, again.amount) == ("301-ABC", 99)  # the nav is the one it was created with
    documents = [d for d in world.store.items.values() if d.get("kind") == "position"]
    assert [d["iupd"] for d in documents] == [iupd(EC, "01-ABC")]
    assert documents[0]["id"] == position_id(EC, "01-ABC") == "ACA_77777777777_01-ABC"


async def test_an_iuv_that_is_no_plain_id_is_stored_under_its_hash(world: World) -> None:
    odd = "01/?#\\ " + "x" * 245
    created = await publish(world, iuv=odd)
    document = world.stored_iuv(EC, odd)
    assert document is not None
    assert document["id"].startswith("ACA~")
    assert len(document["id"]) == 68
    assert (document["iupd"], created.iuv) == (f"ACA_{EC}_{odd}", odd)


async def test_a_nav_that_is_not_3_plus_iuv_is_kept_and_found(world: World) -> None:
    short = await publish(world, iuv="01ABC", nav="ABC-42")
    assert short.nav == "ABC-42"
    found = await world.archive.read(world.parties[EC], EC, "ABC-42", now=world.now)
    assert found.iuv == "01ABC"
    aux0 = await publish(world, n=2, nav="0" + "1" * 17)
    assert (await world.archive.get(EC, "0" + "1" * 17, now=world.now)).iuv == aux0.iuv
    # the default nav of that IUV names nothing: the position's nav is another
    with pytest.raises(NotFound):
        await world.archive.get(EC, nav(2), now=world.now)


async def test_a_nav_not_of_18_digits_cannot_go_through_the_node(world: World) -> None:
    await publish(world, iuv="01ABC", nav="ABC-42")
    with pytest.raises(Invalid) as refused:
        await world.archive.get(EC, "ABC-42", now=world.now)
    assert "cannot be paid through the node, printed or QR-encoded" in refused.value.detail
    with pytest.raises(Invalid):
        await world.archive.mark_paid(
            EC, "ABC-42", receipt_id="r", paid_at=world.now, by="GW", stand_in=True, now=world.now
        )


async def test_two_positions_cannot_hold_one_nav(world: World) -> None:
    await publish(world, n=1, nav="0" + "9" * 17)
    with pytest.raises(Conflict) as refused:
        await publish(world, n=2, nav="0" + "9" * 17)
    assert refused.value.status == 409
    assert world.stored_iuv(EC, iuv(2)) is None


async def test_a_stale_nav_claim_is_taken_over(world: World) -> None:
    """A claim whose position never got stored (the writer died in between) is left to its
    writer for a minute, then another position may take the nav."""
    world.store.items[f"NAV_{EC}_0{'9' * 17}"] = {
        "id": f"NAV_{EC}_0{'9' * 17}",
        "pk": f"NAV_{EC}_0{'9' * 17}",
        "kind": "nav",
        "paFiscalCode": EC,
        "nav": "0" + "9" * 17,
        "position": position_id(EC, iuv(7)),
        "at": rules.fixed_time(world.now),
        "_etag": "e",
    }
    with pytest.raises(Conflict):
        await publish(world, n=2, nav="0" + "9" * 17)
    world.later(61)
    assert (await publish(world, n=2, nav="0" + "9" * 17)).nav == "0" + "9" * 17


async def test_a_nav_with_aux_digit_3_must_be_3_plus_the_iuv_422(world: World) -> None:
    with pytest.raises(Invalid) as refused:
        await publish(world, nav=nav(1, "03"))
    assert (refused.value.status, [e["loc"] for e in refused.value.errors]) == (422, [["nav"]])


# ------------------------------------------------------------------ what the archive will not take
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expirationDate", "0999-12-31T23:00:00Z"),
        ("expirationDate", "2099-12-31T23:30:00-01:00"),  # 2100 in UTC, as it would be stored
        ("entityFullName", "Mario\u0000Rossi"),
        ("iban", "IT60X0542811101000000123457"),
        ("postalIban", "IT00X0542811101000000123456"),
    ],
)
async def test_what_the_schema_allows_but_the_archive_cannot_take_is_422(
    world: World, field: str, value: str
) -> None:
    with pytest.raises(Invalid) as refused:
        await publish(world, **{field: value})
    assert (refused.value.status, [e["loc"] for e in refused.value.errors]) == (422, [[field]])
    assert world.stored(EC, nav(1)) is None


async def test_the_answer_keeps_the_wall_clock_time_the_ec_sent(world: World) -> None:
    answer = await publish(world, expirationDate="2026-12-31T23:59:30.250+01:00")
    assert answer.expiration_date == "2026-12-31T23:59:30.250"
    assert stored(world).expiration_date.isoformat() == "2026-12-31T22:59:30.250000+00:00"
    answer = await publish(world, n=2, expirationDate="2027-03-01T00:00:00-05:00")
    assert answer.expiration_date == "2027-03-01T00:00"
    assert "postalIban" not in answer.model_dump(by_alias=True)


# ------------------------------------------------------------------ who may write
async def test_an_ec_writes_only_its_own_positions(world: World) -> None:
    with pytest.raises(Forbidden):
        await publish(world, party=OTHER_EC)
    with pytest.raises(Forbidden):
        await publish(world, paFiscalCode=OTHER_EC)  # EC writing for another EC


async def test_an_intermediary_writes_for_its_ecs_on_its_segregation_codes(world: World) -> None:
    assert (await publish(world, party=BROKER, code="01")).status == "VALID"
    assert (await publish(world, party=BROKER, n=2, code="02", codes=["02"])).status == "VALID"
    with pytest.raises(SegregationRefused):  # a code the registry does not give it
        await publish(world, party=BROKER, n=3, code="03")
    with pytest.raises(SegregationRefused):  # the query narrows: 01 is outside it
        await publish(world, party=BROKER, n=4, code="01", codes=["02"])
    with pytest.raises(SegregationRefused):  # the query cannot widen
        await publish(world, party=BROKER, n=5, code="03", codes=["01", "03"])
    assert (await publish(world, party=BROKER, n=6, code="01", codes=["01", "03"])).iuv
    with pytest.raises(Forbidden):  # an EC it does not act for
        await publish(world, party=BROKER, paFiscalCode=OTHER_EC)


async def test_a_segregation_code_refusal_is_pagopas_409(world: World) -> None:
    with pytest.raises(Conflict) as refused:
        await publish(world, party=BROKER, code="03")
    assert (refused.value.status, refused.value.title) == (409, "Unauthorized action")


async def test_the_ec_itself_may_narrow_too(world: World) -> None:
    with pytest.raises(SegregationRefused):
        await publish(world, code="01", codes=["05"])
    assert (await publish(world, code="05", codes=["05"])).status == "VALID"


@pytest.mark.parametrize("raw", ["", "1", "001", "01,", "ab", "01;02", "\u0660\u0661"])
def test_malformed_segregation_codes_are_400(raw: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_segregation_codes(raw)
    assert refused.value.status == 400


def test_segregation_codes_parse() -> None:
    assert parse_segregation_codes(None) is None
    assert parse_segregation_codes(" 02,01,02") == ["01", "02"]


def unchecked(**fields: Any) -> PositionIn:
    """A body as if its validation had let it through (the authorization stands alone)."""
    return position().model_copy(update=fields)


async def test_authorize_write_reads_every_code_it_can(world: World) -> None:
    authorize_write(world.parties["ALLCODES"], unchecked(iuv="99000", nav="399000"), None)
    with pytest.raises(SegregationRefused):  # an IUV with no two-digit code at all
        authorize_write(world.parties[BROKER], unchecked(iuv="x", nav="0123"), None)
    # a nav without aux digit 3 carries no code: the IUV's decides
    authorize_write(world.parties[BROKER], unchecked(iuv=iuv(1, "01"), nav="0ABC"), ["01"])
    with pytest.raises(SegregationRefused):  # a nav with aux digit 3 carries one: it counts
        authorize_write(world.parties[BROKER], unchecked(iuv=iuv(1, "01"), nav=nav(1, "03")), None)


async def test_a_write_is_authorized_on_its_nav_too(world: World) -> None:
    """The attack: a code-01 IUV with an explicit nav of code 03 reached the EC's code-03
    notice. The archive refuses the pair; the authorization checks every identifier anyway."""
    await publish(world, code="03")
    before = world.stored(EC, nav(1, "03"))
    hijack = unchecked(iuv=iuv(1, "01"), nav=nav(1, "03"), amount=1, description="x")
    for codes in (None, ["01"]):
        with pytest.raises(SegregationRefused):
            await world.archive.publish(
                world.parties[BROKER], hijack, segregation_codes=codes, now=world.later()
            )
    with pytest.raises(SegregationRefused):  # the EC narrowing to 01 may not touch 03 either
        await world.archive.publish(
            world.parties[EC], hijack, segregation_codes=["01"], now=world.later()
        )
    with pytest.raises(Invalid):  # and the pair itself is refused (422) to anyone
        await world.archive.publish(
            world.parties[EC], hijack, segregation_codes=None, now=world.later()
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
        await read(world.parties[EC], EC, "", now=world.now)


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

    async def pay(receipt: str, n: int = 1, stand_in: bool = True) -> Position:
        return await world.archive.mark_paid(
            EC,
            nav(n),
            receipt_id=receipt,
            paid_at=world.now,
            by="GATEWAY",
            stand_in=stand_in,
            now=world.later(),
        )

    paid = await pay("r-1")
    assert (paid.status, paid.receipt_id) == ("PAID", "r-1")
    assert paid.history[-1].model_dump(include={"action", "by", "receipt_id"}) == {
        "action": "paid",
        "by": "GATEWAY",
        "receipt_id": "r-1",
    }
    assert (await pay("r-1")).history == paid.history
    with pytest.raises(Conflict):
        await pay("r-2", stand_in=False)
    with pytest.raises(NotFound):
        await pay("r-3", n=9, stand_in=False)


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
        await publish(world, amount=amount)
    history = stored(world).history
    assert len(history) == HISTORY_LENGTH
    assert history[-1].fields == ["amount"]
    assert history[0].action == "updated"


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
    assert [c.action for c in stored(world).history] == ["created"]


# ------------------------------------------------------------------ the re-key
def legacy(world: World, n: int, *, nav_: str | None = None, **fields: Any) -> dict[str, Any]:
    """A position as it was stored before positions were named by IUPD."""
    number = nav_ or nav(n)
    document = {
        "id": legacy_position_id(EC, number),
        "pk": legacy_position_id(EC, number),
        "kind": "position",
        "paFiscalCode": EC,
        "companyName": "Comune di Demo",
        "entityType": "F",
        "entityFiscalCode": "RSSMRA85T10A562S",
        "entityFullName": "Mario Rossi",
        "iuv": iuv(n),
        "nav": number,
        "amount": 100,
        "description": "TARI",
        "expirationDate": "2027-01-31T23:00:00.000000Z",
        "iban": IBAN,
        "postalIban": None,
        "switchToExpired": False,
        "payStandIn": True,
        "status": "VALID",
        "version": rules.order_key(world.now - timedelta(days=1), "old"),
        "expiresAt": "2027-01-31T23:00:00.000000Z",
        "receiptId": None,
        "paidAt": None,
        "updatedAt": "2026-12-07T09:30:00.000000Z",
        "history": [],
        "_etag": "legacy",
        **fields,
    }
    world.store.items[document["id"]] = document
    return document


async def test_positions_stored_under_their_nav_are_read_then_rekeyed(world: World) -> None:
    legacy(world, 1)
    legacy(world, 2, nav_="0" + iuv(2)[:17], status="PAID", receiptId="r2")
    legacy(world, 3, nav_="3" + iuv(33))  # the same IUV under two navs: one position now
    legacy(world, 3, status="PAID", receiptId="r3")
    assert (await world.archive.get(EC, nav(1), now=world.now)).amount == 100  # before
    assert await world.archive.rekey(batch=10) == {"moved": 3, "merged": 1, "remaining": False}
    assert await world.archive.rekey(batch=10) == {"moved": 0, "merged": 0, "remaining": False}
    assert not [k for k in world.store.items if ":" in k]
    assert (await world.archive.get(EC, nav(1), now=world.now)).iupd == iupd(EC, iuv(1))
    assert (await world.archive.get(EC, "0" + iuv(2)[:17], now=world.now)).status == "PAID"
    assert stored(world, 3).receipt_id == "r3"  # a payment is never lost in a merge
    # a re-keyed position follows today's rules
    updated = await publish(world, n=1, amount=5)
    assert updated.amount == 5
    with pytest.raises(Conflict):
        await publish(world, n=2)
