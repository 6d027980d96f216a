"""Cashback's enrollment, instruments and wallet events, beside a real wallet on fakes."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shared.auth.fiscal_code import fiscal_code_hash
from shared.cashback.documents import hpan_pk, instrument_id
from shared.cashback.models import IbanIn
from shared.cashback.rules import PRODUCTION_PERIODS
from shared.cashback.store import Document
from shared.platform.errors import (
    Conflict,
    DependencyError,
    Invalid,
    NotFound,
    PermanentError,
    RescheduleLater,
)
from shared.wallet.models import ApplicationsUpdate
from tests.fakes.cashback import MemoryCashbackStore
from tests.unit.cashback.fakes import HPAN_A, HPAN_B, Scene
from tests.unit.wallet.fakes import CF, OTHER_CF, uid

# 21:30 UTC on 8 December 2026 is 22:30 in Rome: counting starts 9 December, 00:00 Rome.
NOW = datetime(2026, 12, 8, 21, 30, tzinfo=UTC)


@pytest.fixture
def scene() -> Scene:
    return Scene(now=NOW)


def stored(scene: Scene, cf: str, hpan: str = HPAN_A) -> dict[str, object]:
    return scene.store.items[(fiscal_code_hash(cf), instrument_id(hpan))]


class _Counting(MemoryCashbackStore):
    """Counts the documents the service's partition reads bring back."""

    returned = 0

    async def partition(self, pk: str, kinds: tuple[str, ...] = ()) -> list[Document]:
        found = await super().partition(pk, kinds)
        self.returned += len(found)
        return found


async def test_a_heavy_users_transactions_are_not_read_to_list_or_enable_instruments() -> None:
    scene = Scene(now=NOW)
    scene.store = store = _Counting()
    scene.cashback = scene.build(store, PRODUCTION_PERIODS)
    await scene.cashback.enroll(CF, now=scene.now)
    first = await scene.onboard(CF, HPAN_A)
    citizen_id = fiscal_code_hash(CF)
    for i in range(500):  # what scoring leaves in the citizen's partition
        store.items[(citizen_id, f"trx:2:{i}")] = {
            "id": f"trx:2:{i}",
            "pk": citizen_id,
            "kind": "transaction",
            "_etag": "e",
        }
        store.items[(citizen_id, f"match:{i}")] = {
            "id": f"match:{i}",
            "pk": citizen_id,
            "kind": "match",
            "_etag": "e",
        }
    store.returned = 0
    await scene.cashback.enable(CF, first, now=scene.now)
    await scene.cashback.instruments(CF)
    await scene.cashback.disable(CF, first, now=scene.now)
    await scene.cashback.withdraw(CF, now=scene.now)
    assert store.returned == 4 * 2  # the enrollment and the one instrument, each time


# ------------------------------------------------------------------------ enrollment


async def test_enrolling_keeps_the_time_terms_were_accepted(scene: Scene) -> None:
    enrolled = await scene.cashback.enroll(CF, now=scene.now)
    assert (enrolled.status, enrolled.terms_accepted_at) == ("ENROLLED", NOW)
    scene.advance(hours=1)
    enrolled_again = await scene.cashback.enroll(CF, now=scene.now)
    assert enrolled_again.terms_accepted_at == NOW
    assert await scene.cashback.citizen(CF) == enrolled


async def test_an_unknown_citizen_is_not_found(scene: Scene) -> None:
    with pytest.raises(NotFound):
        await scene.cashback.citizen(CF)
    with pytest.raises(NotFound):
        await scene.cashback.withdraw(CF, now=scene.now)


