"""Acquirer code vs acquirer id: whom a party sends for (the registry's actsFor), per line."""

from __future__ import annotations

from typing import Any

from shared.cashback.acquirer_api import TransactionBatchIn
from shared.cashback.intake import Intake, may_send
from tests.fakes.platform import MemorySender
from tests.unit.cashback.test_transactions import NOW, PERIODS, line

CIRCUIT = "BANCOMATCIRC"
ACTS_FOR = {"00001": ["11111", "22222"], "00002": ["33333"]}


def as_sent(n: int, code: str, acquirer_id: str) -> dict[str, Any]:
    return {**line(n), "acquirerCode": code, "acquirerId": acquirer_id}


def test_a_party_sends_for_itself_and_for_the_ids_listed_under_each_code() -> None:
    assert may_send(CIRCUIT, ACTS_FOR, "00001", "22222")
    assert may_send(CIRCUIT, ACTS_FOR, "00009", CIRCUIT)
    assert not may_send(CIRCUIT, ACTS_FOR, "00002", "22222")  # listed, under another code
    assert not may_send(CIRCUIT, ACTS_FOR, "00003", "11111")
    assert not may_send("OTHER", ACTS_FOR, "00001", CIRCUIT)


async def test_the_json_api_rejects_each_line_of_an_id_the_party_may_not_send_for() -> None:
    sender = MemorySender()
    batch = TransactionBatchIn(
        transactions=[
            as_sent(1, "00001", "11111"),
            as_sent(2, "00002", "11111"),
            as_sent(3, "00002", "33333"),
            as_sent(4, "00001", "44444"),
        ]
    )
    result = await Intake(sender, "q", PERIODS).submit(CIRCUIT, batch, now=NOW, acts_for=ACTS_FOR)
    assert result.accepted == 2
    assert [(r.index, r.reason) for r in result.rejected] == [
        (1, "NOT_YOUR_ACQUIRER_ID"),
        (3, "NOT_YOUR_ACQUIRER_ID"),
    ]
