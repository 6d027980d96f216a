"""The wallet's rules on in-memory ports: onboarding in pagoPA's steps, the gateway's
notification and its token, the same-card rules, limits, deletion, applications, events."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.auth.fiscal_code import fiscal_code_hash
from shared.platform.errors import (
    ConfigurationError,
    Conflict,
    DependencyError,
    Invalid,
    NotFound,
    Unauthorized,
)
from shared.wallet.instruments import token_hash
from shared.wallet.models import (
    ALREADY_ONBOARDED,
    SLOTS_ID,
    Application,
    ApplicationsUpdate,
    NewSession,
    NewWallet,
)
from tests.unit.wallet.fakes import (
    CARD_METHOD,
    CF,
    NOTIFY_URL,
    OTHER_CF,
    PAYPAL_METHOD,
    QUEUE,
    StaleOnce,
    World,
    uid,
)

FAILURES = [
    "AUTHORIZED",
    "DECLINED",
    "DENIED_BY_RISK",
    "THREEDS_VALIDATED",
    "THREEDS_FAILED",
    "PENDING",
    "CANCELED",
    "VOIDED",
    "REFUNDED",
    "FAILED",
]


# ------------------------------------------------------------------ the steps
async def test_create_stores_a_created_wallet_for_the_payment_method() -> None:
    world = World()
    wallet_id = await world.created(applications=[])
    stored = world.stored(CF, wallet_id)
    assert (stored["status"], stored["paymentMethodId"]) == ("CREATED", CARD_METHOD)
    assert stored["applications"] == {"PAGOPA": "DISABLED"}
    assert world.psp.calls == 0  # nothing is opened at the gateway yet
    assert wallet_id in world.stored(CF, "slots")["held"]


@pytest.mark.parametrize(
    "method", [PAYPAL_METHOD, "00000000-0000-4000-8000-000000000000"], ids=["apm", "unknown"]
)
async def test_a_method_that_cannot_be_onboarded_is_422(method: str) -> None:
    world = World()
    with pytest.raises(Invalid) as refused:
        await world.wallet.create(uid(CF), NewWallet(paymentMethodId=method), now=world.now)
    assert refused.value.status == 422
    assert world.store.items == {}


async def test_a_session_is_opened_once_with_a_token_bound_to_it() -> None:
    world = World()
    wallet_id = await world.created()
    opened = await world.wallet.open_session(uid(CF), wallet_id, NewSession(), now=world.now)
    order = world.psp.order_of(wallet_id)
    assert opened.order_id == order.order_id
    assert opened.session_data.redirect_url == f"https://psp.example/hosted/{order.session_id}"
    assert order.notification_url == (
        f"{NOTIFY_URL}/{wallet_id}/sessions/{order.order_id}/notifications"
    )
    stored = world.stored(CF, wallet_id)
    assert stored["status"] == "INITIALIZED"
    assert stored["tokenHash"] == token_hash(order.token)
    assert order.token not in json.dumps(stored)  # only its hash is kept
    assert stored["tokenUntil"] > stored["createdAt"]
    with pytest.raises(Conflict, match="INITIALIZED"):
        await world.wallet.open_session(uid(CF), wallet_id, NewSession(), now=world.now)


@pytest.mark.parametrize("configured", [None, "", "https://user:pw@app.example/api/v1/wallets"])
async def test_without_a_usable_notification_url_nothing_is_opened(configured: str | None) -> None:
    world = World(notification_url=configured)
    wallet_id = await world.created()
    with pytest.raises(ConfigurationError):
        await world.wallet.open_session(uid(CF), wallet_id, NewSession(), now=world.now)
    assert world.psp.calls == 0
    assert world.stored(CF, wallet_id)["status"] == "CREATED"


async def test_a_gateway_outage_leaves_the_wallet_created() -> None:
    world = World()
    wallet_id = await world.created()
    world.psp.down = True
    with pytest.raises(DependencyError):
        await world.wallet.open_session(uid(CF), wallet_id, NewSession(), now=world.now)
    assert world.stored(CF, wallet_id)["status"] == "CREATED"


async def test_validation_reads_the_card_once_it_is_typed() -> None:
    world = World()
    wallet_id = await world.created()
    opened = await world.wallet.open_session(uid(CF), wallet_id, NewSession(), now=world.now)
    with pytest.raises(Conflict, match="not been entered"):
        await world.wallet.validate(uid(CF), wallet_id, opened.order_id, now=world.now)
    with pytest.raises(Conflict, match="not this wallet's session"):
        await world.wallet.validate(uid(CF), wallet_id, "X" * 18, now=world.now)
    world.psp.type_card(wallet_id, expiry="202911", last4="1111")
    asked = await world.wallet.validate(uid(CF), wallet_id, opened.order_id, now=world.now)
    assert asked.details.iframe_url.startswith("https://psp.example/3ds/")
    shown = await world.wallet.get(uid(CF), wallet_id, now=world.now)
    assert shown.status == "VALIDATION_REQUESTED"
    assert shown.details is not None
    assert shown.details.model_dump(by_alias=True) == {
        "type": "CARDS",
        "bin": "424242",
        "lastFourDigits": "1111",
        "expiryDate": "202911",
        "brand": "VISA",
    }


# ------------------------------------------------------------------ the notification
async def test_executed_validates_and_publishes_the_instrument() -> None:
    world = World()
    wallet_id = await world.requested()
    ack = await world.notify(wallet_id, card_id="gw-1", hpan="b" * 64)
    assert (ack.wallet_id, ack.status) == (wallet_id, "VALIDATED")
    stored = world.stored(CF, wallet_id)
    assert (stored["status"], stored["paymentInstrumentGatewayId"]) == ("VALIDATED", "gw-1")
    [event] = world.events()
    assert event["type"] == "InstrumentValidated"
    assert (event["data"]["walletId"], event["data"]["hpan"]) == (wallet_id, "b" * 64)
    assert event["data"]["brand"] == "VISA"


@pytest.mark.parametrize("result", FAILURES)
async def test_every_other_result_ends_in_error_and_frees_the_slot(result: str) -> None:
    world = World()
    wallet_id = await world.requested()
    ack = await world.notify(
        wallet_id, result, error_code="GW042" if result == "DECLINED" else None
    )
    assert ack.status == "ERROR"
    shown = await world.wallet.get(uid(CF), wallet_id, now=world.now)
    assert (shown.status, shown.error_code) == (
        "ERROR",
        "GW042" if result == "DECLINED" else result,
    )
    assert wallet_id not in world.stored(CF, "slots")["held"]
    assert world.events() == []


async def test_executed_without_the_cards_details_is_an_error() -> None:
    world = World()
    wallet_id = await world.requested()
    assert (await world.notify(wallet_id, details=False)).status == "ERROR"
    assert world.stored(CF, wallet_id)["errorCode"] == "MISSING_DETAILS"


@pytest.mark.parametrize("step", ["created", "initialized"])
async def test_an_outcome_is_accepted_only_once_validation_is_requested(step: str) -> None:
    world = World()
    wallet_id = await world.created()
    await world.wallet.open_session(uid(CF), wallet_id, NewSession(), now=world.now)
    if step == "created":  # a created wallet has no token yet: nothing to present
        world.store.items[(uid(CF), wallet_id)]["status"] = "CREATED"
    with pytest.raises(Conflict, match=step.upper()):
        await world.notify(wallet_id)


async def test_the_same_operation_again_is_answered_alike_and_changes_nothing() -> None:
    world = World()
    wallet_id = await world.requested()
    first = await world.notify(wallet_id, operation_id="op-x")
    stored = world.stored(CF, wallet_id)
    again = await world.notify(wallet_id, operation_id="op-x")
    assert again == first
    assert world.stored(CF, wallet_id)["_etag"] == stored["_etag"]
    assert len(world.events()) == 1
    with pytest.raises(Conflict, match="VALIDATED"):
        await world.notify(wallet_id, "CANCELED", operation_id="op-y")


async def test_tokens_that_are_not_this_sessions_are_401() -> None:
    world = World()
    mine = await world.requested()
    theirs = await world.requested(OTHER_CF)
    their_token = world.psp.order_of(theirs).token
    for attempt in (
        world.notify(mine, token="forged"),
        world.notify(mine, token=""),  # an empty header
        world.notify(mine, token=their_token),  # another session's token
        world.notify(mine, order_id=world.psp.order_of(theirs).order_id),
    ):
        with pytest.raises(Unauthorized):
            await attempt
    forged_id = mine[:-2] + ("AA" if mine[-2:] != "AA" else "BB")
    with pytest.raises(Unauthorized):
        await world.wallet.notify(
            forged_id,
            world.psp.order_of(mine).order_id,
            (await _body(world)),
            token=world.psp.order_of(mine).token,
            now=world.now,
        )
    assert world.stored(CF, mine)["status"] == "VALIDATION_REQUESTED"


async def _body(world: World):  # type: ignore[no-untyped-def]
    from shared.wallet.models import GatewayNotification

    return GatewayNotification.model_validate(
        {
            "timestampOperation": world.now.isoformat(),
            "operationId": "op-forged",
            "operationResult": "EXECUTED",
        }
    )


async def test_a_session_past_its_window_is_validation_expired_and_its_token_expires() -> None:
    world = World()
    wallet_id = await world.requested()
    world.advance(minutes=30)
    assert (
        await world.wallet.get(uid(CF), wallet_id, now=world.now)
    ).status == "VALIDATION_EXPIRED"
    with pytest.raises(Conflict, match="window"):
        await world.notify(wallet_id)
    world.advance(minutes=61)  # past the grace for retries: the token is dead
    with pytest.raises(Unauthorized):
        await world.notify(wallet_id)


# ------------------------------------------------------------------ the same card
async def test_the_same_card_with_a_newer_expiry_replaces_the_old_one() -> None:
    world = World()
    old = await world.validated(card_id="gw-1", expiry="202712")
    new = await world.requested(expiry="203012")
    ack = await world.notify(new, card_id="gw-1")
    assert ack.status == "VALIDATED"
    shown = await world.wallet.get(uid(CF), old, now=world.now)
    assert (shown.status, shown.replaced_by) == ("REPLACED", new)
    replaced = world.events()[-1]
    assert replaced["type"] == "InstrumentReplaced"
    assert (replaced["data"]["oldWalletId"], replaced["data"]["newWalletId"]) == (old, new)
    listed = (await world.wallet.instruments(uid(CF), now=world.now)).instruments
    assert [i.wallet_id for i in listed] == [new]
    assert old not in world.stored(CF, "slots")["held"]


@pytest.mark.parametrize("expiry", ["202712", "202612"], ids=["same", "older"])
async def test_the_same_card_not_renewed_ends_the_new_session_already_onboarded(
    expiry: str,
) -> None:
    world = World()
    old = await world.validated(card_id="gw-1", expiry="202712")
    new = await world.requested(expiry=expiry)
    ack = await world.notify(new, card_id="gw-1")
    assert ack.status == "ERROR"
    assert world.stored(CF, new)["errorCode"] == ALREADY_ONBOARDED
    assert (await world.wallet.get(uid(CF), old, now=world.now)).status == "VALIDATED"
    assert [e["type"] for e in world.events()] == ["InstrumentValidated"]
    assert new not in world.stored(CF, "slots")["held"]


async def test_the_same_card_of_another_citizen_is_not_a_replacement() -> None:
    world = World()
    mine = await world.validated(CF, card_id="gw-1")
    theirs = await world.validated(OTHER_CF, card_id="gw-1")
    assert (await world.wallet.get(uid(CF), mine, now=world.now)).status == "VALIDATED"
    assert (await world.wallet.get(uid(OTHER_CF), theirs, now=world.now)).status == "VALIDATED"


# ------------------------------------------------------------------ limits
async def test_at_most_20_live_instruments_counting_sessions_in_progress() -> None:
    world = World()
    for n in range(15):
        await world.validated(card_id=f"gw-{n}")
    for _ in range(5):
        await world.created()
    with pytest.raises(Conflict, match="at most 20"):
        await world.created()
    world.advance(minutes=30)  # the five sessions lapse; they are no longer live
    await world.created()
    assert len((await world.wallet.instruments(uid(CF), now=world.now)).instruments) == 16


async def test_concurrent_creations_never_pass_the_limit_together() -> None:
    world = World(max_instruments=2)
    results = await asyncio.gather(*(world.created() for _ in range(5)), return_exceptions=True)
    created = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert (len(created), len(refused)) == (2, 3)
    assert len(await world.store.current(uid(CF), pending_since="")) == 2


async def test_deletions_and_failed_sessions_give_their_slots_back() -> None:
    world = World(max_instruments=2)
    card = await world.validated(card_id="gw-1")
    failed = await world.requested()
    with pytest.raises(Conflict, match="at most 2"):
        await world.created()
    await world.notify(failed, "DECLINED")
    later = await world.created()  # the failure freed a slot
    await world.wallet.delete(uid(CF), card, now=world.now)
    await world.created()  # the deletion freed one
    await world.wallet.delete(uid(CF), later, now=world.now)
    await world.created()  # so does deleting a session in progress
    assert len(world.stored(CF, "slots")["held"]) == 2


# ------------------------------------------------------------------ reading and changing
async def test_another_citizens_instrument_is_not_found_exactly_like_an_unknown_one() -> None:
    world = World()
    theirs = await world.validated(OTHER_CF)
    for wallet_id in (theirs, "w" + "A" * 59, "not-an-id"):
        with pytest.raises(NotFound):
            await world.wallet.get(uid(CF), wallet_id, now=world.now)
        with pytest.raises(NotFound):
            await world.wallet.delete(uid(CF), wallet_id, now=world.now)


async def test_deleting_publishes_once_and_deleting_again_is_fine() -> None:
    world = World()
    wallet_id = await world.validated()
    await world.wallet.delete(uid(CF), wallet_id, now=world.now)
    await world.wallet.delete(uid(CF), wallet_id, now=world.now)
    assert [e["type"] for e in world.events()] == ["InstrumentValidated", "InstrumentDeleted"]
    assert (await world.wallet.get(uid(CF), wallet_id, now=world.now)).status == "DELETED"


async def test_a_concurrent_write_is_retried_on_fresh_state() -> None:
    store = StaleOnce()
    store.raced = True  # the onboarding's steps run without a race
    world = World(store=store)
    wallet_id = await world.requested()
    store.raced = False
    await world.notify(wallet_id)
    assert world.store.raced  # type: ignore[attr-defined]
    assert (await world.wallet.get(uid(CF), wallet_id, now=world.now)).status == "VALIDATED"
    assert len(world.events()) == 1


async def test_a_delete_that_loses_a_race_reads_the_instrument_and_slots_again() -> None:
    store = StaleOnce()
    store.raced = True
    world = World(store=store)
    wallet_id = await world.validated()
    before = store.round_trips
    store.raced = False
    await world.wallet.delete(uid(CF), wallet_id, now=world.now)
    assert store.raced
    assert store.round_trips - before == 4  # (the two documents, the batch) twice
    assert world.stored(CF, wallet_id)["status"] == "DELETED"
    assert wallet_id not in world.stored(CF, SLOTS_ID)["held"]
    assert [e["type"] for e in world.events()] == ["InstrumentValidated", "InstrumentDeleted"]


async def test_events_wait_in_the_outbox_while_the_broker_is_down() -> None:
    world = World()
    wallet_id = await world.requested()
    world.sender.fail_with = DependencyError("servicebus", "down")
    await world.notify(wallet_id)
    [waiting] = world.stored(CF, wallet_id)["outbox"]
    assert (waiting["type"], waiting["queue"]) == ("InstrumentValidated", QUEUE)
    world.sender.fail_with = None
    assert await world.publisher.sweep() == 1
    assert [e["type"] for e in world.events()] == ["InstrumentValidated"]


async def test_applications_change_with_an_event_only_when_they_change() -> None:
    world = World()
    wallet_id = await world.validated()
    off = ApplicationsUpdate.model_validate(
        {"applications": [{"name": "PAGOPA", "status": "DISABLED"}]}
    )
    shown = await world.wallet.set_applications(uid(CF), wallet_id, off, now=world.now)
    assert [(a.name, a.status) for a in shown.instrument.applications] == [("PAGOPA", "DISABLED")]
    await world.wallet.set_applications(uid(CF), wallet_id, off, now=world.now)
    changed = [e for e in world.events() if e["type"] == "ApplicationChanged"]
    assert [(e["data"]["application"], e["data"]["status"]) for e in changed] == [
        ("PAGOPA", "DISABLED")
    ]
    await world.wallet.delete(uid(CF), wallet_id, now=world.now)
    with pytest.raises(Conflict, match="DELETED"):
        await world.wallet.set_applications(uid(CF), wallet_id, off, now=world.now)


async def test_round_trips_per_step_at_the_store() -> None:
    world = World()
    store = world.store
    counted: dict[str, int] = {}

    async def count(name: str, step):  # type: ignore[no-untyped-def]
        before = store.round_trips
        result = await step
        counted[name] = store.round_trips - before
        return result

    await count("first create", world.created())
    wallet_id = await count("create", world.created())
    opened = await count(
        "session", world.wallet.open_session(uid(CF), wallet_id, NewSession(), now=world.now)
    )
    world.psp.type_card(wallet_id)
    await count(
        "validation", world.wallet.validate(uid(CF), wallet_id, opened.order_id, now=world.now)
    )
    await count("notification", world.notify(wallet_id))
    await count("list", world.wallet.instruments(uid(CF), now=world.now))
    await count("read", world.wallet.get(uid(CF), wallet_id, now=world.now))
    await count("delete", world.wallet.delete(uid(CF), wallet_id, now=world.now))
    assert counted == {
        "first create": 3,  # no slots yet: the live instruments are queried to count them
        "create": 2,  # the slots, one batch
        "session": 2,  # read, replace
        "validation": 2,  # read, replace
        "notification": 2,  # the partition query (with the slots), one batch
        "list": 1,
        "read": 1,
        "delete": 2,  # the instrument and the slots (a batch of reads), one batch
    }


# ------------------------------------------------------------------ a property
_RESULTS = st.sampled_from(["EXECUTED", *FAILURES])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_RESULTS, min_size=1, max_size=5))
async def test_the_first_outcome_wins_whatever_the_gateway_sends_after(
    results: list[str],
) -> None:
    world = World()
    wallet_id = await world.requested()
    first = await world.notify(wallet_id, results[0])
    for result in results[1:]:
        with pytest.raises(Conflict):
            await world.notify(wallet_id, result)
    assert (await world.wallet.get(uid(CF), wallet_id, now=world.now)).status == first.status
    assert len(world.events()) == (1 if results[0] == "EXECUTED" else 0)


# ------------------------------------------------------------------ pseudonymous citizens
async def test_no_wallet_document_or_event_holds_a_fiscal_code() -> None:
    world = World()
    old = await world.validated(card_id="gw-1", expiry="202712")
    new = await world.requested(expiry="203012")
    await world.notify(new, card_id="gw-1")  # a replacement
    failed = await world.requested(OTHER_CF)
    await world.notify(failed, "DECLINED")
    await world.validated(OTHER_CF, card_id="gw-2")
    off = ApplicationsUpdate.model_validate(
        {"applications": [{"name": "PAGOPA", "status": "DISABLED"}]}
    )
    await world.wallet.set_applications(uid(CF), new, off, now=world.now)
    await world.wallet.delete(uid(CF), new, now=world.now)
    stored = json.dumps(list(world.store.items.values()))
    events = json.dumps(world.events())
    assert len(world.events()) == 5
    assert (await world.wallet.get(uid(CF), old, now=world.now)).status == "REPLACED"
    for cf in (CF, OTHER_CF):
        for text in (stored, events):
            assert cf not in text
            assert cf.lower() not in text.lower()
            assert fiscal_code_hash(cf) not in text  # nor its plain hash (enumerable)
    assert {e["data"]["userId"] for e in world.events()} == {uid(CF), uid(OTHER_CF)}


# ------------------------------------------------------------------ what users expect
async def test_one_favourite_listed_first() -> None:
    world = World()
    first = await world.validated(card_id="gw-1")
    world.advance(minutes=1)
    second = await world.validated(card_id="gw-2")
    world.advance(minutes=1)
    pending = await world.created()
    listed = (await world.wallet.instruments(uid(CF), now=world.now)).instruments
    assert [i.wallet_id for i in listed] == [pending, second, first]
    shown = await world.wallet.set_favourite(uid(CF), first, now=world.now)
    assert shown.favourite
    listed = (await world.wallet.instruments(uid(CF), now=world.now)).instruments
    assert [(i.wallet_id, i.favourite) for i in listed] == [
        (first, True),
        (pending, False),
        (second, False),
    ]
    await world.wallet.set_favourite(uid(CF), second, now=world.now)
    listed = (await world.wallet.instruments(uid(CF), now=world.now)).instruments
    assert [i.wallet_id for i in listed if i.favourite] == [second]
    with pytest.raises(Conflict, match="CREATED"):
        await world.wallet.set_favourite(uid(CF), pending, now=world.now)
    with pytest.raises(NotFound):
        await world.wallet.set_favourite(uid(OTHER_CF), second, now=world.now)


async def test_a_payment_records_the_last_usage() -> None:
    world = World()
    wallet_id = await world.validated()
    assert (await world.wallet.get(uid(CF), wallet_id, now=world.now)).last_usage is None
    world.advance(hours=2)
    await world.wallet.record_usage(wallet_id, now=world.now)
    assert (await world.wallet.get(uid(CF), wallet_id, now=world.now)).last_usage == world.now


async def test_auth_data_says_what_a_payment_needs_and_never_a_card_number() -> None:
    world = World()
    wallet_id = await world.validated()
    data = await world.wallet.auth_data(wallet_id, now=world.now)
    assert data.model_dump(by_alias=True) == {
        "walletId": wallet_id,
        "contractId": world.psp.order_of(wallet_id).contract_id,
        "brand": "VISA",
        "paymentMethodData": {"paymentMethodType": "cards", "bin": "424242"},
    }
    assert "4242424242424242" not in data.model_dump_json()
    off = ApplicationsUpdate.model_validate(
        {"applications": [{"name": "PAGOPA", "status": "DISABLED"}]}
    )
    await world.wallet.set_applications(uid(CF), wallet_id, off, now=world.now)
    with pytest.raises(Conflict, match="pagoPA"):
        await world.wallet.auth_data(wallet_id, now=world.now)
    pending = await world.requested()
    with pytest.raises(Conflict, match="VALIDATION_REQUESTED"):
        await world.wallet.auth_data(pending, now=world.now)
    with pytest.raises(NotFound):
        await world.wallet.auth_data("w" + "A" * 80, now=world.now)


async def test_a_switched_off_application_fails_and_the_rest_is_updated() -> None:
    world = World(disabled_applications=frozenset({"PAGOPA"}))
    wallet_id = await world.validated()
    on = ApplicationsUpdate.model_validate(
        {"applications": [{"name": "PAGOPA", "status": "ENABLED"}]}
    )
    off = ApplicationsUpdate.model_validate(
        {"applications": [{"name": "PAGOPA", "status": "DISABLED"}]}
    )
    result = await world.wallet.set_applications(uid(CF), wallet_id, off, now=world.now)
    assert (result.updated_applications, result.failed_applications) == (
        [Application(name="PAGOPA", status="DISABLED")],
        [],
    )
    result = await world.wallet.set_applications(uid(CF), wallet_id, on, now=world.now)
    assert result.updated_applications == []
    assert result.failed_applications == [Application(name="PAGOPA", status="ENABLED")]
    assert [a.status for a in result.instrument.applications] == ["DISABLED"]


async def test_account_closure_deletes_every_instrument_with_its_events() -> None:
    world = World()
    cards = [await world.validated(card_id=f"gw-{n}") for n in range(3)]
    pending = await world.requested()
    theirs = await world.validated(OTHER_CF, card_id="gw-x")
    assert await world.wallet.delete_all(uid(CF), now=world.now) == 4
    for wallet_id in [*cards, pending]:
        assert (await world.wallet.get(uid(CF), wallet_id, now=world.now)).status == "DELETED"
    assert (await world.wallet.instruments(uid(CF), now=world.now)).instruments == []
    deleted = [e["data"]["walletId"] for e in world.events() if e["type"] == "InstrumentDeleted"]
    assert sorted(deleted) == sorted(cards)
    assert (await world.wallet.get(uid(OTHER_CF), theirs, now=world.now)).status == "VALIDATED"
    assert world.stored(CF, "slots")["held"] == {}


async def test_the_helpdesk_sees_a_users_instruments_by_user_id() -> None:
    world = World()
    card = await world.validated()
    failed = await world.requested()
    await world.notify(failed, "DECLINED")
    seen = (await world.wallet.helpdesk(uid(CF), now=world.now)).instruments
    assert {(i.wallet_id, i.status) for i in seen} == {(card, "VALIDATED"), (failed, "ERROR")}
    assert (await world.wallet.helpdesk(uid(OTHER_CF), now=world.now)).instruments == []
