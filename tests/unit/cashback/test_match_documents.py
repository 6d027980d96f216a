"""Where the scorer keeps the reversal rule's matching state: one document per (citizen, match
key) across periods, beside period states of constant size. Reversals that arrive before a
payment of the previous period, heavy users past Cosmos's 2 MB item, batches past 100
operations, a crash between two batches, and two scorers writing one citizen's documents at
once."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.auth.fiscal_code import fiscal_code_hash
from shared.cashback import rules
from shared.cashback.acquirer_api import TransactionIn
from shared.cashback.chunks import CHUNK_LINES
from shared.cashback.documents import StoredMatch, match_id, period_id
from shared.cashback.scorer import Scorer
from shared.cashback.store import (
    BATCH_OPERATIONS,
    Document,
    DocumentTooLarge,
    Operation,
    StaleDocument,
)
from shared.platform.errors import DependencyError
from tests.fakes.cashback import MemoryCashbackStore
from tests.unit.cashback import ledger
from tests.unit.cashback.fakes import HPAN_A, Scene
from tests.unit.cashback.test_reversals_across_periods import (
    ACQ,
    DECEMBER,
    DURING_GRACE,
    IN_DECEMBER,
    IN_NOVEMBER,
    NOVEMBER,
    PERIODS,
    enrolled_scene,
    line,
    score_lines,
    totals,
)
from tests.unit.cashback.test_rules import payments_and_reversals
from tests.unit.wallet.fakes import CF

CITIZEN_ID = fiscal_code_hash(CF)


@pytest.fixture
async def scene() -> Scene:
    return await enrolled_scene()


def memory(scene: Scene) -> MemoryCashbackStore:
    assert isinstance(scene.store, MemoryCashbackStore)
    return scene.store


def rule_view(raw: dict[str, Any]) -> rules.Transaction:
    return TransactionIn.model_validate(raw).rule_view()


def reference(period: rules.Period, *raws: dict[str, Any]) -> tuple[int, int]:
    """The reversal rule's reference model: the period's ledger over the lines in arrival order."""
    return ledger.totals(ledger.apply_all(period, [rule_view(r) for r in raws], DURING_GRACE))


async def listed(scene: Scene, period: int) -> list[tuple[str, str, int | None, int | None]]:
    page = await scene.cashback.transactions(CF, str(period))
    return [(t.id_trx_acquirer, t.status, t.count, t.cashback) for t in page.transactions]


# ------------------------------------------------------------------------ across periods


async def test_a_reversal_before_its_payment_of_the_previous_period_meets_it(scene: Scene) -> None:
    reversal = line("r1", at=IN_DECEMBER, op="01", amount=2000, corr="c1")
    payment = line(1, at=IN_NOVEMBER, amount=5000, corr="c1")
    assert await score_lines(scene, reversal) == ["PENDING"]
    assert await listed(scene, 9) == [("tr1", "PENDING", None, None)]
    assert await score_lines(scene, payment) == ["COUNTED"]
    assert await totals(scene, 8) == reference(NOVEMBER, payment, reversal) == (1, 300)
    assert await totals(scene, 9) == (0, 0)
    # Its record moved to the period it applied in.
    assert await listed(scene, 8) == [("tr1", "COUNTED", 0, -200), ("t1", "COUNTED", 1, 500)]
    assert await listed(scene, 9) == []
    # Delivered again, both are known in their key's document.
    assert await score_lines(scene, payment, reversal) == ["ALREADY_APPLIED"] * 2
    assert await totals(scene, 8) == (1, 300)


async def test_in_one_chunk_too_and_several_waiting_apply_in_their_order(scene: Scene) -> None:
    lines = [
        line("r1", at=IN_DECEMBER, op="01", amount=1000, corr="c1"),
        line("r2", at=IN_DECEMBER, op="01", amount=3500, corr="c1"),
        line("r3", at=IN_DECEMBER, op="01", amount=900, corr="c1"),
        line(1, at=IN_NOVEMBER, amount=5000, corr="c1"),
    ]
    assert await score_lines(scene, *lines) == ["PENDING"] * 3 + ["COUNTED"]
    # 5000 -> 4000 -> 500 -> 0: the third takes what remains and the count back
    assert await totals(scene, 8) == reference(NOVEMBER, *lines) == (0, 0)
    assert sorted(await listed(scene, 8)) == [
        ("t1", "COUNTED", 1, 500),
        ("tr1", "COUNTED", 0, -100),
        ("tr2", "COUNTED", 0, -350),
        ("tr3", "COUNTED", -1, -50),
    ]


async def test_a_reversal_that_waited_a_month_in_vain_never_applies(scene: Scene) -> None:
    reversal = line("r1", at=IN_DECEMBER, op="01", amount=5000, corr="c1")
    assert await score_lines(
        scene, reversal, received_at=datetime(2026, 12, 4, 9, tzinfo=IN_DECEMBER.tzinfo)
    ) == ["PENDING"]
    # Its payment arrives after the month: the reversal left the waiting list.
    late = datetime(2027, 1, 5, tzinfo=IN_DECEMBER.tzinfo)
    assert await score_lines(
        scene, line(1, at=IN_DECEMBER, amount=5000, corr="c1"), reversal, received_at=late
    ) == ["COUNTED", "ALREADY_APPLIED"]
    shown = await scene.cashback.period(CF, "9", now=late)
    assert (shown.count, shown.cashback) == (1, 500)
    assert sorted(await listed(scene, 9)) == [
        ("t1", "COUNTED", 1, 500),
        ("tr1", "PENDING", None, None),
    ]
    stored = await scene.store.get(CITIZEN_ID, match_id(rules.match_key(rule_view(reversal))))
    assert stored is not None
    assert StoredMatch.model_validate(stored).pending == []


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payments_and_reversals(),
    st.randoms(use_true_random=False),
    st.lists(st.integers(0, 40), max_size=3),
)
async def test_any_order_and_chunking_gives_the_reference_totals(
    case: tuple[list[rules.Transaction], int, int], rnd: random.Random, cuts: list[int]
) -> None:
    txns, _, _ = case
    shift = IN_DECEMBER - datetime(2021, 3, 1, 8, tzinfo=IN_DECEMBER.tzinfo)
    raws = [
        {
            "acquirerId": ACQ,
            "acquirerCode": "12345",
            "idTrxAcquirer": t.id,
            "hpan": HPAN_A,
            "operationType": t.operation,
            "trxDate": (t.at + shift).isoformat(),
            "amount": t.amount,
            "merchantId": t.merchant_id,
            "terminalId": t.terminal_id,
            "circuitType": "01",
            **({"correlationId": t.correlation_id} if t.correlation_id else {}),
        }
        for t in txns
    ]
    rnd.shuffle(raws)
    scene = await enrolled_scene()
    scorer = Scorer(scene.store, PERIODS)
    bounds = [0, *sorted(c for c in cuts if c < len(raws)), len(raws)]
    for a, b in itertools.pairwise([*bounds, 0, len(raws)]):  # then all of them again
        if a < b:
            await scorer.score_all(
                [TransactionIn.model_validate(r) for r in raws[a:b]], received_at=DURING_GRACE
            )
    assert await totals(scene, 9) == reference(DECEMBER, *raws)


# ------------------------------------------------------------------------ storage


async def test_the_period_state_stays_small_whatever_the_transactions(scene: Scene) -> None:
    await score_lines(
        scene, *(line(i, at=IN_DECEMBER, amount=1000 + i, corr=f"c{i}") for i in range(200))
    )
    state = await scene.store.get(CITIZEN_ID, period_id(9))
    assert state is not None
    assert state["count"] == 200
    assert len(json.dumps(state)) < 1000
    assert not {"payments", "pending", "seen"} & set(state)


async def test_a_citizen_with_20000_transactions_in_a_period_is_still_scored(scene: Scene) -> None:
    """About 150 bytes a transaction in one document would pass Cosmos's 2 MB at ~14,000."""
    scorer = Scorer(scene.store, PERIODS)
    total = 20_000
    for start in range(0, total, CHUNK_LINES):
        chunk = [
            TransactionIn.model_validate(
                line(i, at=IN_DECEMBER + timedelta(seconds=i), amount=100 + i % 50, corr=f"c{i}")
            )
            for i in range(start, start + CHUNK_LINES)
        ]
        assert await scorer.score_all(chunk, received_at=DURING_GRACE) == ["COUNTED"] * CHUNK_LINES
    assert (await totals(scene, 9))[0] == total