async def test_withdrawing_disables_every_instrument_and_enrolling_again_accepts_again(
    scene: Scene,
) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    first = await scene.onboard(CF, HPAN_A)
    second = await scene.onboard(CF, HPAN_B)
    await scene.cashback.enable(CF, first, now=scene.now)
    await scene.cashback.enable(CF, second, now=scene.now)
    scene.advance(days=3)
    await scene.cashback.withdraw(CF, now=scene.now)
    citizen = await scene.cashback.citizen(CF)
    assert (citizen.status, citizen.withdrawn_at) == ("WITHDRAWN", scene.now)
    listed = (await scene.cashback.instruments(CF)).instruments
    assert {i.status for i in listed} == {"DISABLED"}
    assert all(i.history[-1].disabled_at == scene.now for i in listed)
    # the hpans are free for someone else now
    assert scene.store.items[(hpan_pk(HPAN_A), HPAN_A)]["active"] is None
    await scene.cashback.withdraw(CF, now=scene.now)  # again: nothing changes, no error
    scene.advance(days=1)
    back = await scene.cashback.enroll(CF, now=scene.now)
    assert (back.status, back.terms_accepted_at, back.withdrawn_at) == ("ENROLLED", scene.now, None)


# ------------------------------------------------------------------------ instruments


async def test_enabling_counts_from_the_next_rome_midnight(scene: Scene) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    wallet_id = await scene.onboard(CF)
    enabled = await scene.cashback.enable(CF, wallet_id, now=scene.now)
    assert (enabled.wallet_id, enabled.status, enabled.activated_at) == (wallet_id, "ENABLED", NOW)
    assert enabled.counts_from == date(2026, 12, 9)
    assert (enabled.type, enabled.brand, enabled.wallet_status) == ("CARD", "VISA", "VALIDATED")
    scene.advance(hours=5)
    assert await scene.cashback.enable(CF, wallet_id, now=scene.now) == enabled  # again


async def test_only_an_enrolled_citizen_enables(scene: Scene) -> None:
    wallet_id = await scene.onboard(CF)
    with pytest.raises(Conflict, match="enroll"):
        await scene.cashback.enable(CF, wallet_id, now=scene.now)


async def test_only_an_instrument_of_the_callers_wallet_can_be_enabled(scene: Scene) -> None:
    await scene.cashback.enroll(OTHER_CF, now=scene.now)
    wallet_id = await scene.onboard(CF)
    with pytest.raises(NotFound):
        await scene.cashback.enable(OTHER_CF, wallet_id, now=scene.now)
    with pytest.raises(NotFound):
        await scene.cashback.enable(OTHER_CF, "not-a-wallet-id", now=scene.now)


async def test_a_deleted_wallet_instrument_cannot_be_enabled(scene: Scene) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    wallet_id = await scene.onboard(CF)
    await scene.world.wallet.delete(uid(CF), wallet_id, now=scene.now)
    await scene.deliver()
    with pytest.raises(Conflict, match="DELETED"):
        await scene.cashback.enable(CF, wallet_id, now=scene.now)


async def test_before_the_wallets_event_arrives_enabling_learns_it_from_the_wallet(
    scene: Scene,
) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    wallet_id = await scene.onboard(CF, deliver=False)
    enabled = await scene.cashback.enable(CF, wallet_id, now=scene.now)
    assert (enabled.wallet_id, enabled.status) == (wallet_id, "ENABLED")
    await scene.deliver()  # the event, late: it changes nothing
    [shown] = (await scene.cashback.instruments(CF)).instruments
    assert (shown.wallet_id, shown.status) == (wallet_id, "ENABLED")


async def test_a_card_onboarded_before_enrolling_is_enabled_after(scene: Scene) -> None:
    wallet_id = await scene.onboard(CF)  # its event names a user cashback has not met
    assert (await scene.cashback.instruments(CF)).instruments == []
    await scene.cashback.enroll(CF, now=scene.now)
    assert (await scene.cashback.enable(CF, wallet_id, now=scene.now)).status == "ENABLED"
    await scene.world.wallet.delete(uid(CF), wallet_id, now=scene.now)
    await scene.deliver()  # now linked: the deletion reaches the enrolled citizen
    [shown] = (await scene.cashback.instruments(CF)).instruments
    assert (shown.wallet_status, shown.status) == ("DELETED", "DISABLED")


