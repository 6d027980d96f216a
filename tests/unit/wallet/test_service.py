"""The wallet's rules on in-memory ports: onboarding, notifications, replacement, limits,
deletion, applications, computed statuses and events."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.auth.fiscal_code import fiscal_code_hash
from shared.platform.errors import (
    ConfigurationError,
    Conflict,
    DependencyError,
    Invalid,
    NotFound,
    Unauthorized,
)
from shared.wallet.models import (
    ApplicationsUpdate,
    NewInstrument,
    NotificationAck,
    PspNotification,
    fixed_time,
)
from tests.unit.wallet.fakes import (
    CF,
    NOTIFY_URL,
    OTHER_CF,
    QUEUE,
    StaleOnce,
    World,
    card,
    fiscal_code,
    signed,
    wallet_ids,
)


async def onboard(
    world: World, cf: str = CF, type_: str = "CARD", applications: list[str] | None = None
) -> str:
    request = NewInstrument.model_validate(
        {"type": type_, **({"applications": applications} if applications is not None else {})}
    )
    started = await world.wallet.start_onboarding(cf, request, now=world.now)
    return started.wallet_id


async def notify(
    world: World,
    wallet_id: str,
    outcome: str = "OK",
    details: dict[str, Any] | None = None,
    *,
    session_id: str | None = None,
    at: datetime | None = None,
    secret: str | None = None,
    raw_and_header: tuple[bytes, str] | None = None,
) -> NotificationAck:
    body = {
        "walletId": wallet_id,
        "sessionId": session_id or world.session_of(wallet_id),
        "outcome": outcome,
        "details": card() if details is None else details,
    }
    raw, header = raw_and_header or signed(
        body, at=at or world.now, **({"secret": secret} if secret else {})
    )
    return await world.wallet.notify(
        PspNotification.model_validate_json(raw), raw_body=raw, signature=header, now=world.now
    )


async def validated(world: World, cf: str = CF, hpan: str = "a" * 64, **card_args: Any) -> str:
    wallet_id = await onboard(world, cf)
    await notify(world, wallet_id, details=card(hpan, **card_args))
    return wallet_id


# ------------------------------------------------------------------ onboarding
async def test_onboarding_opens_a_psp_session_and_stores_it_created() -> None:
    world = World()
    started = await world.wallet.start_onboarding(CF, NewInstrument(type="CARD"), now=world.now)
    assert started.status == "CREATED"
    assert started.redirect_url == "https://psp.example/onboarding/sess-1"
    [opened] = world.psp.opened
    assert opened == {
        "pspId": "DEMOPSP",
        "walletId": started.wallet_id,
        "type": "CARD",
        "returnUrl": "app://wallet/done",
        "notificationUrl": NOTIFY_URL,
        "sessionId": "sess-1",
    }
    shown = await world.wallet.get(CF, started.wallet_id, now=world.now)
    assert (shown.status, shown.type, shown.details) == ("CREATED", "CARD", None)
    assert [(a.name, a.status) for a in shown.applications] == [("PAGOPA", "ENABLED")]
    stored = world.stored(CF, started.wallet_id)
    assert stored["pk"] == fiscal_code_hash(CF)
    assert stored["fiscalCode"] == CF


async def test_onboarding_without_applications_leaves_them_disabled() -> None:
    world = World()
    wallet_id = await onboard(world, applications=[])
    shown = await world.wallet.get(CF, wallet_id, now=world.now)
    assert [(a.name, a.status) for a in shown.applications] == [("PAGOPA", "DISABLED")]


async def test_a_psp_outage_writes_nothing() -> None:
    world = World()
    world.psp.down = True
    with pytest.raises(DependencyError):
        await onboard(world)
    assert world.store.items == {}


@pytest.mark.parametrize(
    "configured",
    [
        None,
        "",
        "   ",
        "http://attacker.example:4444/api/v1/wallet/psp/notifications",
        "https://app.example/api/v1/wallet/psp/notifications?code=function-key",
        "https://user:pw@app.example/api/v1/wallet/psp/notifications",
        "ftp://app.example/notifications",
        "/api/v1/wallet/psp/notifications",
    ],
)
async def test_without_a_usable_notification_url_nothing_is_opened(configured: str | None) -> None:
    world = World(notification_url=configured)
    with pytest.raises(ConfigurationError, match="WALLET_NOTIFICATION_URL"):
        await onboard(world)
    assert world.psp.opened == []
    assert world.store.items == {}


async def test_ok_notification_validates_with_the_type_details_and_publishes() -> None:
    world = World()
    wallet_id = await onboard(world)
    ack = await notify(world, wallet_id, details=card("b" * 64, last4="1111", month=3, year=2029))
    assert (ack.wallet_id, ack.outcome) == (wallet_id, "OK")
    shown = await world.wallet.get(CF, wallet_id, now=world.now)
    assert shown.status == "VALIDATED"
    assert shown.details is not None
    assert shown.details.model_dump(by_alias=True) == {
        "brand": "VISA",
        "last4": "1111",
        "expiryMonth": 3,
        "expiryYear": 2029,
    }
    assert "hpan" not in shown.model_dump_json(by_alias=True)
    [event] = world.events()
    assert event["type"] == "InstrumentValidated"
    assert event["data"] == {
        "walletId": wallet_id,
        "citizenId": fiscal_code_hash(CF),
        "fiscalCode": CF,
        "hpan": "b" * 64,
        "type": "CARD",
        "brand": "VISA",
        "applications": {"PAGOPA": "ENABLED"},
    }
    # Sent, and left for the outbox sweep to clear: the request saved a write.
    assert [e["id"] for e in world.stored(CF, wallet_id)["outbox"]] == [event["id"]]
    assert await world.publisher.sweep() == 1
    assert world.stored(CF, wallet_id)["outbox"] == []
    assert [e["id"] for e in world.events()] == [event["id"]]
    assert [m.message_id for _, m in world.sender.dropped] == [event["id"]]  # a duplicate


async def test_pending_means_the_citizen_is_on_the_psp_page() -> None:
    world = World()
    wallet_id = await onboard(world)
    await notify(world, wallet_id, "PENDING", {})
    assert (await world.wallet.get(CF, wallet_id, now=world.now)).status == ("VALIDATION_REQUESTED")
    await notify(world, wallet_id, "OK")
    world.advance(seconds=1)
    await notify(world, wallet_id, "PENDING", {})  # late progress changes nothing
    assert (await world.wallet.get(CF, wallet_id, now=world.now)).status == "VALIDATED"


@pytest.mark.parametrize(
    ("outcome", "details", "reason"),
    [
        ("KO", {"reason": "card refused"}, "KO: card refused"),
        ("CANCELED", {"reason": "the citizen gave up"}, "CANCELED: the citizen gave up"),
        ("CANCELED", {}, "CANCELED"),
    ],
)
async def test_ko_and_canceled_end_in_error_with_the_reason(
    outcome: str, details: dict[str, Any], reason: str
) -> None:
    world = World()
    wallet_id = await onboard(world)
    await notify(world, wallet_id, outcome, details)
    shown = await world.wallet.get(CF, wallet_id, now=world.now)
    assert (shown.status, shown.error_reason) == ("ERROR", reason)
    assert (await world.wallet.instruments(CF, now=world.now)).instruments == []
    assert world.events() == []


async def test_a_card_number_in_a_psp_reason_is_masked_before_it_is_stored() -> None:
    world = World()
    wallet_id = await onboard(world)
    await notify(world, wallet_id, "KO", {"reason": "card 4111 1111 1111 1111 refused"})
    stored = world.stored(CF, wallet_id)
    assert "4111" not in str(stored)
    assert stored["errorReason"] == "KO: card **** **** **** **** refused"
    shown = await world.wallet.get(CF, wallet_id, now=world.now)
    assert shown.error_reason == "KO: card **** **** **** **** refused"


@pytest.mark.parametrize(
    "details",
    [
        {**card(), "brand": "4111111111111111"},
        {**card(), "contractId": "ctr-4111-1111-1111-1111"},
    ],
)
async def test_a_card_number_in_an_ok_outcomes_details_is_refused(details: dict[str, Any]) -> None:
    world = World()
    wallet_id = await onboard(world)
    with pytest.raises(Invalid) as caught:
        await notify(world, wallet_id, details=details)
    assert caught.value.status == 422
    assert "4111" not in str(caught.value.errors)
    assert "4111" not in str(world.store.items)


@pytest.mark.parametrize("field", ["walletId", "sessionId"])
@pytest.mark.parametrize("text", ["a\x00b", "a\ud800b"])
def test_a_notification_with_a_nul_or_a_lone_surrogate_is_refused(field: str, text: str) -> None:
    raw = json.dumps({"walletId": "w", "sessionId": "s", "outcome": "KO", field: text})
    with pytest.raises(ValidationError):
        PspNotification.model_validate_json(raw)


async def test_identical_renotification_is_accepted_and_changes_nothing() -> None:
    world = World()
    wallet_id = await onboard(world)
    first = await notify(world, wallet_id)
    before = dict(world.stored(CF, wallet_id))
    world.advance(seconds=5)  # the PSP retries with a fresh signature
    again = await notify(world, wallet_id)
    assert again == first
    after = world.stored(CF, wallet_id)
    unchanged = ("_etag", "signatures")  # the retry's signature is recorded (replay guard)
    assert {k: v for k, v in after.items() if k not in unchanged} == {
        k: v for k, v in before.items() if k not in unchanged
    }
    assert len(after["signatures"]) == 2
    assert len(world.events()) == 1


@pytest.mark.parametrize(
    ("outcome", "details"), [("KO", {}), ("CANCELED", {"reason": "x"}), ("OK", card("c" * 64))]
)
async def test_a_different_outcome_for_a_final_session_is_refused(
    outcome: str, details: dict[str, Any]
) -> None:
    world = World()
    wallet_id = await onboard(world)
    await notify(world, wallet_id)
    before = dict(world.stored(CF, wallet_id))
    with pytest.raises(Conflict):
        await notify(world, wallet_id, outcome, details)
    assert world.stored(CF, wallet_id) == before


async def test_unknown_sessions_are_not_found_once_the_signature_holds() -> None:
    world = World()
    wallet_id = await onboard(world)
    with pytest.raises(NotFound):
        await notify(world, "3f1d1c9e-8a6b-4c2d-9e7f-0a1b2c3d4e5f", session_id="sess-1")
    with pytest.raises(NotFound):
        await notify(world, "not-a-wallet-id", session_id="sess-1")
    with pytest.raises(NotFound):
        await notify(world, wallet_id, session_id="sess-other")
    # without a good signature nothing is said about the session
    with pytest.raises(Unauthorized):
        await notify(
            world, "3f1d1c9e-8a6b-4c2d-9e7f-0a1b2c3d4e5f", session_id="sess-1", secret="forged"
        )


async def test_forged_stale_and_replayed_notifications_are_unauthorized() -> None:
    world = World()
    wallet_id = await onboard(world)
    with pytest.raises(Unauthorized, match="does not match"):
        await notify(world, wallet_id, secret="forged")
    with pytest.raises(Unauthorized, match="too old"):
        await notify(world, wallet_id, at=world.now - timedelta(minutes=6))
    body = {
        "walletId": wallet_id,
        "sessionId": world.session_of(wallet_id),
        "outcome": "KO",
        "details": {},
    }
    captured = signed(body, at=world.now)
    await notify(world, wallet_id, raw_and_header=captured)
    with pytest.raises(Unauthorized, match="already used"):
        await notify(world, wallet_id, raw_and_header=captured)
    tampered = (captured[0].replace(b'"KO"', b'"OK"'), captured[1])
    with pytest.raises(Unauthorized):
        await notify(world, wallet_id, raw_and_header=tampered)
    with pytest.raises(Unauthorized, match="missing"):
        await world.wallet.notify(
            PspNotification.model_validate(body),
            raw_body=captured[0],
            signature=None,
            now=world.now,
        )
    assert world.stored(CF, wallet_id)["status"] == "ERROR"


async def test_only_wallet_ids_this_app_makes_are_served() -> None:
    world = World()
    wallet_id = await validated(world, hpan="6" * 64)
    other_shape = "3f1d1c9e-8a6b-4c2d-9e7f-0a1b2c3d4e5f"
    stored = world.stored(CF, wallet_id)
    world.store.items[(stored["pk"], other_shape)] = {**stored, "id": other_shape, "outbox": []}
    with pytest.raises(NotFound):
        await world.wallet.get(CF, other_shape, now=world.now)


async def test_a_retrys_signature_is_recorded_and_refused_when_replayed() -> None:
    world = World()
    wallet_id = await onboard(world)
    await notify(world, wallet_id)
    world.advance(seconds=5)
    body = {
        "walletId": wallet_id,
        "sessionId": world.session_of(wallet_id),
        "outcome": "OK",
        "details": card(),
    }
    retry = signed(body, at=world.now)
    await notify(world, wallet_id, raw_and_header=retry)  # identical outcome: 200, no change
    with pytest.raises(Unauthorized, match="already used"):
        await notify(world, wallet_id, raw_and_header=retry)
    pending = signed({**body, "outcome": "PENDING", "details": {}}, at=world.now)
    await notify(world, wallet_id, raw_and_header=pending)  # progress after the outcome
    with pytest.raises(Unauthorized, match="already used"):
        await notify(world, wallet_id, raw_and_header=pending)


async def test_one_signature_sent_twice_at_once_is_accepted_once() -> None:
    world = World()
    wallet_id = await onboard(world)
    body = {
        "walletId": wallet_id,
        "sessionId": world.session_of(wallet_id),
        "outcome": "OK",
        "details": card(),
    }
    captured = signed(body, at=world.now)
    results = await asyncio.gather(
        *(notify(world, wallet_id, raw_and_header=captured) for _ in range(2)),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["NotificationAck", "Unauthorized"]
    assert len(world.events()) == 1


async def test_signatures_are_forgotten_once_stale() -> None:
    world = World()
    wallet_id = await onboard(world)
    await notify(world, wallet_id, "PENDING", {})
    world.advance(minutes=6)  # past t + skew: the timestamp check alone refuses it now
    await notify(world, wallet_id)
    assert [
        s["until"] > world.now.isoformat()[:19] for s in world.stored(CF, wallet_id)["signatures"]
    ] == [True]


async def test_a_forged_or_changed_wallet_id_is_unknown_once_the_signature_holds() -> None:
    world = World()
    wallet_id = await onboard(world)
    session_id = world.session_of(wallet_id)
    changed = wallet_id[:10] + ("A" if wallet_id[10] != "A" else "B") + wallet_id[11:]
    with pytest.raises(NotFound):
        await notify(world, changed, session_id=session_id)
    with pytest.raises(Unauthorized, match="does not match"):
        await notify(world, changed, session_id=session_id, secret="forged")
    elsewhere = await wallet_ids("another-deployment-key-0123456789abcdef").new(CF)
    with pytest.raises(NotFound):
        await notify(world, elsewhere, session_id=session_id)
    assert world.stored(CF, wallet_id)["status"] == "CREATED"


async def test_a_crash_between_the_write_and_the_send_still_delivers_the_event() -> None:
    world = World()
    wallet_id = await onboard(world)

    class Crash(BaseException):
        """The process dies here (nothing after the write runs)."""

    def dies(document: dict[str, Any], *, only: object = None) -> None:
        raise Crash

    sends = world.publisher.publish_soon
    world.publisher.publish_soon = dies  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await notify(world, wallet_id)
    assert world.events() == []
    assert world.stored(CF, wallet_id)["status"] == "VALIDATED"
    world.publisher.publish_soon = sends  # type: ignore[method-assign]
    assert await world.publisher.sweep() == 1  # the timer, after the restart
    [event] = world.events()
    assert (event["type"], event["data"]["walletId"]) == ("InstrumentValidated", wallet_id)
    assert world.stored(CF, wallet_id)["outbox"] == []
    world.advance(seconds=5)
    await notify(world, wallet_id)  # the PSP retries (it never got an answer): no new event
    assert len(world.events()) == 1


async def test_a_later_write_sends_its_own_events_and_leaves_older_ones_to_the_sweep() -> None:
    world = World()
    wallet_id = await validated(world, hpan="7" * 64)
    world.sender.fail_with = DependencyError("servicebus", "down")
    await world.wallet.set_applications(
        CF,
        wallet_id,
        ApplicationsUpdate.model_validate(
            {"applications": [{"name": "PAGOPA", "status": "DISABLED"}]}
        ),
        now=world.now,
    )
    world.sender.fail_with = None  # the ApplicationChanged event was not sent
    await world.wallet.delete(CF, wallet_id, now=world.now)
    assert [e["type"] for e in world.events()] == ["InstrumentValidated", "InstrumentDeleted"]
    assert world.sender.dropped == []  # nothing re-sent on the request path
    assert [e["type"] for e in world.stored(CF, wallet_id)["outbox"]] == [
        "InstrumentValidated",
        "ApplicationChanged",
        "InstrumentDeleted",
    ]
    assert await world.publisher.sweep() == 1
    assert [e["type"] for e in world.events()] == [
        "InstrumentValidated",
        "InstrumentDeleted",
        "ApplicationChanged",
    ]
    assert len(world.sender.dropped) == 2  # the two already sent: dropped by id
    assert world.stored(CF, wallet_id)["outbox"] == []


@pytest.mark.parametrize(
    "details",
    [
        {**card(), "pan": "4242424242424242"},  # a PAN is never accepted
        {**card(), "expiryMonth": True},  # booleans and strings are not numbers
        {**card(), "expiryYear": "2030"},
        {**card(), "expiryYear": 2100},
        {**card(), "hpan": "not-a-hash"},
        {k: v for k, v in card().items() if k != "hpan"},
        {"bankName": "Banca", "maskedPhone": "+39 ****1234", "hpan": "a" * 64, "contractId": "c"},
    ],
)
async def test_details_that_do_not_fit_the_type_are_422_and_change_nothing(
    details: dict[str, Any],
) -> None:
    world = World()
    wallet_id = await onboard(world)
    with pytest.raises(Invalid) as caught:
        await notify(world, wallet_id, details=details)
    assert caught.value.status == 422
    assert all(e["loc"][0] == "details" for e in caught.value.errors)
    assert "4242424242424242" not in str(caught.value.errors)
    assert world.stored(CF, wallet_id)["status"] == "CREATED"


@pytest.mark.parametrize(
    ("type_", "details", "shown"),
    [
        (
            "BANCOMAT",
            {**card(), "brand": "PAGOBANCOMAT", "abi": "03069"},
            {
                "brand": "PAGOBANCOMAT",
                "last4": "4242",
                "expiryMonth": 12,
                "expiryYear": 2030,
                "abi": "03069",
            },
        ),
        (
            "BPAY",
            {
                "bankName": "Banca Demo",
                "maskedPhone": "+39 ****4567",
                "hpan": "d" * 64,
                "contractId": "c-1",
            },
            {"bankName": "Banca Demo", "maskedPhone": "+39 ****4567"},
        ),
        (
            "SATISPAY",
            {"maskedPhone": "+39 ****4567", "hpan": "d" * 64, "contractId": "c-1"},
            {"maskedPhone": "+39 ****4567"},
        ),
    ],
)
async def test_each_type_shows_its_own_details(
    type_: str, details: dict[str, Any], shown: dict[str, Any]
) -> None:
    world = World()
    wallet_id = await onboard(world, type_=type_)
    await notify(world, wallet_id, details=details)
    instrument = await world.wallet.get(CF, wallet_id, now=world.now)
    assert instrument.status == "VALIDATED"
    assert instrument.details is not None
    assert instrument.details.model_dump(by_alias=True) == shown


# ------------------------------------------------------------------ time
async def test_a_session_not_completed_within_30_minutes_is_an_error() -> None:
    world = World()
    wallet_id = await onboard(world)
    world.advance(minutes=29, seconds=59)
    assert (await world.wallet.get(CF, wallet_id, now=world.now)).status == "CREATED"
    world.advance(seconds=1)
    shown = await world.wallet.get(CF, wallet_id, now=world.now)
    assert (shown.status, shown.error_reason) == ("ERROR", "SESSION_EXPIRED")
    assert (await world.wallet.instruments(CF, now=world.now)).instruments == []
    with pytest.raises(Conflict, match="expired"):
        await notify(world, wallet_id)
    assert world.events() == []


async def test_a_card_expires_after_its_month_on_the_italian_calendar() -> None:
    # expiry 12/2026: valid through 31 December in Rome (UTC+1 in winter)
    world = World(now=datetime(2026, 12, 31, 22, 0, tzinfo=UTC))
    wallet_id = await validated(world, month=12, year=2026)
    world.clock.set(datetime(2026, 12, 31, 22, 59, 59, tzinfo=UTC))
    assert (await world.wallet.get(CF, wallet_id, now=world.now)).status == "VALIDATED"
    world.clock.set(datetime(2026, 12, 31, 23, 0, tzinfo=UTC))  # midnight in Rome
    assert (await world.wallet.get(CF, wallet_id, now=world.now)).status == "EXPIRED"
    listed = await world.wallet.instruments(CF, now=world.now)
    assert [i.status for i in listed.instruments] == ["EXPIRED"]
    with pytest.raises(Conflict):
        await world.wallet.set_applications(
            CF,
            wallet_id,
            ApplicationsUpdate.model_validate(
                {"applications": [{"name": "PAGOPA", "status": "DISABLED"}]}
            ),
            now=world.now,
        )


# ------------------------------------------------------------------ replacement and limits
async def test_the_same_hpan_again_replaces_the_old_instrument() -> None:
    world = World()
    old = await validated(world, hpan="e" * 64)
    await world.wallet.set_applications(
        CF,
        old,
        ApplicationsUpdate.model_validate(
            {"applications": [{"name": "PAGOPA", "status": "DISABLED"}]}
        ),
        now=world.now,
    )
    new = await onboard(world, applications=["PAGOPA"])
    await notify(world, new, details=card("e" * 64, month=1, year=2031))
    old_shown = await world.wallet.get(CF, old, now=world.now)
    assert (old_shown.status, old_shown.replaced_by) == ("REPLACED", new)
    new_shown = await world.wallet.get(CF, new, now=world.now)
    assert new_shown.status == "VALIDATED"
    assert [(a.name, a.status) for a in new_shown.applications] == [("PAGOPA", "DISABLED")]
    listed = await world.wallet.instruments(CF, now=world.now)
    assert [i.wallet_id for i in listed.instruments] == [new]
    replaced = world.events()[-1]
    assert replaced["type"] == "InstrumentReplaced"
    assert {k: replaced["data"][k] for k in ("oldWalletId", "newWalletId", "hpan")} == {
        "oldWalletId": old,
        "newWalletId": new,
        "hpan": "e" * 64,
    }
    assert [e["type"] for e in world.events()] == [
        "InstrumentValidated",
        "ApplicationChanged",
        "InstrumentReplaced",
    ]


async def test_the_same_hpan_of_another_citizen_is_not_a_replacement() -> None:
    world = World()
    mine = await validated(world, CF, hpan="f" * 64)
    theirs = await validated(world, OTHER_CF, hpan="f" * 64)
    assert (await world.wallet.get(CF, mine, now=world.now)).status == "VALIDATED"
    assert (await world.wallet.get(OTHER_CF, theirs, now=world.now)).status == "VALIDATED"


async def test_at_most_20_live_instruments_counting_sessions_in_progress() -> None:
    world = World()
    for n in range(15):
        await validated(world, hpan=f"{n:064x}")
    for _ in range(5):
        await onboard(world)
    with pytest.raises(Conflict, match="at most 20"):
        await onboard(world)
    world.advance(minutes=30)  # the five sessions lapse; they are no longer live
    await onboard(world)
    assert len((await world.wallet.instruments(CF, now=world.now)).instruments) == 16
    assert len(await world.store.current(fiscal_code_hash(OTHER_CF), pending_since="")) == 0


async def test_concurrent_onboardings_never_pass_the_limit_together() -> None:
    # Every onboarding counts free slots before it waits on the PSP, and all of them see room;
    # the slots document, written with the instrument, admits only as many as the limit.
    world = World(max_instruments=2)
    results = await asyncio.gather(*(onboard(world) for _ in range(5)), return_exceptions=True)
    started = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert (len(started), len(refused)) == (2, 3)
    assert all("at most 2" in r.detail for r in refused)
    assert len(await world.store.current(fiscal_code_hash(CF), pending_since="")) == 2
    validations = [notify(world, w, details=card(f"{n:064x}")) for n, w in enumerate(started)]
    await asyncio.gather(*validations)
    shown = (await world.wallet.instruments(CF, now=world.now)).instruments
    assert [i.status for i in shown] == ["VALIDATED", "VALIDATED"]


async def test_deleting_and_failed_sessions_give_their_slots_back() -> None:
    world = World(max_instruments=2)
    card_id = await validated(world, hpan="1" * 64)
    failed = await onboard(world)
    with pytest.raises(Conflict, match="at most 2"):
        await onboard(world)
    await notify(world, failed, "KO", {"reason": "declined"})
    later = await onboard(world)  # the KO freed a slot
    with pytest.raises(Conflict, match="at most 2"):
        await onboard(world)
    await world.wallet.delete(CF, card_id, now=world.now)
    await onboard(world)  # the deletion freed one
    await world.wallet.delete(CF, later, now=world.now)
    await onboard(world)  # so does deleting a session in progress
    held = world.stored(CF, "slots")["held"]
    assert len(held) == 2
    assert card_id not in held


async def test_a_session_without_a_slot_is_refused_at_the_limit_when_validated() -> None:
    # Sessions opened before slots were kept (written here as the old code wrote them) take a
    # slot when they validate, while there is one.
    world = World(max_instruments=2)
    pk = fiscal_code_hash(CF)
    legacy = []
    for n in range(3):
        wallet_id = await world.ids.new(CF)
        world.psp.opened.append({"walletId": wallet_id, "sessionId": f"old-{n}"})
        legacy.append(wallet_id)
        await world.store.create(
            {
                "id": wallet_id,
                "pk": pk,
                "kind": "instrument",
                "fiscalCode": CF,
                "type": "CARD",
                "status": "CREATED",
                "applications": {"PAGOPA": "ENABLED"},
                "pspId": "DEMOPSP",
                "sessionId": f"old-{n}",
                "createdAt": fixed_time(world.now),
                "updatedAt": fixed_time(world.now),
            }
        )
    await asyncio.gather(
        *(notify(world, w, details=card(f"{n:064x}")) for n, w in enumerate(legacy))
    )
    statuses = sorted(
        (i.status, i.error_reason)
        for i in [await world.wallet.get(CF, w, now=world.now) for w in legacy]
    )
    assert statuses == [
        ("ERROR", "TOO_MANY_INSTRUMENTS"),
        ("VALIDATED", None),
        ("VALIDATED", None),
    ]
    assert len(world.events()) == 2
    with pytest.raises(Conflict, match="at most 2"):
        await onboard(world)


async def test_expired_cards_and_a_replaced_one_leave_room_under_the_limit() -> None:
    world = World(max_instruments=2)
    expiring = await validated(world, hpan="1" * 64, month=12, year=2026)
    await validated(world, hpan="2" * 64)
    with pytest.raises(Conflict, match="at most 2"):
        await onboard(world)
    world.advance(days=40)  # the first card expired at the end of December
    assert (await world.wallet.get(CF, expiring, now=world.now)).status == "EXPIRED"
    again = await validated(world, hpan="2" * 64)  # replaces the second: still one live
    third = await validated(world, hpan="3" * 64)
    shown = [await world.wallet.get(CF, w, now=world.now) for w in (again, third)]
    assert [i.status for i in shown] == ["VALIDATED", "VALIDATED"]
    with pytest.raises(Conflict, match="at most 2"):
        await onboard(world)


# ------------------------------------------------------------------ ownership
async def test_another_citizens_instrument_is_not_found_exactly_like_an_unknown_one() -> None:
    world = World()
    theirs = await validated(world, OTHER_CF)
    unknown = "3f1d1c9e-8a6b-4c2d-9e7f-0a1b2c3d4e5f"
    update = ApplicationsUpdate.model_validate(
        {"applications": [{"name": "PAGOPA", "status": "DISABLED"}]}
    )
    for wallet_id in (theirs, unknown, "../x", "' OR 1=1"):
        with pytest.raises(NotFound) as caught:
            await world.wallet.get(CF, wallet_id, now=world.now)
        with pytest.raises(NotFound):
            await world.wallet.delete(CF, wallet_id, now=world.now)
        with pytest.raises(NotFound):
            await world.wallet.set_applications(CF, wallet_id, update, now=world.now)
        assert caught.value.detail == f"no instrument {wallet_id}"
    assert (await world.wallet.get(OTHER_CF, theirs, now=world.now)).status == "VALIDATED"
    assert (await world.wallet.instruments(CF, now=world.now)).instruments == []


# ------------------------------------------------------------------ deletion
async def test_deleting_publishes_once_and_deleting_again_is_fine() -> None:
    world = World()
    wallet_id = await validated(world, hpan="9" * 64)
    await world.wallet.delete(CF, wallet_id, now=world.now)
    await world.wallet.delete(CF, wallet_id, now=world.now)
    assert (await world.wallet.get(CF, wallet_id, now=world.now)).status == "DELETED"
    assert [e["type"] for e in world.events()] == ["InstrumentValidated", "InstrumentDeleted"]
    deleted = world.events()[-1]["data"]
    assert (deleted["walletId"], deleted["hpan"], deleted["citizenId"]) == (
        wallet_id,
        "9" * 64,
        fiscal_code_hash(CF),
    )
    assert (await world.wallet.instruments(CF, now=world.now)).instruments == []


async def test_deleting_a_session_in_progress_cancels_it() -> None:
    world = World()
    wallet_id = await onboard(world)
    await world.wallet.delete(CF, wallet_id, now=world.now)
    with pytest.raises(Conflict):
        await notify(world, wallet_id)
    assert world.events() == []


async def test_a_concurrent_write_is_retried_on_fresh_state() -> None:
    world = World(store=StaleOnce())
    wallet_id = await onboard(world)
    await notify(world, wallet_id)
    assert world.store.raced  # type: ignore[attr-defined]
    assert (await world.wallet.get(CF, wallet_id, now=world.now)).status == "VALIDATED"
    assert len(world.events()) == 1


async def test_events_wait_in_the_outbox_while_the_broker_is_down() -> None:
    world = World()
    wallet_id = await onboard(world)
    world.sender.fail_with = DependencyError("servicebus", "down")
    await notify(world, wallet_id)
    assert world.stored(CF, wallet_id)["status"] == "VALIDATED"
    [waiting] = world.stored(CF, wallet_id)["outbox"]
    assert waiting["type"] == "InstrumentValidated"
    assert waiting["queue"] == QUEUE
    world.sender.fail_with = None
    await world.wallet.delete(CF, wallet_id, now=world.now)  # a later write keeps it
    assert [e["type"] for e in world.stored(CF, wallet_id)["outbox"]] == [
        "InstrumentValidated",
        "InstrumentDeleted",
    ]
    assert await world.publisher.sweep() == 1  # and the sweep sends it
    assert sorted(e["type"] for e in world.events()) == ["InstrumentDeleted", "InstrumentValidated"]


# ------------------------------------------------------------------ applications
async def test_applications_change_with_an_event_only_when_they_change() -> None:
    world = World()
    wallet_id = await validated(world)
    off = ApplicationsUpdate.model_validate(
        {"applications": [{"name": "PAGOPA", "status": "DISABLED"}]}
    )
    shown = await world.wallet.set_applications(CF, wallet_id, off, now=world.now)
    assert [(a.name, a.status) for a in shown.applications] == [("PAGOPA", "DISABLED")]
    await world.wallet.set_applications(CF, wallet_id, off, now=world.now)
    changed = [e for e in world.events() if e["type"] == "ApplicationChanged"]
    assert len(changed) == 1
    assert (changed[0]["data"]["application"], changed[0]["data"]["status"]) == (
        "PAGOPA",
        "DISABLED",
    )
    with pytest.raises(ValidationError):
        ApplicationsUpdate.model_validate(
            {
                "applications": [
                    {"name": "PAGOPA", "status": "ENABLED"},
                    {"name": "PAGOPA", "status": "DISABLED"},
                ]
            }
        )
    await world.wallet.delete(CF, wallet_id, now=world.now)
    with pytest.raises(Conflict, match="DELETED"):
        await world.wallet.set_applications(CF, wallet_id, off, now=world.now)


async def test_round_trips_per_operation_at_the_store() -> None:
    world = World()
    store = world.store
    before = store.round_trips
    await onboard(world)
    # the partition's first: no slots yet, so the live instruments are queried to count them
    assert store.round_trips - before == 3
    before = store.round_trips
    wallet_id = await onboard(world)
    assert store.round_trips - before == 2  # the slots, one batch (no session route)
    before = store.round_trips
    await notify(world, wallet_id)
    # the partition query (with the slots) and one batch: the slots and the instrument, the
    # signature recorded in it; the outbox is left to the sweep
    assert store.round_trips - before == 2
    before = store.round_trips
    await world.wallet.instruments(CF, now=world.now)
    await world.wallet.get(CF, wallet_id, now=world.now)
    assert store.round_trips - before == 2
    before = store.round_trips
    await world.wallet.delete(CF, wallet_id, now=world.now)
    assert store.round_trips - before == 3  # read, the slots, one batch (its slot freed)


# ------------------------------------------------------------------ a property
_NOTICES = st.sampled_from(
    [
        ("PENDING", {}),
        ("OK", card("a" * 64)),
        ("OK", card("b" * 64)),
        ("KO", {}),
        ("CANCELED", {"reason": "r"}),
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_NOTICES, min_size=1, max_size=6))
async def test_the_first_outcome_wins_whatever_the_psp_sends_after(
    notices: list[tuple[str, dict[str, Any]]],
) -> None:
    world = World()
    wallet_id = await onboard(world, fiscal_code(7))
    first_final: tuple[str, dict[str, Any]] | None = None
    for outcome, details in notices:
        world.advance(seconds=1)
        expect_conflict = (
            first_final is not None and outcome != "PENDING" and (outcome, details) != first_final
        )
        if expect_conflict:
            with pytest.raises(Conflict):
                await notify(world, wallet_id, outcome, details)
        else:
            await notify(world, wallet_id, outcome, details)
        if first_final is None and outcome != "PENDING":
            first_final = (outcome, details)
    status = (await world.wallet.get(fiscal_code(7), wallet_id, now=world.now)).status
    if first_final is None:
        assert status == "VALIDATION_REQUESTED"
    else:
        assert status == ("VALIDATED" if first_final[0] == "OK" else "ERROR")
    assert len(world.events()) == (1 if first_final and first_final[0] == "OK" else 0)