async def test_the_memory_store_refuses_a_document_over_2_mb_as_cosmos_does() -> None:
    store = MemoryCashbackStore()
    big = {"id": "x", "pk": "p", "blob": "a" * (2 * 1024 * 1024)}
    with pytest.raises(DocumentTooLarge):
        await store.create(big)
    with pytest.raises(DocumentTooLarge):
        await store.write_batch("p", [("upsert", {"id": "y", "pk": "p"}), ("write", big)])
    assert store.items == {}  # nothing of the batch was written


class Recording(MemoryCashbackStore):
    """A memory store that keeps each batch's size and can fail one batch write."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.fail_batch: int | None = None  # which batch write (from 1) fails

    async def write_batch(self, pk: str, operations: list[Operation]) -> list[Document | None]:
        self.batches.append(len(operations))
        if len(self.batches) == self.fail_batch:
            raise DependencyError("cosmos", "status 503 in a batch")
        return await super().write_batch(pk, operations)


async def recording_scene() -> tuple[Scene, Recording]:
    scene = await enrolled_scene()
    store = Recording()
    store.items = memory(scene).items  # the enrollment and the instrument
    scene.store = store
    scene.cashback = scene.build(store, PERIODS)
    return scene, store


async def test_a_chunk_past_100_operations_is_written_in_batches_that_fit() -> None:
    scene, store = await recording_scene()
    lines = [line(i, at=IN_DECEMBER, amount=1000 + i, corr=f"c{i}") for i in range(CHUNK_LINES)]
    assert await score_lines(scene, *lines) == ["COUNTED"] * CHUNK_LINES
    # each payment: its match document and its record; each batch: the period state too
    assert len(store.batches) == 6
    assert max(store.batches) <= BATCH_OPERATIONS
    assert sum(store.batches) == 2 * CHUNK_LINES + len(store.batches)
    assert await totals(scene, 9) == (
        CHUNK_LINES,
        sum(rules.score(1000 + i, DECEMBER) for i in range(CHUNK_LINES)),
    )
    assert len(await listed(scene, 9)) == 50  # a page


async def test_a_payment_meeting_more_waiting_reversals_than_a_batch_holds_applies_them_all() -> (
    None
):
    scene, store = await recording_scene()
    reversals = [line(f"r{i}", at=IN_DECEMBER, op="01", amount=100, corr="c1") for i in range(60)]
    payment = line(1, at=IN_NOVEMBER, amount=10_000, corr="c1")
    assert await score_lines(scene, *reversals) == ["PENDING"] * 60
    # 60 records move from December to November (a delete and an upsert each), beside the
    # payment's record, its match document and November's state: more than one batch holds.
    assert await score_lines(scene, payment) == ["COUNTED"]
    assert await totals(scene, 8) == reference(NOVEMBER, *reversals, payment) == (1, 400)
    assert max(store.batches) <= BATCH_OPERATIONS
    records = [id_ for (pk, id_) in store.items if pk == CITIZEN_ID and id_.startswith("trx:")]
    assert sorted(records) == sorted(
        f"trx:8:{ACQ}:t{n}" for n in [1, *(f"r{i}" for i in range(60))]
    )
    assert await score_lines(scene, payment, *reversals) == ["ALREADY_APPLIED"] * 61
    assert await totals(scene, 8) == (1, 400)


async def test_a_crash_between_two_batches_loses_and_doubles_nothing() -> None:
    scene, store = await recording_scene()
    lines = [
        line(i, at=IN_DECEMBER, amount=1000 + i, corr=f"c{i % 150}")
        if i < 150
        else line(f"r{i}", at=IN_DECEMBER, op="01", amount=500, corr=f"c{i - 150}")
        for i in range(200)
    ]
    store.fail_batch = 2
    with pytest.raises(DependencyError):
        await score_lines(scene, *lines)
    first = (store.batches[0] - 1) // 2  # the payments of the first batch, written
    assert (await totals(scene, 9))[0] == first
    # Delivered again (a new process: it remembers nothing), the rest applies once.
    outcomes = await score_lines(scene, *lines)
    assert outcomes == ["ALREADY_APPLIED"] * first + ["COUNTED"] * (200 - first)
    assert await totals(scene, 9) == reference(DECEMBER, *lines)
    assert await score_lines(scene, *lines) == ["ALREADY_APPLIED"] * 200


# ------------------------------------------------------------------------ concurrency


class Yielding(MemoryCashbackStore):
    """A memory store whose calls let other tasks run first, as a network would."""

    async def get(self, pk: str, id_: str) -> Document | None:
        await asyncio.sleep(0)
        return await super().get(pk, id_)

    async def get_all(self, pk: str, ids: list[str]) -> list[Document | None]:
        await asyncio.sleep(0)
        return await super().get_all(pk, ids)

    stale = 0  # batches refused: a document changed since it was read

    async def write_batch(self, pk: str, operations: list[Operation]) -> list[Document | None]:
        await asyncio.sleep(0)
        try:
            return await super().write_batch(pk, operations)
        except StaleDocument:
            self.stale += 1
            raise


async def test_two_scorers_writing_one_citizen_at_once_lose_no_update() -> None:
    scene = await enrolled_scene()
    store = Yielding()
    store.items = memory(scene).items
    scene.store = store
    scene.cashback = scene.build(store, PERIODS)
    payments = [line(i, at=IN_DECEMBER, amount=3000, corr=f"c{i % 4}") for i in range(8)]
    reversals = [
        line(f"r{i}", at=IN_DECEMBER, op="01", amount=1000, corr=f"c{i % 4}") for i in range(8)
    ]
    mine, theirs = Scorer(store, PERIODS), Scorer(store, PERIODS)
    chunks = [
        payments[:4] + reversals[4:],
        reversals[:4] + payments[4:],
        payments[2:6],
        reversals[1:7],
    ]
    await asyncio.gather(
        *(
            (mine if n % 2 else theirs).score_all(
                [TransactionIn.model_validate(r) for r in chunk], received_at=DURING_GRACE
            )
            for n, chunk in enumerate(chunks * 2)
        )
    )
    assert await totals(scene, 9) == reference(DECEMBER, *payments, *reversals)
    assert store.stale > 0  # they did collide, and the loser applied again
    assert sorted(t[0] for t in await listed(scene, 9)) == sorted(
        [f"t{i}" for i in range(8)] + [f"tr{i}" for i in range(8)]
    )


async def test_a_payment_key_another_process_created_is_read_and_applied_again(
    scene: Scene,
) -> None:
    """A payment's match document this process never saw is created without reading it: if
    another process created it (a reversal waiting there), the batch fails and it is read."""
    other = Scorer(scene.store, PERIODS)
    await other.score_all(
        [TransactionIn.model_validate(line("r1", at=IN_DECEMBER, op="01", amount=5000, corr="c1"))],
        received_at=DURING_GRACE,
    )
    assert await score_lines(
        scene, line(1, at=IN_NOVEMBER, amount=5000, corr="c1"), line(2, at=IN_NOVEMBER, amount=700)
    ) == ["COUNTED", "COUNTED"]
    assert await totals(scene, 8) == (1, 70)