async def test_an_instrument_is_enabled_for_one_citizen_at_a_time(scene: Scene) -> None:
    for cf in (CF, OTHER_CF):
        await scene.cashback.enroll(cf, now=scene.now)
    mine = await scene.onboard(CF, HPAN_A)
    theirs = await scene.onboard(OTHER_CF, HPAN_A)  # the same card in two wallets
    await scene.cashback.enable(CF, mine, now=scene.now)
    with pytest.raises(Conflict) as refused:
        await scene.cashback.enable(OTHER_CF, theirs, now=scene.now)
    assert CF not in refused.value.detail
    assert fiscal_code_hash(CF) not in refused.value.detail
    await scene.cashback.disable(CF, mine, now=scene.now)
    assert (await scene.cashback.enable(OTHER_CF, theirs, now=scene.now)).status == "ENABLED"
    with pytest.raises(Conflict):
        await scene.cashback.enable(CF, mine, now=scene.now)
    lock = scene.store.items[(hpan_pk(HPAN_A), HPAN_A)]
    assert lock["citizens"] == [fiscal_code_hash(CF), fiscal_code_hash(OTHER_CF)]


async def test_two_citizens_racing_for_one_instrument_one_wins(scene: Scene) -> None:
    for cf in (CF, OTHER_CF):
        await scene.cashback.enroll(cf, now=scene.now)
    mine = await scene.onboard(CF, HPAN_A)
    theirs = await scene.onboard(OTHER_CF, HPAN_A)
    results = await asyncio.gather(
        scene.cashback.enable(CF, mine, now=scene.now),
        scene.cashback.enable(OTHER_CF, theirs, now=scene.now),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["CashbackInstrument", "Conflict"]


async def test_disabling_keeps_the_history_and_the_disabling_day_counts(scene: Scene) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    wallet_id = await scene.onboard(CF)
    await scene.cashback.enable(CF, wallet_id, now=scene.now)
    scene.advance(days=2)
    await scene.cashback.disable(CF, wallet_id, now=scene.now)
    await scene.cashback.disable(CF, wallet_id, now=scene.now)  # again: no error
    scene.advance(days=1)
    enabled_again = await scene.cashback.enable(CF, wallet_id, now=scene.now)
    assert [(h.enabled_at, h.disabled_at) for h in enabled_again.history] == [
        (NOW, NOW + timedelta(days=2)),
        (NOW + timedelta(days=3), None),
    ]
    assert enabled_again.activated_at == NOW + timedelta(days=3)
    with pytest.raises(NotFound):
        await scene.cashback.disable(CF, "unknown", now=scene.now)


async def test_the_listing_shows_every_known_instrument_newest_first(scene: Scene) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    first = await scene.onboard(CF, HPAN_A)
    scene.advance(minutes=1)
    second = await scene.onboard(CF, HPAN_B)
    await scene.cashback.enable(CF, first, now=scene.now)
    listed = (await scene.cashback.instruments(CF)).instruments
    assert [(i.wallet_id, i.status) for i in listed] == [(second, "DISABLED"), (first, "ENABLED")]
    assert (await scene.cashback.instruments(OTHER_CF)).instruments == []


# ------------------------------------------------------------------------ wallet events


async def test_a_replacement_moves_the_activation_keeping_its_date(scene: Scene) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    old = await scene.onboard(CF, HPAN_A)
    await scene.cashback.enable(CF, old, now=scene.now)
    scene.advance(days=10)
    new = await scene.onboard(CF, HPAN_A)  # the same card validated again: a replacement
    assert json.loads(scene.world.sender.sent[-1][1].body)["type"] == "InstrumentReplaced"
    [moved] = (await scene.cashback.instruments(CF)).instruments
    assert (moved.wallet_id, moved.status, moved.activated_at) == (new, "ENABLED", NOW)
    assert moved.counts_from == date(2026, 12, 9)
    with pytest.raises(NotFound):
        await scene.cashback.disable(CF, old, now=scene.now)


async def test_a_deletion_in_the_wallet_disables_at_its_instant(scene: Scene) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    wallet_id = await scene.onboard(CF)
    await scene.cashback.enable(CF, wallet_id, now=scene.now)
    scene.advance(days=1)
    deleted_at = scene.now
    await scene.world.wallet.delete(uid(CF), wallet_id, now=deleted_at)
    scene.advance(minutes=5)  # the event arrives later
    assert await scene.deliver() == 1
    [item] = (await scene.cashback.instruments(CF)).instruments
    assert (item.status, item.wallet_status) == ("DISABLED", "DELETED")
    assert item.history[-1].disabled_at == deleted_at
    assert scene.store.items[(hpan_pk(HPAN_A), HPAN_A)]["active"] is None


async def test_events_delivered_twice_and_out_of_order_end_the_same(scene: Scene) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    wallet_id = await scene.onboard(CF, deliver=False)
    scene.advance(minutes=1)
    await scene.world.wallet.delete(uid(CF), wallet_id, now=scene.now)
    events = scene.pending_events()
    assert [json.loads(e)["type"] for e in events] == ["InstrumentValidated", "InstrumentDeleted"]
    for order in ([0, 1, 0, 1], [1, 0], [1, 1, 0, 0]):
        replayed = Scene(now=NOW)
        await replayed.cashback.enroll(CF, now=NOW)  # the user id it links is the same
        for i in order:
            await replayed.cashback.on_wallet_event(events[i], now=NOW)
        doc = replayed.store.items[(fiscal_code_hash(CF), instrument_id(HPAN_A))]
        assert (doc["walletStatus"], doc["walletId"], doc["status"]) == (
            "DELETED",
            wallet_id,
            "DISABLED",
        ), order


async def test_application_changes_are_applied_idempotently(scene: Scene) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    wallet_id = await scene.onboard(CF)
    await scene.cashback.enable(CF, wallet_id, now=scene.now)
    before = stored(scene, CF)
    scene.advance(minutes=1)
    await scene.world.wallet.set_applications(
        uid(CF),
        wallet_id,
        ApplicationsUpdate.model_validate(
            {"applications": [{"name": "PAGOPA", "status": "DISABLED"}]}
        ),
        now=scene.now,
    )
    events = scene.pending_events()
    assert [json.loads(e)["type"] for e in events] == ["ApplicationChanged"]
    await scene.deliver()
    await scene.cashback.on_wallet_event(events[0], now=scene.now)
    after = stored(scene, CF)
    assert (after["status"], after["history"], after["walletId"]) == (
        before["status"],
        before["history"],
        before["walletId"],
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{}",
        b"not json",
        json.dumps(
            {"id": "e1", "type": "Unknown", "createdAt": NOW.isoformat(), "data": {}}
        ).encode(),
    ],
)
async def test_anything_but_a_wallet_event_is_a_permanent_failure(
    scene: Scene, body: bytes
) -> None:
    with pytest.raises(PermanentError):
        await scene.cashback.on_wallet_event(body, now=NOW)


