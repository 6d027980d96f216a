"""A payment document's answers to an outcome: whose token it is (the live one, one an outcome
reported, the receipt's), and whether a receipt id's claim is this outcome's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.notices.models import PaidWith, Payer
from shared.platform.cosmos import StaleDocument
from shared.platform.errors import Conflict
from shared.standin.models import OutcomeIn
from shared.standin.payments import (
    RECEIPT_REUSED,
    check_claim,
    mark_paid,
    needs_claim,
    new_token,
    receipt_claim,
    token_notice,
    token_owner,
    with_outcome,
)

NOW = datetime(2026, 11, 22, 10, tzinfo=UTC)
LIVE, REPORTED, PAID, UNKNOWN = (new_token("77777777777", "301000000000000001") for _ in range(4))


def outcome(token: str = LIVE, receipt: str = "r-1", psp: str = "PSPA") -> OutcomeIn:
    return OutcomeIn.model_validate(
        {
            "paymentToken": token,
            "outcome": "OK",
            "pspId": psp,
            "receiptId": receipt,
            "paymentDateTime": NOW.isoformat(),
            "paymentMethod": "CP",
            "fee": 0,
        }
    )


def test_a_token_s_owner_is_what_the_payment_remembers() -> None:
    payment = {
        "token": {"paymentToken": LIVE, "pspId": "PSPA"},
        "outcomes": [{"paymentToken": REPORTED, "pspId": "PSPB", "receiptId": "r"}],
        "paid": {"paymentToken": PAID, "pspId": "PSPC"},
    }
    assert [token_owner(payment, t) for t in (LIVE, REPORTED, PAID, UNKNOWN)] == [
        "PSPA",
        "PSPB",
        "PSPC",
        None,
    ]


def test_a_receipt_claim_is_keyed_by_the_ec_and_the_receipt_id() -> None:
    claim = receipt_claim(outcome(receipt="r-9"), now=NOW)
    assert (claim["id"], claim["pk"]) == ("receipt:77777777777:r-9", "receipt:77777777777:r-9")
    assert (claim["noticeNumber"], claim["paymentToken"]) == ("301000000000000001", LIVE)


def test_a_claim_is_taken_by_another_payment_or_is_this_outcome_s_own() -> None:
    own = receipt_claim(outcome(), now=NOW)
    check_claim(own, outcome())  # an earlier attempt of this very outcome
    with pytest.raises(Conflict) as taken:
        check_claim(own, outcome(token=REPORTED))
    assert taken.value.code == RECEIPT_REUSED
    with pytest.raises(StaleDocument):
        check_claim(None, outcome())


def test_a_receipt_id_that_is_the_outcome_s_own_token_needs_no_claim() -> None:
    assert needs_claim(outcome(receipt=LIVE)) is False
    assert needs_claim(outcome(receipt="r-1")) is True
    # 35 letters and digits that name no notice of this EC: a PSP's id like any other
    assert needs_claim(outcome(receipt="A" * 35)) is True
    assert needs_claim(outcome(receipt=new_token("88888888888", "301000000000000001"))) is True


@pytest.mark.parametrize(
    "receipt",
    [REPORTED, new_token("77777777777", "302000000000000009")],
    ids=["another token of the notice", "a token of another notice of the EC"],
)
def test_another_payment_token_of_the_ec_is_no_receipt_id(receipt: str) -> None:
    # Its own payment records it unclaimed (SOAP outcomes): taking it here would hand the EC two
    # receipts with one id, and the second would be dropped as a duplicate.
    with pytest.raises(Conflict) as refused:
        needs_claim(outcome(receipt=receipt))
    assert refused.value.code == RECEIPT_REUSED


@pytest.mark.parametrize(
    ("ec", "notice"),
    [
        ("77777777777", "301000000000000001"),
        ("00000000000", "000000000000000000"),
        ("99999999999", "999999999999999999"),
        ("01234567890", "012345678901234567"),
    ],
)
def test_a_token_fits_sanp_and_names_its_notice(ec: str, notice: str) -> None:
    token = new_token(ec, notice)
    assert len(token) == 35
    assert token.isalnum()
    assert token.isascii()
    assert token_notice(token) == (ec, notice)
    assert new_token(ec, notice) != token


class Archive:
    """The archive's mark_paid, as the stand-in calls it."""

    def __init__(self) -> None:
        self.paid_with: list[PaidWith | None] = []

    async def mark_paid(self, *_: Any, paid_with: PaidWith | None = None, **__: Any) -> Any:
        self.paid_with.append(paid_with)


async def test_an_ok_outcome_carries_the_method_fee_and_payer_to_the_archive() -> None:
    request = OutcomeIn.model_validate(
        {
            **outcome().model_dump(mode="json", by_alias=True),
            "fee": 150,
            "payer": {"fiscalCode": "VRDGNN80A01H501X", "fullName": "Gianni Verdi"},
        }
    )
    token = {
        "paymentToken": LIVE,
        "paFiscalCode": "77777777777",
        "noticeNumber": "301000000000000001",
        "amount": 12_050,
        "standIn": True,
        "stationId": "77777777777_01",
    }
    document = with_outcome({"id": "p"}, request, token, now=NOW, queue="receipts")
    archive = Archive()
    await mark_paid(archive, document["paid"], now=NOW)  # type: ignore[arg-type]
    assert archive.paid_with == [
        PaidWith(
            method="CP",
            fee=150,
            payer=Payer(fiscal_code="VRDGNN80A01H501X", full_name="Gianni Verdi"),
        )
    ]
