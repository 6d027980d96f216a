"""Acquirers' transactions: each line checked on its own, accepted ones enqueued in chunks, and
the scorer applying the rules to citizens' period states (idempotent, around activation
midnights, with reversals)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.auth.fiscal_code import fiscal_code_hash
from shared.cashback import rules
from shared.cashback.acquirer_api import TransactionBatchIn, TransactionIn
from shared.cashback.chunks import CHUNK_LINES
from shared.cashback.documents import (
    StoredCitizen,
    StoredHpan,
    StoredInstrument,
    StoredMatch,
    StoredPayment,
    StoredPending,
    StoredPeriod,
    StoredTransaction,
    dump,
    hpan_pk,
    instrument_id,
    match_id,
)
from shared.cashback.intake import Intake
from shared.cashback.rules import parse_periods
from shared.cashback.scorer import Scorer
from shared.cashback.written import WrittenDocuments
from shared.platform.clock import ROME
from shared.platform.errors import Conflict, Invalid, NotFound, PermanentError
from tests.fakes.cashback import MemoryCashbackStore
from tests.fakes.platform import MemorySender
from tests.unit.cashback.fakes import HPAN_A, HPAN_B, Scene
from tests.unit.cashback.test_rules import LATER
from tests.unit.wallet.fakes import CF, OTHER_CF, uid

PERIODS = parse_periods(
    json.dumps(
        [
            {
                "id": 9,
                "from": "2026-12-01",
                "to": "2026-12-31",
                "minTransactions": 3,
                "maxPerTransaction": 1500,
                "maxPerPeriod": 3000,
                "superCashback": 0,
                "topN": 0,
                "graceDays": 2,
            }
        ]
    )
)
# 20:00 in Rome on 8 December: the card enabled now counts from 9 December 00:00 Rome.
ENABLED_AT = datetime(2026, 12, 8, 19, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 9, 0, 0, tzinfo=ROME)
ACQ = "DEMOACQ"


def line(
    n: int | str,
    *,
    amount: int = 2000,
    at: datetime | None = None,
    op: str = "00",
    hpan: str = HPAN_A,
    corr: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "acquirerId": ACQ,
        "acquirerCode": "12345",
        "idTrxAcquirer": f"t{n}",
        "hpan": hpan,
        "operationType": op,
        "trxDate": (at or MIDNIGHT + timedelta(hours=10)).isoformat(),
        "amount": amount,
        "merchantId": "m1",
        "terminalId": "t1",
        "circuitType": "01",
        **extra,
    }
    if corr is not None:
        body["correlationId"] = corr
    return body


@pytest.fixture
async def scene() -> Scene:
    scene = Scene(now=ENABLED_AT, periods=PERIODS)
    await scene.cashback.enroll(CF, now=scene.now)
    wallet_id = await scene.onboard(CF, HPAN_A)
    await scene.cashback.enable(CF, wallet_id, now=scene.now)
    return scene


async def score(
    scene: Scene, *lines: dict[str, Any], received_at: datetime | None = None
) -> list[str]:
    scorer = Scorer(scene.store, PERIODS)
    when = received_at or datetime(2026, 12, 20, tzinfo=UTC)
    return [
        await scorer.score(TransactionIn.model_validate(raw), received_at=when) for raw in lines
    ]


async def state(scene: Scene, cf: str = CF) -> dict[str, Any]:
    shown = await scene.cashback.period(cf, "9", now=datetime(2026, 12, 20, tzinfo=UTC))
    return shown.model_dump(mode="json", by_alias=True)


# ------------------------------------------------------------------------ the intake

NOW = datetime(2026, 12, 20, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"hpan": "A" * 64}, "INVALID"),
        ({"operationType": "04"}, "INVALID"),
        ({"amount": 0}, "INVALID"),
        ({"amount": "12.50"}, "INVALID"),
        ({"trxDate": "2026-12-10T10:00:00"}, "INVALID"),
        ({"merchantId": ""}, "INVALID"),
        ({"terminalId": "x" * 65}, "INVALID"),
        ({"circuitType": "1"}, "INVALID"),
        ({"correlationId": "a b"}, "INVALID"),
        ({"extra": 1}, "INVALID"),
        ({"idTrxAcquirer": None}, "INVALID"),
        # a year Python cannot even convert to UTC, and years out of range
        ({"trxDate": "0001-01-01T00:00:00+01:00"}, "INVALID"),
        ({"trxDate": "9999-12-31T23:59:59-14:00"}, "INVALID"),
        ({"trxDate": "1999-12-31T23:00:00+00:00"}, "INVALID"),
        ({"trxDate": "2100-01-01T00:00:00+00:00"}, "INVALID"),
        # a number is not a date-time (pydantic would read Unix seconds), nor a boolean a number
        ({"trxDate": 1_797_328_800}, "INVALID"),
        ({"amount": True}, "INVALID"),
        ({"amount": 2000.0}, "INVALID"),
        ({"amount": 2**64}, "INVALID"),
        ({"merchantId": "m\x00"}, "INVALID"),
        ({"acquirerId": True}, "INVALID"),
        ({"acquirerId": "OTHERACQ"}, "NOT_YOUR_ACQUIRER_ID"),
        ({"trxDate": "2026-12-20T14:00:00+01:00"}, "IN_THE_FUTURE"),
        ({"trxDate": "2026-11-30T23:59:00+01:00"}, "NO_PERIOD"),
    ],
)
async def test_each_bad_line_is_rejected_with_its_reason(
    change: dict[str, Any], reason: str
) -> None:
    sender = MemorySender()
    intake = Intake(sender, "q", PERIODS)
    batch = TransactionBatchIn(transactions=[line(1), {**line(2), **change}, line(3)])
    result = await intake.submit(ACQ, batch, now=NOW)
    assert result.accepted == 2
    [rejected] = result.rejected
    assert (rejected.index, rejected.reason) == (1, reason)
    if reason == "INVALID":
        assert rejected.errors
    [(queue, message)] = sender.sent
    sent = json.loads(message.body)
    assert queue == "q"
    assert [t["idTrxAcquirer"] for t in sent["transactions"]] == ["t1", "t3"]
    assert datetime.fromisoformat(sent["receivedAt"]) == NOW


@pytest.mark.parametrize("bad", [None, 7, "line", [], True])
async def test_a_line_that_is_not_an_object_is_rejected_alone(bad: object) -> None:
    sender = MemorySender()
    batch = TransactionBatchIn.model_validate({"transactions": [line(1), bad, line(3)]})
    result = await Intake(sender, "q", PERIODS).submit(ACQ, batch, now=NOW)
    assert result.accepted == 2
    assert [(r.index, r.reason) for r in result.rejected] == [(1, "INVALID")]


async def test_after_the_grace_days_a_period_refuses_its_transactions() -> None:
    intake = Intake(MemorySender(), "q", PERIODS)
    batch = TransactionBatchIn(transactions=[line(1, at=datetime(2026, 12, 31, 12, tzinfo=ROME))])
    in_grace = await intake.submit(ACQ, batch, now=datetime(2027, 1, 2, 22, 59, tzinfo=UTC))
    assert in_grace.accepted == 1
    late = await intake.submit(ACQ, batch, now=datetime(2027, 1, 2, 23, 0, tzinfo=UTC))
    assert [r.reason for r in late.rejected] == ["PERIOD_CLOSED"]


async def test_a_batch_travels_in_chunks_and_the_same_batch_makes_the_same_messages() -> None:
    sender = MemorySender()
    intake = Intake(sender, "q", PERIODS)
    batch = TransactionBatchIn(
        transactions=[line(i) for i in range(CHUNK_LINES * 2 + 1)] + [line(0)]
    )
    result = await intake.submit(ACQ, batch, now=NOW)
    assert result.accepted == CHUNK_LINES * 2 + 1
    assert [r.reason for r in result.rejected] == ["DUPLICATE_IN_BATCH"]
    assert [len(json.loads(m.body)["transactions"]) for _, m in sender.sent] == [
        CHUNK_LINES,
        CHUNK_LINES,
        1,
    ]
    first_ids = [m.message_id for _, m in sender.sent]
    await intake.submit(ACQ, batch, now=NOW + timedelta(minutes=1))
    assert [m.message_id for _, m in sender.sent[3:]] == first_ids
    assert len(set(first_ids)) == 3


# ------------------------------------------------------------------------ the scorer


async def test_counting_starts_at_the_rome_midnight_after_enabling(scene: Scene) -> None:
    outcomes = await score(
        scene,
        line(1, at=MIDNIGHT - timedelta(seconds=1)),
        line(2, at=MIDNIGHT),
        line(3, at=ENABLED_AT - timedelta(hours=1)),
    )
    assert outcomes == ["INSTRUMENT_NOT_ACTIVE", "COUNTED", "INSTRUMENT_NOT_ACTIVE"]
    shown = await state(scene)
    assert (shown["count"], shown["cashback"]) == (1, 200)


async def test_an_unknown_instrument_or_one_never_enabled_does_not_count(scene: Scene) -> None:
    await scene.onboard(CF, HPAN_B)  # known to cashback, not enabled
    assert await score(scene, line(1, hpan="c" * 64), line(2, hpan=HPAN_B)) == [
        "INSTRUMENT_NOT_ACTIVE",
        "INSTRUMENT_NOT_ACTIVE",
    ]


async def test_the_same_transaction_twice_counts_once(scene: Scene) -> None:
    assert await score(scene, line(1), line(1), line(1)) == [
        "COUNTED",
        "ALREADY_APPLIED",
        "ALREADY_APPLIED",
    ]
    assert (await state(scene))["count"] == 1


async def test_the_period_state_shows_count_cashback_and_milestones(scene: Scene) -> None:
    await score(
        scene,
        line(1, amount=20000),
        line(2, amount=500),
        line(3, amount=9000),
        line(4, amount=7000),
    )
    shown = await state(scene)
    # 15.00 + 0.50 + 9.00 (cap 30.00 not yet) + 7.00 = 31.50: the cap is crossed by t4
    assert (shown["count"], shown["cashback"]) == (4, 3150)
    assert (shown["minReached"], shown["capReached"]) == (True, True)
    assert shown["milestones"] == {
        "minReachedBy": "DEMOACQ:t3:12345:00:20261209T090000.000000Z",
        "capCrossedBy": "DEMOACQ:t4:12345:00:20261209T090000.000000Z",
    }
    assert shown["status"] == "ACTIVE"
    assert shown["lastProcessingDay"] == "2027-01-02"


async def test_reversals_partial_full_and_before_their_payment(scene: Scene) -> None:
    assert await score(scene, line("r0", op="01", amount=3000, corr="c0")) == ["PENDING"]
    assert await score(
        scene,
        line(1, amount=20000, corr="c1"),
        line("r1", op="01", amount=6000, corr="c1"),  # 200 -> 140: -1.00
        line(2, amount=3000),
        line("r2", op="01", amount=3000),  # full, no correlation
        line(0, amount=3000, corr="c0"),
    ) == ["COUNTED", "COUNTED", "COUNTED", "COUNTED", "COUNTED"]
    shown = await state(scene)
    assert (shown["count"], shown["cashback"]) == (1, 1400)


async def test_a_refund_after_disabling_still_takes_the_cashback_back(scene: Scene) -> None:
    await score(scene, line(1, amount=5000, corr="c1"))
    [item] = (await scene.cashback.instruments(CF)).instruments
    await scene.cashback.disable(CF, item.wallet_id, now=MIDNIGHT + timedelta(days=1))
    outcomes = await score(
        scene,
        line(2, at=MIDNIGHT + timedelta(days=1, hours=23)),
        line(3, at=MIDNIGHT + timedelta(days=2)),
        line("r1", op="01", amount=5000, corr="c1", at=MIDNIGHT + timedelta(days=3)),
    )
    assert outcomes == ["COUNTED", "INSTRUMENT_NOT_ACTIVE", "COUNTED"]
    assert ((await state(scene))["count"], (await state(scene))["cashback"]) == (1, 200)


async def test_terms_accepted_after_the_transaction_do_not_count(scene: Scene) -> None:
    # OTHER_CF enables the same card after CF disabled it, and accepted T&C only at noon.
    [item] = (await scene.cashback.instruments(CF)).instruments
    await scene.cashback.disable(CF, item.wallet_id, now=ENABLED_AT + timedelta(minutes=1))
    scene.world.clock.set(ENABLED_AT + timedelta(minutes=2))
    await scene.cashback.enroll(OTHER_CF, now=MIDNIGHT + timedelta(days=1, hours=12))
    theirs = await scene.onboard(OTHER_CF, HPAN_A)
    await scene.cashback.enable(OTHER_CF, theirs, now=ENABLED_AT + timedelta(minutes=2))
    outcomes = await score(
        scene,
        line(1, at=MIDNIGHT + timedelta(days=1, hours=11)),
        line(2, at=MIDNIGHT + timedelta(days=1, hours=13)),
    )
    assert outcomes == ["NOT_ENROLLED", "COUNTED"]
    assert (await state(scene, OTHER_CF))["count"] == 1
    assert (await state(scene, CF))["count"] == 0


async def test_a_whole_chunk_twice_changes_nothing_the_second_time(scene: Scene) -> None:
    sender = MemorySender()
    await Intake(sender, "q", PERIODS).submit(
        ACQ, TransactionBatchIn(transactions=[line(i, amount=1000 + i) for i in range(20)]), now=NOW
    )
    [(_, message)] = sender.sent
    scorer = Scorer(scene.store, PERIODS)
    assert await scorer.process(message.body) == {"COUNTED": 20}
    assert await scorer.process(message.body) == {"ALREADY_APPLIED": 20}
    shown = await state(scene)
    assert shown["count"] == 20
    assert shown["cashback"] == sum(rules.score(1000 + i, PERIODS[0]) for i in range(20))


@pytest.mark.parametrize(
    "body",
    [
        b'{"transactions": 1}',
        b'{"receivedAt": "0001-01-01T00:00:00+14:00", "transactions": []}',
        b'{"receivedAt": 1797328800, "transactions": []}',
    ],
)
async def test_not_a_chunk_is_a_permanent_failure(scene: Scene, body: bytes) -> None:
    with pytest.raises(PermanentError):
        await Scorer(scene.store, PERIODS).process(body)


async def test_periods_list_newest_first_and_an_unknown_one_is_404(scene: Scene) -> None:
    listed = await scene.cashback.periods(CF, now=ENABLED_AT)
    assert [(p.id, p.status, p.count) for p in listed.periods] == [(9, "ACTIVE", 0)]
    with pytest.raises(NotFound):
        await scene.cashback.period(CF, "3", now=ENABLED_AT)


# ------------------------------------------------------------------------ the listing


async def test_the_listing_shows_each_transaction_with_its_effect_newest_first(
    scene: Scene,
) -> None:
    await score(scene, line("r1", op="01", amount=500, corr="c1", at=MIDNIGHT + timedelta(hours=3)))
    page = await scene.cashback.transactions(CF, "9")
    assert [(t.id_trx_acquirer, t.status, t.cashback) for t in page.transactions] == [
        ("tr1", "PENDING", None)
    ]
    await score(
        scene,
        line(1, amount=2000, corr="c1", at=MIDNIGHT + timedelta(hours=1)),
        line(2, amount=3000, at=MIDNIGHT + timedelta(hours=2)),
    )
    page = await scene.cashback.transactions(CF, "9")
    assert [(t.id_trx_acquirer, t.status, t.count, t.cashback) for t in page.transactions] == [
        ("tr1", "COUNTED", 0, -50),
        ("t2", "COUNTED", 1, 300),
        ("t1", "COUNTED", 1, 200),
    ]
    assert page.continuation_token is None


async def test_the_listing_pages_with_a_continuation_token(scene: Scene) -> None:
    await score(scene, *(line(i, at=MIDNIGHT + timedelta(minutes=i)) for i in range(120)))
    seen: list[str] = []
    token = None
    for _ in range(3):
        page = await scene.cashback.transactions(CF, "9", continuation=token)
        seen += [t.id_trx_acquirer for t in page.transactions]
        token = page.continuation_token
    assert token is None
    assert seen == [f"t{i}" for i in reversed(range(120))]


async def test_a_listing_record_lost_in_a_crash_comes_back_without_its_effect(scene: Scene) -> None:
    await score(scene, line(1))
    [record] = [
        key
        for key in scene.store.items
        if key[0] == fiscal_code_hash(CF) and key[1].startswith("trx:9:DEMOACQ:t1:")
    ]
    del scene.store.items[record]
    assert await score(scene, line(1)) == ["ALREADY_APPLIED"]
    [shown] = (await scene.cashback.transactions(CF, "9")).transactions
    assert (shown.status, shown.count, shown.cashback) == ("COUNTED", None, None)


@pytest.mark.parametrize("token", ["x", "bm90IGEga2V5", "!!!"])
async def test_a_continuation_token_this_api_did_not_give_is_refused(
    scene: Scene, token: str
) -> None:
    with pytest.raises(Invalid):
        await scene.cashback.transactions(CF, "9", continuation=token)
    with pytest.raises(NotFound):
        await scene.cashback.transactions(CF, "3")


# ------------------------------------------------------------------------ round trips


def chunk(*lines: dict[str, Any]) -> bytes:
    return json.dumps(
        {"receivedAt": "2026-12-20T00:00:00+00:00", "transactions": list(lines)}
    ).encode()


async def test_a_chunk_costs_a_few_round_trips_per_citizen_whatever_its_lines(scene: Scene) -> None:
    store = scene.store
    assert isinstance(store, MemoryCashbackStore)
    scorer = Scorer(store, PERIODS)
    before = store.round_trips
    # the hpan (it holds the citizen's spans and T&C time), the state, one batch write
    assert await scorer.process(chunk(*(line(i) for i in range(5)))) == {"COUNTED": 5}
    assert store.round_trips - before == 3
    before = store.round_trips
    # the state this scorer wrote last is not read again
    assert await scorer.process(chunk(line(5), line(6))) == {"COUNTED": 2}
    assert store.round_trips - before == 2
    shown = await state(scene)
    assert shown["count"] == 7
    # what the ranking orders by came from the hpan's document too
    stored = scene.store.items[(fiscal_code_hash(CF), "period:9")]
    assert (stored["fiscalCode"], stored["termsAcceptedAt"]) == (CF, "2026-12-08T19:00:00Z")


# Two citizens taking turns with one card, one withdrawing and enrolling again: after any such
# story the hpan's document holds, for each citizen who enabled the card, what their own
# documents say (the scorer reads that document alone to know whose a transaction is).
_STEP = st.tuples(
    st.sampled_from(
        ["enable", "enable", "enable", "disable", "withdraw", "enroll", "enroll", "delete"]
    ),
    st.sampled_from([CF, OTHER_CF]),
    st.one_of(st.integers(1, 3600), st.integers(1, 60 * 60 * 48)),
)


async def _story(steps: list[tuple[str, str, int]]) -> Scene:
    scene = Scene(now=ENABLED_AT, periods=PERIODS)
    wallets = {}
    for cf in (CF, OTHER_CF):
        await scene.cashback.enroll(cf, now=scene.now)
        wallets[cf] = await scene.onboard(cf, HPAN_A)
    for action, cf, seconds in steps:
        scene.advance(seconds=seconds)
        with contextlib.suppress(Conflict, NotFound):
            if action == "enable":
                await scene.cashback.enable(cf, wallets[cf], now=scene.now)
            elif action == "disable":
                await scene.cashback.disable(cf, wallets[cf], now=scene.now)
            elif action == "withdraw":
                await scene.cashback.withdraw(cf, now=scene.now)
            elif action == "enroll":
                await scene.cashback.enroll(cf, now=scene.now)
            else:  # deleted in the wallet, onboarded again: a new walletId for the same card
                await scene.world.wallet.delete(uid(cf), wallets[cf], now=scene.now)
                await scene.deliver()
                wallets[cf] = await scene.onboard(cf, HPAN_A)
    return scene


@settings(max_examples=60, deadline=None)
@given(st.lists(_STEP, min_size=1, max_size=8))
# withdrawn on the day after enabling, enrolled again a minute later: T&C time moved
@example([("enable", CF, 3600), ("withdraw", CF, 30 * 3600), ("enroll", CF, 60)])
# the card passed to the other citizen and deleted in their wallet
@example(
    [
        ("enable", CF, 3600),
        ("disable", CF, 86400),
        ("enable", OTHER_CF, 600),
        ("delete", OTHER_CF, 2 * 86400),
    ]
)
def test_the_hpan_holds_what_each_holders_own_documents_say_after_any_story(
    steps: list[tuple[str, str, int]],
) -> None:
    async def run() -> None:
        scene = await _story(steps)
        raw = scene.store.items.get((hpan_pk(HPAN_A), HPAN_A))
        held = StoredHpan.model_validate(raw).holders if raw is not None else {}
        for cf in (CF, OTHER_CF):
            citizen_id = fiscal_code_hash(cf)
            instrument = StoredInstrument.model_validate(
                scene.store.items[(citizen_id, instrument_id(HPAN_A))]
            )
            enrollment = StoredCitizen.model_validate(scene.store.items[(citizen_id, "citizen")])
            holder = held.get(citizen_id)
            if holder is None:
                assert instrument.history == []  # never enabled
                continue
            assert (holder.fiscal_code, holder.history) == (cf, instrument.history)
            # A withdrawal moves it to its instant: nothing before it counts any more.
            assert holder.terms_accepted_at == (
                enrollment.withdrawn_at
                if enrollment.status == "WITHDRAWN"
                else enrollment.terms_accepted_at
            )

    asyncio.run(run())


async def test_a_state_another_worker_wrote_since_is_read_again(scene: Scene) -> None:
    mine, theirs = Scorer(scene.store, PERIODS), Scorer(scene.store, PERIODS)
    await mine.process(chunk(line(1)))
    await theirs.process(chunk(line(2)))
    assert await mine.process(chunk(line(3), line(1))) == {"COUNTED": 1, "ALREADY_APPLIED": 1}
    assert (await state(scene))["count"] == 3
    listed = (await scene.cashback.transactions(CF, "9")).transactions
    assert sorted(t.id_trx_acquirer for t in listed) == ["t1", "t2", "t3"]


def test_the_remembered_documents_stay_within_their_budget() -> None:
    remembered = WrittenDocuments(10)
    model = StoredPeriod.empty("pk", 9, datetime(2026, 2, 1, tzinfo=UTC))
    for n in range(5):
        remembered.put(("pk", f"d{n}"), model, f"e{n}", 4)
    assert [remembered.get(("pk", f"d{n}")) is not None for n in range(5)] == [
        False,
        False,
        False,
        True,
        True,
    ]
    assert remembered.get(("pk", "d4")) == (model, "e4")
    remembered.put(("pk", "big"), model, "e", 11)  # bigger than the budget: not kept
    assert remembered.get(("pk", "big")) is None
    remembered.drop(("pk", "d3"))
    assert remembered.get(("pk", "d3")) is None
    remembered.put(("pk", "d5"), model, "e5", 4)  # d3's room is free: d4 stays
    assert remembered.get(("pk", "d4")) is not None


def test_a_match_document_survives_its_json() -> None:
    txn = rules.Transaction(
        id="A:r1",
        hpan=HPAN_A,
        operation="01",
        amount=500,
        at=MIDNIGHT,
        acquirer_id="A",
        acquirer_code="12345",
        merchant_id="m",
        terminal_id="t",
        correlation_id="c1",
    )
    match = StoredMatch(
        id=match_id(rules.match_key(txn)),
        pk="pk",
        key=list(rules.match_key(txn)),
        payments=[StoredPayment(id="A:p1", period=9, at=MIDNIGHT, remaining=700)],
        pending=[StoredPending(txn=StoredTransaction.of(txn), until=LATER, period=9)],
        applied={"A:p1": 9, "A:r1": 9},
        updated_at=LATER,
    )
    read_back = StoredMatch.model_validate(json.loads(json.dumps(dump(match))))
    assert read_back == match
    assert read_back.pending[0].txn.rule_view() == txn


async def test_a_reversal_reusing_its_payments_id_in_the_same_batch_is_no_duplicate() -> None:
    sender = MemorySender()
    later = MIDNIGHT + timedelta(hours=11)
    batch = TransactionBatchIn.model_validate(
        {"transactions": [line(7), line(7, op="01", at=later), line(7, acquirerCode="54321")]}
    )
    result = await Intake(sender, "q", PERIODS).submit(ACQ, batch, now=NOW)
    assert result.accepted == 3  # another operation type, another acquirer code: other keys
    assert result.rejected == []