async def test_racing_writers_on_one_instrument_lose_no_event(scene: Scene) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    wallet_id = await scene.onboard(CF, deliver=False)
    events = scene.pending_events()
    bodies = events * 4
    random.Random(7).shuffle(bodies)
    await asyncio.gather(*(scene.cashback.on_wallet_event(b, now=NOW) for b in bodies))
    assert (await scene.cashback.enable(CF, wallet_id, now=scene.now)).status == "ENABLED"


# ------------------------------------------------------------------------ IBAN

IBAN = "IT60X0542811101000000123456"


async def check_all(scene: Scene) -> None:
    for body in scene.iban_checks():
        await scene.cashback.on_iban_check(body, now=scene.now)


def test_an_owner_name_holding_a_card_number_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        IbanIn.model_validate({"iban": IBAN, "ownerName": "Mario Rossi 4111 1111 1111 1111"})
    assert "4111" not in json.dumps(caught.value.errors(include_input=False), default=str)
    assert IbanIn.model_validate({"iban": IBAN, "ownerName": "Mario Rossi"}).owner_name


async def test_an_iban_is_pending_until_the_bank_answers_and_shown_masked(scene: Scene) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    scene.bank.accounts[IBAN] = CF
    pending = await scene.cashback.set_iban(
        CF,
        IbanIn(iban="it60 x054 2811 1010 0000 0123 456", owner_name="Mario  Rossi"),
        now=scene.now,
    )
    assert (pending.iban, pending.iban_status, pending.iban_owner_name) == (
        "*" * 23 + "3456",
        "PENDING",
        "Mario Rossi",
    )
    [message] = scene.iban_checks()
    assert json.loads(message)["data"]["iban"] == IBAN
    # the outbox was cleared once sent
    assert scene.store.items[(fiscal_code_hash(CF), "citizen")]["outbox"] == []
    await check_all(scene)
    await check_all(scene)  # delivered twice: the bank is asked once
    assert scene.bank.asked == [IBAN]
    shown = await scene.cashback.citizen(CF)
    assert shown.iban_status == "OK"
    # the same IBAN again changes nothing and asks nobody
    await scene.cashback.set_iban(CF, IbanIn(iban=IBAN, owner_name="Mario Rossi"), now=scene.now)
    assert len(scene.iban_checks()) == 1


