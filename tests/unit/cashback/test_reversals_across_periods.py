"""A reversal whose payment was scored in the previous period takes it back there (reversals match
a reversal with its payment), not in the period of its own date, where it would wait in vain."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.cashback.acquirer_api import TransactionBatchIn, TransactionIn
from shared.cashback.intake import Intake
from shared.cashback.rules import parse_periods, score
from shared.cashback.scorer import Scorer
from shared.platform.clock import ROME
from tests.fakes.platform import MemorySender
from tests.unit.cashback.fakes import HPAN_A, Scene
from tests.unit.cashback.ledger import apply_all
from tests.unit.cashback.ledger import totals as ledger_totals
from tests.unit.wallet.fakes import CF

# November with ten grace days, then December.
PERIODS = parse_periods(
    json.dumps(
        [
            {
                "id": 8,
                "from": "2026-11-01",
                "to": "2026-11-30",
                "minTransactions": 1,
                "maxPerTransaction": 1500,
                "maxPerPeriod": 15000,
                "graceDays": 10,
            },
            {
                "id": 9,
                "from": "2026-12-01",
                "to": "2026-12-31",
                "minTransactions": 1,
                "maxPerTransaction": 1500,
                "maxPerPeriod": 15000,
                "graceDays": 10,
            },
        ]
    )
)
NOVEMBER, DECEMBER = PERIODS
ENABLED_AT = datetime(2026, 10, 20, 10, tzinfo=UTC)
IN_NOVEMBER = datetime(2026, 11, 20, 12, tzinfo=ROME)
IN_DECEMBER = datetime(2026, 12, 3, 12, tzinfo=ROME)
DURING_GRACE = datetime(2026, 12, 5, tzinfo=UTC)  # November still takes transactions
AFTER_GRACE = datetime(2026, 12, 15, tzinfo=UTC)  # November is closed
ACQ = "DEMOACQ"


def line(
    n: int | str, *, at: datetime, amount: int = 2000, op: str = "00", corr: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "acquirerId": ACQ,
        "acquirerCode": "12345",
        "idTrxAcquirer": f"t{n}",
        "hpan": HPAN_A,
        "operationType": op,
        "trxDate": at.isoformat(),
        "amount": amount,
        "merchantId": "m1",
        "terminalId": "t1",
        "circuitType": "01",
    }
    if corr is not None:
        body["correlationId"] = corr
    return body


async def enrolled_scene() -> Scene:
    scene = Scene(now=ENABLED_AT, periods=PERIODS)
    await scene.cashback.enroll(CF, now=scene.now)
    await scene.cashback.enable(CF, await scene.onboard(CF, HPAN_A), now=scene.now)
    return scene


@pytest.fixture
async def scene() -> Scene:
    return await enrolled_scene()


async def score_lines(
    scene: Scene, *lines: dict[str, Any], received_at: datetime = DURING_GRACE
) -> list[str]:
    scorer = Scorer(scene.store, PERIODS)
    return await scorer.score_all(
        [TransactionIn.model_validate(raw) for raw in lines], received_at=received_at
    )


async def totals(scene: Scene, period: int) -> tuple[int, int]:
    shown = await scene.cashback.period(CF, str(period), now=DURING_GRACE)
    return shown.count, shown.cashback


async def test_a_reversal_takes_back_its_payment_in_the_previous_period(scene: Scene) -> None:
    await score_lines(
        scene, line(1, at=IN_NOVEMBER, amount=5000, corr="c1"), line(2, at=IN_NOVEMBER, amount=1000)
    )
    assert await totals(scene, 8) == (2, 600)
    assert await score_lines(
        scene, line("r1", at=IN_DECEMBER, op="01", amount=5000, corr="c1")
    ) == ["COUNTED"]
    assert await totals(scene, 8) == (1, 100)
    assert await totals(scene, 9) == (0, 0)
    listed = (await scene.cashback.transactions(CF, "8")).transactions
    reversal = next(t for t in listed if t.id_trx_acquirer == "tr1")
    assert (reversal.status, reversal.count, reversal.cashback) == ("COUNTED", -1, -500)
    assert (await scene.cashback.transactions(CF, "9")).transactions == []


async def test_a_partial_reversal_without_correlation_id_matches_across_periods(
    scene: Scene,
) -> None:
    await score_lines(scene, line(1, at=IN_NOVEMBER, amount=20000))
    # Without a correlation id a reversal names the same amount (the reversal rule's matching).
    assert await score_lines(scene, line("r1", at=IN_DECEMBER, op="01", amount=20000)) == [
        "COUNTED"
    ]
    assert await totals(scene, 8) == (0, 0)


async def test_its_payment_earlier_in_the_same_chunk_is_found_too(scene: Scene) -> None:
    outcomes = await score_lines(
        scene,
        line(1, at=IN_NOVEMBER, amount=5000, corr="c1"),
        line("r1", at=IN_DECEMBER, op="01", amount=2000, corr="c1"),
    )
    assert outcomes == ["COUNTED", "COUNTED"]
    assert await totals(scene, 8) == (1, 300)
    assert await totals(scene, 9) == (0, 0)


async def test_without_a_payment_before_it_a_reversal_waits_in_its_own_period(scene: Scene) -> None:
    assert await score_lines(
        scene, line("r1", at=IN_DECEMBER, op="01", amount=5000, corr="c1")
    ) == ["PENDING"]
    assert await score_lines(
        scene, line(1, at=IN_DECEMBER - timedelta(hours=1), amount=5000, corr="c1")
    ) == ["COUNTED"]
    assert await totals(scene, 9) == (0, 0)
    assert await totals(scene, 8) == (0, 0)


async def test_a_payment_of_the_same_key_in_its_own_period_is_reversed_after_the_earlier(
    scene: Scene,
) -> None:
    """Two payments share the match key: the earliest with something left goes first."""
    await score_lines(
        scene,
        line(1, at=IN_NOVEMBER, amount=3000),
        line(2, at=IN_DECEMBER - timedelta(hours=2), amount=3000),
    )
    await score_lines(
        scene,
        line("r1", at=IN_DECEMBER, op="01", amount=3000),
        line("r2", at=IN_DECEMBER, op="01", amount=3000),
    )
    assert await totals(scene, 8) == (0, 0)
    assert await totals(scene, 9) == (0, 0)


async def test_once_the_previous_period_is_closed_its_payments_are_not_taken_back(
    scene: Scene,
) -> None:
    await score_lines(scene, line(1, at=IN_NOVEMBER, amount=5000, corr="c1"))
    assert await score_lines(
        scene, line("r1", at=IN_DECEMBER, op="01", amount=5000, corr="c1"), received_at=AFTER_GRACE
    ) == ["PERIOD_CLOSED"]
    assert await totals(scene, 8) == (1, 500)
    assert await totals(scene, 9) == (0, 0)


async def test_a_reversal_between_periods_is_accepted_while_the_last_one_takes_them() -> None:
    periods = parse_periods(
        json.dumps(
            [
                {
                    "id": 8,
                    "from": "2026-11-01",
                    "to": "2026-11-30",
                    "minTransactions": 1,
                    "maxPerTransaction": 1500,
                    "maxPerPeriod": 15000,
                    "graceDays": 10,
                },
                {
                    "id": 9,
                    "from": "2027-01-01",
                    "to": "2027-01-31",
                    "minTransactions": 1,
                    "maxPerTransaction": 1500,
                    "maxPerPeriod": 15000,
                    "graceDays": 10,
                },
            ]
        )
    )
    gap = datetime(2026, 12, 3, 12, tzinfo=ROME)
    reversal = line("r1", at=gap, op="01", amount=5000, corr="c1")
    payment = line(1, at=gap, amount=5000)
    intake = Intake(MemorySender(), "q", periods)
    during = await intake.submit(
        ACQ, TransactionBatchIn(transactions=[reversal, payment]), now=DURING_GRACE
    )
    assert during.accepted == 1
    assert [r.reason for r in during.rejected] == ["NO_PERIOD"]  # only the payment
    after = await intake.submit(ACQ, TransactionBatchIn(transactions=[reversal]), now=AFTER_GRACE)
    assert [r.reason for r in after.rejected] == ["NO_PERIOD"]

    scene = Scene(now=ENABLED_AT, periods=periods)
    await scene.cashback.enroll(CF, now=scene.now)
    await scene.cashback.enable(CF, await scene.onboard(CF, HPAN_A), now=scene.now)
    scorer = Scorer(scene.store, periods)
    await scorer.score_all(
        [TransactionIn.model_validate(line(1, at=IN_NOVEMBER, amount=5000, corr="c1"))],
        received_at=DURING_GRACE,
    )
    assert await scorer.score_all(
        [TransactionIn.model_validate(reversal)], received_at=DURING_GRACE
    ) == ["COUNTED"]
    shown = await scene.cashback.period(CF, "8", now=DURING_GRACE)
    assert (shown.count, shown.cashback) == (0, 0)


# Payments in November and December, each with reversals dated in December, in any order (a
# reversal may arrive before its payment, of either period) and in any chunks.
@st.composite
def two_periods(
    draw: st.DrawFn,
) -> tuple[list[dict[str, Any]], list[list[int]], dict[int, tuple[int, int]], dict[int, list[int]]]:
    groups: list[list[dict[str, Any]]] = []
    expected = {8: [0, 0], 9: [0, 0]}
    payment_period: list[int] = []
    for i in range(draw(st.integers(1, 6))):
        period = draw(st.sampled_from([8, 9]))
        payment_period.append(period)
        at = (IN_NOVEMBER if period == 8 else IN_DECEMBER) + timedelta(minutes=i)
        amount = draw(st.integers(1, 40000))
        parts = draw(st.lists(st.integers(1, 30000), max_size=3))
        groups.append(
            [
                line(i, at=at, amount=amount, corr=f"c{i}"),
                *(
                    line(
                        f"r{i}-{j}",
                        at=IN_DECEMBER + timedelta(hours=1, minutes=j),
                        op="01",
                        amount=part,
                        corr=f"c{i}",
                    )
                    for j, part in enumerate(parts)
                ),
            ]
        )
        left = max(0, amount - sum(parts))
        expected[period][0] += left > 0
        expected[period][1] += score(left, NOVEMBER if period == 8 else DECEMBER)
    tagged = [(i, raw) for i, g in enumerate(groups) for raw in g]
    order = draw(st.permutations(range(len(tagged))))
    lines = [tagged[k][1] for k in order]
    by_period = {
        p: [n for n, k in enumerate(order) if payment_period[tagged[k][0]] == p] for p in (8, 9)
    }
    cuts = sorted(draw(st.lists(st.integers(0, len(lines)), max_size=3)))
    chunks = [list(range(a, b)) for a, b in zip([0, *cuts], [*cuts, len(lines)], strict=True)]
    return lines, chunks, {k: (v[0], v[1]) for k, v in expected.items()}, by_period


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(two_periods())
async def test_reversals_across_periods_give_each_period_its_own_totals(
    case: tuple[
        list[dict[str, Any]], list[list[int]], dict[int, tuple[int, int]], dict[int, list[int]]
    ],
) -> None:
    lines, chunks, expected, by_period = case
    scene = await enrolled_scene()
    scorer = Scorer(scene.store, PERIODS)
    for indexes in chunks:
        if indexes:
            await scorer.score_all(
                [TransactionIn.model_validate(lines[i]) for i in indexes], received_at=DURING_GRACE
            )
    # The reversals' reference: each period's ledger over its payments and their reversals (dated
    # in either period), in the order they arrived.
    reference = {
        p.id: ledger_totals(
            apply_all(
                p,
                [TransactionIn.model_validate(lines[n]).rule_view() for n in by_period[p.id]],
                DURING_GRACE,
            )
        )
        for p in PERIODS
    }
    assert {p: await totals(scene, p) for p in (8, 9)} == reference == expected
