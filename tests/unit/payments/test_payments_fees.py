"""PAYMENTS_PSP_FEES: a fee per PSP in whole cents, refused at start when it is anything else,
and a PSP with no fee cannot take payments."""

from __future__ import annotations

import pytest

from shared.payments.fees import parse_fees
from shared.platform.errors import ConfigurationError


def test_each_psp_has_its_fee() -> None:
    fees = parse_fees('{"DEMOPSP": 100, "FREEPSP": 0}')
    assert (fees.of("DEMOPSP"), fees.of("FREEPSP")) == (100, 0)


def test_a_psp_without_a_fee_cannot_take_payments() -> None:
    with pytest.raises(ConfigurationError, match="OTHER"):
        parse_fees('{"DEMOPSP": 100}').of("OTHER")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "100",
        "[]",
        "{}",
        '{"P": 1.5}',
        '{"P": -1}',
        '{"P": true}',
        '{"P": "100"}',
        '{"P": 10000000}',
    ],
)
def test_anything_but_whole_cents_per_psp_is_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_fees(raw)