async def test_a_bank_that_cannot_be_asked_leaves_the_iban_usable(scene: Scene) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    await scene.cashback.set_iban(CF, IbanIn(iban=IBAN, owner_name="M R"), now=scene.now)
    await check_all(scene)  # the fake bank does not know it: UNKNOWN_PSP
    shown = await scene.cashback.citizen(CF)
    assert (shown.iban, shown.iban_status) == ("*" * 23 + IBAN[-4:], "UNKNOWN_PSP")


async def test_a_ko_refuses_the_iban(scene: Scene) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    scene.bank.accounts[IBAN] = OTHER_CF
    await scene.cashback.set_iban(CF, IbanIn(iban=IBAN, owner_name="M R"), now=scene.now)
    await check_all(scene)
    shown = await scene.cashback.citizen(CF)
    assert (shown.iban, shown.iban_status) == (None, None)
    assert (shown.iban_refused, shown.iban_refused_at) == ("*" * 23 + IBAN[-4:], scene.now)


async def test_a_newer_iban_supersedes_a_check_in_flight(scene: Scene) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    await scene.cashback.set_iban(CF, IbanIn(iban=IBAN, owner_name="M R"), now=scene.now)
    other = "IT24D0542811101000000654321"
    await scene.cashback.set_iban(CF, IbanIn(iban=other, owner_name="M R"), now=scene.now)
    first, second = scene.iban_checks()
    scene.bank.accounts[other] = CF
    await scene.cashback.on_iban_check(first, now=scene.now)  # superseded: nobody asked
    assert scene.bank.asked == []
    await scene.cashback.on_iban_check(second, now=scene.now)
    shown = await scene.cashback.citizen(CF)
    assert (shown.iban, shown.iban_status) == ("*" * 23 + "4321", "OK")


async def test_a_bank_that_is_down_reschedules_the_check(scene: Scene) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    await scene.cashback.set_iban(CF, IbanIn(iban=IBAN, owner_name="M R"), now=scene.now)
    scene.bank.down = True
    with pytest.raises(RescheduleLater):
        await check_all(scene)
    assert (await scene.cashback.citizen(CF)).iban_status == "PENDING"


@pytest.mark.parametrize(
    "bad",
    [
        "IT60X054281110100000012345",
        "IT61X0542811101000000123456",
        "DE89370400440532013000",
        "IT60Y0542811101000000123456",
    ],
)
async def test_a_bad_iban_is_422_with_the_reason(scene: Scene, bad: str) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    with pytest.raises(Invalid) as refused:
        await scene.cashback.set_iban(CF, IbanIn(iban=bad, owner_name="M R"), now=scene.now)
    assert refused.value.status == 422
    assert scene.iban_checks() == []


