"""The rules as pagoPA's cashback services applied them (issue 24), each with figures computed
by hand: the duplicate key, reversals matched in their own period with the acquirer code, and
a reversal larger than its payment set aside.

The period is ``test_transactions.PERIODS`` (December 2026: 10%, at most 15.00 a transaction,
30.00 a period, 3 transactions to qualify); the card counts from 9 December.
"""

from __future__ import annotations

from datetime import UTC, timedelta

from tests.unit.cashback.fakes import Scene
from tests.unit.cashback.test_transactions import MIDNIGHT, line, scene, score, state
from tests.unit.wallet.fakes import CF

__all__ = ["scene"]  # the fixture

AT = MIDNIGHT + timedelta(hours=10)


# ------------------------------------------------------------------------ the duplicate key


async def test_a_reversal_reusing_its_payments_id_is_another_transaction(scene: Scene) -> None:
    # Payment t1 of 20.00 (+2.00), then its reversal with the same acquirer's id: -2.00, -1.
    assert await score(scene, line(1, amount=2000), line(1, amount=2000, op="01")) == [
        "COUNTED",
        "COUNTED",
    ]
    shown = await state(scene)
    assert (shown["count"], shown["cashback"]) == (0, 0)


async def test_the_same_id_at_another_time_or_acquirer_code_counts_again(scene: Scene) -> None:
    # Three payments of 20.00 with the acquirer's id t1: another minute, another acquirer code:
    # 3 x 2.00 = 6.00.
    outcomes = await score(
        scene,
        line(1, amount=2000),
        line(1, amount=2000, at=AT + timedelta(minutes=1)),
        line(1, amount=2000, acquirerCode="54321"),
    )
    assert outcomes == ["COUNTED"] * 3
    shown = await state(scene)
    assert (shown["count"], shown["cashback"]) == (3, 600)


async def test_the_same_five_fields_count_once_whatever_the_offset(scene: Scene) -> None:
    again = line(1, amount=2000, at=AT.astimezone(UTC))  # the same instant, written in UTC
    assert await score(scene, line(1, amount=2000), again) == ["COUNTED", "ALREADY_APPLIED"]
    shown = await state(scene)
    assert (shown["count"], shown["cashback"]) == (1, 200)


async def test_the_listing_shows_the_acquirer_code(scene: Scene) -> None:
    await score(scene, line(1, amount=2000, acquirerCode="ABI01"))
    [shown] = (await scene.cashback.transactions(CF, "9")).transactions
    assert (shown.acquirer_code, shown.id_trx_acquirer) == ("ABI01", "t1")
