"""The transaction's state machine alone: exactly its transitions, and an end from every state."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from shared.payments.transactions import TRANSITIONS, Transaction, advance
from shared.platform.errors import Conflict

EC = "77777777777"
NOTICE = "302000100000009424"
USER = "a" * 64
FISCAL_CODE = "RSSMRA80A01H501U"
T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _sample() -> Transaction:
    return Transaction(
        transaction_id="0" * 32,
        user_id=USER,
        payer_fiscal_code=FISCAL_CODE,
        status="ACTIVATED",
        notice_code=NOTICE,
        ec_fiscal_code=EC,
        ec_name="Comune",
        description="TARI",
        amount=100,
        fee=10,
        psp_id="APPPSP",
        psp_name="App PSP",
        payment_token="t" * 35,
        expires_at=T0 + timedelta(minutes=30),
        stand_in=False,
        created_at=T0,
        updated_at=T0,
    )


@pytest.mark.parametrize(("source", "target"), list(itertools.product(TRANSITIONS, TRANSITIONS)))
def test_the_machine_takes_exactly_its_transitions(source: str, target: str) -> None:
    transaction = _sample().model_copy(update={"status": source})
    if target in TRANSITIONS[source]:
        moved = advance(transaction, target, now=T0 + timedelta(seconds=1))  # type: ignore[arg-type]
        assert (moved.status, moved.history[-1].status) == (target, target)
        assert moved.updated_at == T0 + timedelta(seconds=1)
    else:
        with pytest.raises(Conflict):
            advance(transaction, target, now=T0)  # type: ignore[arg-type]


def test_every_state_reaches_a_final_one() -> None:
    final = {s for s, nexts in TRANSITIONS.items() if not nexts}
    assert final == {
        "NOTIFIED_OK",
        "UNAUTHORIZED",
        "EXPIRED_NOT_AUTHORIZED",
        "CANCELED",
        "REFUNDED",
    }
    for state in TRANSITIONS:
        seen, frontier = {state}, [state]
        while frontier:
            for nxt in TRANSITIONS[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert seen & final