async def test_only_an_enrolled_citizen_sets_an_iban(scene: Scene) -> None:
    with pytest.raises(Conflict):
        await scene.cashback.set_iban(CF, IbanIn(iban=IBAN, owner_name="M R"), now=scene.now)


@pytest.mark.parametrize("body", [b"", b"{}", b'{"data": {"iban": 1}}', b"[]"])
async def test_anything_but_an_iban_check_is_a_permanent_failure(scene: Scene, body: bytes) -> None:
    with pytest.raises(PermanentError):
        await scene.cashback.on_iban_check(body, now=NOW)


# ------------------------------------------------------------------------ the hpan's holders
# The hpan's document holds what scoring needs of each citizen who enabled it (their spans,
# T&C time, fiscal code). It is written apart from the citizen's instrument: these tests stop
# the process between the two writes and check that what comes next converges.


class Crashing(MemoryCashbackStore):
    """The memory store, where the next write of a document of one kind fails as a process
    that died before it would."""

    def __init__(self) -> None:
        super().__init__()
        self.crash_before: str | None = None  # "hpan", "instrument", "citizen"

    def _dies(self, document: Document) -> None:
        if self.crash_before is not None and document.get("kind") == self.crash_before:
            self.crash_before = None
            raise DependencyError("cosmos", "the process died before this write")

    async def create(self, document: Document) -> Document:
        self._dies(document)
        return await super().create(document)

    async def replace(self, document: Document) -> Document:
        self._dies(document)
        return await super().replace(document)


@pytest.fixture
def crashing() -> tuple[Scene, Crashing]:
    scene = Scene(now=NOW)
    store = Crashing()
    scene.store = store
    scene.cashback = scene.build(store, PRODUCTION_PERIODS)
    return scene, store


def holder(scene: Scene, cf: str, hpan: str = HPAN_A) -> dict[str, Any]:
    held: dict[str, Any] = scene.store.items[(hpan_pk(hpan), hpan)]["holders"][fiscal_code_hash(cf)]
    return held


def spans(document: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(s["enabledAt"], s.get("disabledAt")) for s in document["history"]]


def active(scene: Scene, hpan: str = HPAN_A) -> object:
    return scene.store.items[(hpan_pk(hpan), hpan)]["active"]


async def enabling_that_dies(scene: Scene, store: Crashing) -> str:
    """CF enrolls and onboards a card, whose enabling dies after the hpan's claim: its id."""
    await scene.cashback.enroll(CF, now=scene.now)
    wallet_id = await scene.onboard(CF)
    store.crash_before = "instrument"
    with pytest.raises(DependencyError):
        await scene.cashback.enable(CF, wallet_id, now=scene.now)
    return wallet_id


async def disabling_that_dies(scene: Scene, store: Crashing) -> str:
    """CF enables a card; a day later its disabling dies before the hpan's write: its id."""
    await scene.cashback.enroll(CF, now=scene.now)
    wallet_id = await scene.onboard(CF)
    await scene.cashback.enable(CF, wallet_id, now=scene.now)
    scene.advance(days=1)
    store.crash_before = "hpan"
    with pytest.raises(DependencyError):
        await scene.cashback.disable(CF, wallet_id, now=scene.now)
    return wallet_id


async def test_the_hpan_holds_the_same_spans_as_the_instrument_and_the_enrollment(
    scene: Scene,
) -> None:
    await scene.cashback.enroll(CF, now=scene.now)
    wallet_id = await scene.onboard(CF)
    await scene.cashback.enable(CF, wallet_id, now=scene.now)
    scene.advance(days=2)
    await scene.cashback.disable(CF, wallet_id, now=scene.now)
    scene.advance(days=1)
    await scene.cashback.enable(CF, wallet_id, now=scene.now)
    held = holder(scene, CF)
    assert (
        spans(held)
        == spans(stored(scene, CF))
        == [("2026-12-08T21:30:00Z", "2026-12-10T21:30:00Z"), ("2026-12-11T21:30:00Z", None)]
    )
    assert (held["fiscalCode"], held["termsAcceptedAt"]) == (CF, "2026-12-08T21:30:00Z")


