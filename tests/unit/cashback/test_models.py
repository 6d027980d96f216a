"""What cashback takes from citizens and from its queues: strict booleans, safe text, bounded
date-times, so nothing hostile is stored or reaches date arithmetic."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from shared.cashback.models import EnrollmentIn, IbanIn
from shared.platform.errors import PermanentError
from tests.unit.cashback.fakes import HPAN_A, Scene
from tests.unit.wallet.fakes import CF

NOW = datetime(2026, 12, 8, 19, 0, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["1", "1.0", '"true"', "false", "null"])
def test_enrolling_takes_true_and_nothing_that_looks_like_it(raw: str) -> None:
    with pytest.raises(ValidationError):
        EnrollmentIn.model_validate_json(f'{{"termsAndConditionsAccepted": {raw}}}')
    assert EnrollmentIn.model_validate_json('{"termsAndConditionsAccepted": true}').terms_accepted


@pytest.mark.parametrize(
    "body",
    [
        {"iban": "IT60X0542811101000000123456\u0000", "ownerName": "Mario Rossi"},
        {"iban": "IT60X0542811101000000123456", "ownerName": "Mario\u0000Rossi"},
    ],
)
def test_an_iban_and_its_owner_are_safe_text(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        IbanIn.model_validate_json(json.dumps(body))


def wallet_event(created_at: object) -> bytes:
    return json.dumps(
        {
            "id": "e1",
            "type": "InstrumentValidated",
            "createdAt": created_at,
            "data": {
                "walletId": "w1",
                "citizenId": "c1",
                "fiscalCode": CF,
                "hpan": HPAN_A,
                "type": "CARD",
            },
        }
    ).encode()


@pytest.mark.parametrize(
    "created_at",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "2026-12-08T19:00:00",
        1_796_000_000,
    ],
)
async def test_a_wallet_event_out_of_range_is_a_permanent_failure(created_at: object) -> None:
    scene = Scene(now=NOW)
    with pytest.raises(PermanentError):
        await scene.cashback.on_wallet_event(wallet_event(created_at), now=NOW)
