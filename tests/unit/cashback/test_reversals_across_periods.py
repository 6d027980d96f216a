"""A reversal's payment is searched only in the reversal's own award period, as pagoPA's services
did: a reversal dated in December of a November payment takes nothing back (it waits in
December, then expires), and a reversal dated in no period is rejected."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.cashback.acquirer_api import TransactionIn
from shared.cashback.rules import parse_periods, score
from shared.cashback.scorer import Scorer
from shared.platform.clock import ROME
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


async def test_a_reversal_does_not_take_back_a_payment_of_the_previous_period(
    scene: Scene,
) -> None:
    await score_lines(
        scene, line(1, at=IN_NOVEMBER, amount=5000, corr="c1"), line(2, at=IN_NOVEMBER, amount=1000)
    )
    assert await totals(scene, 8) == (2, 600)  # 5.00 + 1.00
    assert await score_lines(
        scene, line("r1", at=IN_DECEMBER, op="01", amount=5000, corr="c1")
    ) == ["PENDING"]
    assert await totals(scene, 8) == (2, 600)
    assert await totals(scene, 9) == (0, 0)
    [waiting] = (await scene.cashback.transactions(CF, "9")).transactions
    assert (waiting.id_trx_acquirer, waiting.status) == ("tr1", "PENDING")


async def test_nor_one_without_correlation_id_or_in_the_same_chunk(scene: Scene) -> None:
    outcomes = await score_lines(
        scene,
        line(1, at=IN_NOVEMBER, amount=20000),
        line("r1", at=IN_DECEMBER, op="01", amount=20000),
    )
    assert outcomes == ["COUNTED", "PENDING"]
    assert await totals(scene, 8) == (1, 1500)  # 200.00 scores 15.00 (the cap)
    assert await totals(scene, 9) == (0, 0)


async def test_a_payment_of_its_own_period_is_taken_back_not_the_earlier_one(
    scene: Scene,
) -> None:
    """Two payments share the match key, one in each period: December's reversal takes back
    December's, though November's is earlier."""
    await score_lines(
        scene,
        line(1, at=IN_NOVEMBER, amount=3000),
        line(2, at=IN_DECEMBER - timedelta(hours=2), amount=3000),
    )
    assert await score_lines(scene, line("r1", at=IN_DECEMBER, op="01", amount=3000)) == ["COUNTED"]
    assert await totals(scene, 8) == (1, 300)
    assert await totals(scene, 9) == (0, 0)


async def test_a_reversal_between_periods_is_rejected_by_the_scorer() -> None:
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
    scene = Scene(now=ENABLED_AT, periods=periods)
    await scene.cashback.enroll(CF, now=scene.now)
    await scene.cashback.enable(CF, await scene.onboard(CF, HPAN_A), now=scene.now)
    scorer = Scorer(scene.store, periods)
    await scorer.score_all(
        [TransactionIn.model_validate(line(1, at=IN_NOVEMBER, amount=5000, corr="c1"))],
        received_at=DURING_GRACE,
    )
    reversal = line("r1", at=gap, op="01", amount=5000, corr="c1")
    assert await scorer.score_all(
        [TransactionIn.model_validate(reversal)], received_at=DURING_GRACE
    ) == ["NO_PERIOD"]
    shown = await scene.cashback.period(CF, "8", now=DURING_GRACE)
    assert (shown.count, shown.cashback) == (1, 500)


# Payments in November and December, each with reversals (never more than the payment in all)
# dated in its own period or in the other one, in any order and in any chunks.
@st.composite
def two_periods(
    draw: st.DrawFn,
) -> tuple[list[dict[str, Any]], list[list[int]], dict[int, tuple[int, int]]]:
    lines: list[dict[str, Any]] = []
    expected = {8: [0, 0], 9: [0, 0]}
    for i in range(draw(st.integers(1, 6))):
        period = draw(st.sampled_from([8, 9]))
        at = (IN_NOVEMBER if period == 8 else IN_DECEMBER) + timedelta(minutes=i)
        amount = draw(st.integers(1, 40000))
        lines.append(line(i, at=at, amount=amount, corr=f"c{i}"))
        taken = 0
        for j, part in enumerate(draw(st.lists(st.integers(1, 30000), max_size=3))):
            if taken + part > amount:
                break
            same = draw(st.booleans())
            when = (at if same else (IN_DECEMBER if period == 8 else IN_NOVEMBER)) + timedelta(
                hours=1, minutes=j
            )
            lines.append(line(f"r{i}-{j}", at=when, op="01", amount=part, corr=f"c{i}"))
            taken += part if same else 0
        left = amount - taken
        expected[period][0] += left > 0
        expected[period][1] += score(left, NOVEMBER if period == 8 else DECEMBER)
    order = draw(st.permutations(range(len(lines))))
    shuffled = [lines[k] for k in order]
    cuts = sorted(draw(st.lists(st.integers(0, len(lines)), max_size=3)))
    chunks = [list(range(a, b)) for a, b in zip([0, *cuts], [*cuts, len(lines)], strict=True)]
    return shuffled, chunks, {k: (v[0], v[1]) for k, v in expected.items()}


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(two_periods())
async def test_each_period_keeps_its_own_totals_whatever_the_order(
    case: tuple[list[dict[str, Any]], list[list[int]], dict[int, tuple[int, int]]],
) -> None:
    lines, chunks, expected = case
    scene = await enrolled_scene()
    scorer = Scorer(scene.store, PERIODS)
    for indexes in chunks:
        if indexes:
            await scorer.score_all(
                [TransactionIn.model_validate(lines[i]) for i in indexes], received_at=DURING_GRACE
            )
    # The reference: each period's ledger over the lines dated in it, in the order they arrived.
    reference = {
        p.id: ledger_totals(
            apply_all(
                p,
                [
                    t
                    for t in (TransactionIn.model_validate(raw).rule_view() for raw in lines)
                    if p.start <= t.at.astimezone(ROME).date() <= p.end
                ],
                DURING_GRACE,
            )
        )
        for p in PERIODS
    }
    assert {p: await totals(scene, p) for p in (8, 9)} == reference == expected