async def test_an_enabling_that_died_after_its_claim_is_completed_with_the_claims_instant(
    crashing: tuple[Scene, Crashing],
) -> None:
    scene, store = crashing
    wallet_id = await enabling_that_dies(scene, store)
    assert spans(holder(scene, CF)) == [("2026-12-08T21:30:00Z", None)]
    assert stored(scene, CF)["history"] == []
    scene.advance(minutes=3)  # the citizen tries again
    enabled = await scene.cashback.enable(CF, wallet_id, now=scene.now)
    assert enabled.activated_at == NOW  # one instant, the claim's, on both documents
    assert spans(stored(scene, CF)) == spans(holder(scene, CF)) == [("2026-12-08T21:30:00Z", None)]


async def test_a_disabling_after_an_enabling_that_died_ends_the_span_on_both(
    crashing: tuple[Scene, Crashing],
) -> None:
    scene, store = crashing
    wallet_id = await enabling_that_dies(scene, store)
    scene.advance(days=1)
    await scene.cashback.disable(CF, wallet_id, now=scene.now)
    assert (
        spans(stored(scene, CF))
        == spans(holder(scene, CF))
        == [("2026-12-08T21:30:00Z", "2026-12-09T21:30:00Z")]
    )
    assert stored(scene, CF)["status"] == "DISABLED"
    assert active(scene) is None


async def test_a_disabling_that_died_before_the_hpan_is_completed_with_its_instant(
    crashing: tuple[Scene, Crashing],
) -> None:
    scene, store = crashing
    wallet_id = await disabling_that_dies(scene, store)
    assert spans(holder(scene, CF)) == [("2026-12-08T21:30:00Z", None)]
    scene.advance(hours=2)
    await scene.cashback.disable(CF, wallet_id, now=scene.now)  # again, later
    assert (
        spans(stored(scene, CF))
        == spans(holder(scene, CF))
        == [("2026-12-08T21:30:00Z", "2026-12-09T21:30:00Z")]
    )
    assert active(scene) is None


async def test_enabling_again_after_a_disabling_that_died_keeps_both_spans(
    crashing: tuple[Scene, Crashing],
) -> None:
    scene, store = crashing
    wallet_id = await disabling_that_dies(scene, store)
    scene.advance(days=1)
    enabled_again = await scene.cashback.enable(CF, wallet_id, now=scene.now)
    assert enabled_again.activated_at == scene.now
    assert (
        spans(stored(scene, CF))
        == spans(holder(scene, CF))
        == [("2026-12-08T21:30:00Z", "2026-12-09T21:30:00Z"), ("2026-12-10T21:30:00Z", None)]
    )


async def test_withdrawing_ends_every_span_even_one_only_the_hpan_holds(
    crashing: tuple[Scene, Crashing],
) -> None:
    scene, store = crashing
    await scene.cashback.enroll(CF, now=scene.now)
    first = await scene.onboard(CF, HPAN_A)
    second = await scene.onboard(CF, HPAN_B)
    await scene.cashback.enable(CF, first, now=scene.now)
    store.crash_before = "instrument"
    with pytest.raises(DependencyError):
        await scene.cashback.enable(CF, second, now=scene.now)
    scene.advance(days=2)
    await scene.cashback.withdraw(CF, now=scene.now)
    for hpan in (HPAN_A, HPAN_B):
        assert (
            spans(stored(scene, CF, hpan))
            == spans(holder(scene, CF, hpan))
            == [("2026-12-08T21:30:00Z", "2026-12-10T21:30:00Z")]
        )
        assert active(scene, hpan) is None


