"""What the stand-in gateway accepts from PSPs, the node, operators and ECs' stations: every
date-time with its offset and a year in 2000-2099, integers bounded and never booleans, text
without NUL or lone surrogates, so nothing hostile reaches the payment document or arithmetic."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared.standin.models import ActivateIn, EcNotice, ForceIn, OutcomeIn
from shared.standin.payments import new_token

TOKEN = new_token("77777777777", "301000000000000001")
OUTCOME: dict[str, Any] = {
    "paymentToken": TOKEN,
    "outcome": "OK",
    "pspId": "DEMOPSP",
    "receiptId": "r-1",
    "paymentDateTime": "2026-11-22T10:00:00+01:00",
    "paymentMethod": "CP",
    "fee": 0,
}
ACTIVATE: dict[str, Any] = {
    "paFiscalCode": "77777777777",
    "noticeNumber": "301000000000000001",
    "amount": 100,
    "idempotencyKey": "k-1",
    "pspId": "DEMOPSP",
}
EC_NOTICE: dict[str, Any] = {
    "outcome": "OK",
    "paFiscalCode": "77777777777",
    "noticeNumber": "301000000000000001",
    "amount": 100,
    "dueDate": "2026-12-31T23:59:59+01:00",
    "description": "TARI",
    "companyName": "Comune",
}
OUT_OF_RANGE = [
    "0001-01-01T00:00:00+14:00",  # cannot even be converted to UTC
    "9999-12-31T23:59:59-14:00",
    "1999-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "2026-11-22T10:00:00",  # no offset
    1_795_000_000,  # a number is not a date-time
    True,
]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_an_outcome_s_payment_time_is_bounded(value: object) -> None:
    with pytest.raises(ValidationError) as refused:
        OutcomeIn.model_validate({**OUTCOME, "paymentDateTime": value})
    assert [e["loc"] for e in refused.value.errors()] == [("paymentDateTime",)]


def test_an_outcome_in_range_is_accepted() -> None:
    for moment in ("2000-01-01T00:00:00+14:00", "2099-12-31T23:59:59-12:00"):
        parsed = OutcomeIn.model_validate({**OUTCOME, "paymentDateTime": moment})
        assert parsed.payment_date_time.isoformat().startswith(moment[:10])


@pytest.mark.parametrize(
    ("model", "body", "field", "value"),
    [
        (OutcomeIn, OUTCOME, "fee", True),
        (OutcomeIn, OUTCOME, "fee", 1.0),
        (OutcomeIn, OUTCOME, "fee", 2**64),
        (ActivateIn, ACTIVATE, "amount", True),
        (ActivateIn, ACTIVATE, "amount", 100.0),
        (ActivateIn, ACTIVATE, "amount", -(2**70)),
    ],
)
def test_integers_are_strict_and_bounded(
    model: type[OutcomeIn | ActivateIn], body: dict[str, Any], field: str, value: object
) -> None:
    with pytest.raises(ValidationError):
        model.model_validate({**body, field: value})


@pytest.mark.parametrize("reason", ["x\x00y", "x\ud800y", "", "r" * 501])
def test_an_operator_s_reason_is_safe_text(reason: str) -> None:
    with pytest.raises(ValidationError):
        ForceIn.model_validate({"mode": "STANDIN", "reason": reason})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        *(("dueDate", value) for value in OUT_OF_RANGE),
        ("amount", True),
        ("description", "TARI\x00"),
        ("companyName", "Comune \udfff"),
    ],
)
def test_a_station_s_answer_is_bounded_like_any_outside_input(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        EcNotice.model_validate({**EC_NOTICE, field: value})