async def test_a_wallet_deletion_ends_the_span_on_the_hpan_at_its_instant(
    crashing: tuple[Scene, Crashing],
) -> None:
    scene, store = crashing
    wallet_id = await enabling_that_dies(scene, store)
    scene.advance(days=1)
    deleted_at = scene.now
    await scene.world.wallet.delete(uid(CF), wallet_id, now=deleted_at)
    scene.advance(minutes=5)
    store.crash_before = "hpan"  # and the event's first delivery dies before the hpan
    with pytest.raises(DependencyError):
        await scene.deliver()
    await scene.cashback.on_wallet_event(scene.world.sender.sent[-1][1].body, now=scene.now)
    assert (
        spans(stored(scene, CF))
        == spans(holder(scene, CF))
        == [("2026-12-08T21:30:00Z", "2026-12-09T21:30:00Z")]
    )
    assert active(scene) is None


async def test_another_citizen_is_refused_without_being_told_whose_it_is(scene: Scene) -> None:
    for cf in (CF, OTHER_CF):
        await scene.cashback.enroll(cf, now=scene.now)
    mine = await scene.onboard(CF, HPAN_A)
    theirs = await scene.onboard(OTHER_CF, HPAN_A)
    await scene.cashback.enable(CF, mine, now=scene.now)
    with pytest.raises(Conflict) as refused:
        await scene.cashback.enable(OTHER_CF, theirs, now=scene.now)
    # the hpan's document now holds CF's fiscal code: the refusal still names nobody
    assert CF not in refused.value.detail
    assert fiscal_code_hash(CF) not in refused.value.detail
    assert list(scene.store.items[(hpan_pk(HPAN_A), HPAN_A)]["holders"]) == [fiscal_code_hash(CF)]


async def test_enrolling_again_gives_the_hpans_the_new_terms_time(
    crashing: tuple[Scene, Crashing],
) -> None:
    scene, store = crashing
    await scene.cashback.enroll(CF, now=scene.now)
    wallet_id = await scene.onboard(CF)
    await scene.cashback.enable(CF, wallet_id, now=scene.now)
    scene.advance(days=1)
    await scene.cashback.withdraw(CF, now=scene.now)
    scene.advance(hours=1)
    store.crash_before = "hpan"  # the citizen's document is written, the hpan's is not
    with pytest.raises(DependencyError):
        await scene.cashback.enroll(CF, now=scene.now)
    citizen = scene.store.items[(fiscal_code_hash(CF), "citizen")]
    assert (citizen["termsAcceptedAt"], citizen["hpansBehind"]) == ("2026-12-09T22:30:00Z", True)
    # The withdrawal's instant: nothing before it counts (the new time is not there yet).
    assert holder(scene, CF)["termsAcceptedAt"] == "2026-12-09T21:30:00Z"
    scene.advance(minutes=1)
    back = await scene.cashback.enroll(CF, now=scene.now)  # again: completes the update
    assert back.terms_accepted_at == NOW + timedelta(days=1, hours=1)
    assert holder(scene, CF)["termsAcceptedAt"] == "2026-12-09T22:30:00Z"
    assert scene.store.items[(fiscal_code_hash(CF), "citizen")]["hpansBehind"] is False


async def test_enabling_completes_an_enrollment_that_died_before_the_hpans(
    crashing: tuple[Scene, Crashing],
) -> None:
    scene, store = crashing
    await scene.cashback.enroll(CF, now=scene.now)
    first = await scene.onboard(CF, HPAN_A)
    second = await scene.onboard(CF, HPAN_B)
    await scene.cashback.enable(CF, first, now=scene.now)
    scene.advance(days=1)
    await scene.cashback.withdraw(CF, now=scene.now)
    scene.advance(hours=1)
    store.crash_before = "hpan"
    with pytest.raises(DependencyError):
        await scene.cashback.enroll(CF, now=scene.now)
    await scene.cashback.enable(CF, second, now=scene.now)
    for hpan in (HPAN_A, HPAN_B):
        assert holder(scene, CF, hpan)["termsAcceptedAt"] == "2026-12-09T22:30:00Z"
