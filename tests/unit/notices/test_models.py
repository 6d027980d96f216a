"""The paCreatePosition body: every field's bounds, the default nav, IBANs and dates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.notices.models import PositionIn
from shared.parties.models import PartyIn, valid_iban
from tests.unit.notices.fakes import IBAN, OTHER_IBAN, body, iuv


def parse(data: dict[str, Any]) -> PositionIn:
    return PositionIn.model_validate_json(json.dumps(data))


def failing_fields(data: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        parse(data)
    return {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}


def test_a_minimal_body_takes_the_defaults() -> None:
    position = parse(body())
    assert position.nav == "3" + iuv(1)
    assert (position.switch_to_expired, position.pay_stand_in) == (False, True)
    assert position.iban is None
    assert position.postal_iban is None
    assert position.expiration_date == datetime(2027, 1, 31, 23, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("paFiscalCode", "7777777777"),
        ("paFiscalCode", "777777777777"),
        ("paFiscalCode", "7777777777A"),
        ("paFiscalCode", "\u0667" * 11),
        ("paFiscalCode", 77777777777),
        ("entityType", "X"),
        ("entityType", "f"),
        ("entityType", None),
        ("entityFiscalCode", "R"),
        ("entityFiscalCode", "R" * 256),
        ("entityFullName", ""),
        ("entityFullName", "x" * 256),
        ("iuv", ""),
        ("iuv", "1" * 256),
        ("amount", -1),
        ("amount", 100_000_000_000),
        ("amount", 1.5),
        ("amount", "100"),
        ("amount", True),
        ("amount", None),
        ("description", ""),
        ("description", "d" * 256),
        ("expirationDate", "2027-01-31"),
        ("expirationDate", "2027-01-31T23:00:00"),
        ("expirationDate", "2027-02-30T10:00:00Z"),
        ("expirationDate", "31/01/2027"),
        ("expirationDate", 1_800_000_000),
        ("expirationDate", "9999-12-31T23:59:59-01:00"),
        ("nav", "3" * 17),
        ("nav", "3" * 19),
        ("nav", "3" * 17 + "x"),
        ("iban", IBAN[:-1]),
        ("iban", IBAN + "0"),
        ("iban", IBAN[:-1] + "7"),
        ("iban", IBAN.lower()),
        ("postalIban", "IT00X0542811101000000123456"),
        ("switchToExpired", "true"),
        ("switchToExpired", 1),
        ("payStandIn", "false"),
    ],
)
def test_each_bound_is_a_validation_error_on_its_field(field: str, value: Any) -> None:
    assert failing_fields(body(**{field: value})) == {field}


@pytest.mark.parametrize(
    "field",
    [
        "paFiscalCode",
        "entityType",
        "entityFiscalCode",
        "entityFullName",
        "iuv",
        "amount",
        "description",
        "expirationDate",
    ],
)
def test_each_required_field_is_required(field: str) -> None:
    assert field in failing_fields(body(**{field: ...}))


def test_unknown_fields_are_refused() -> None:
    assert failing_fields(body(debtor="x")) == {"debtor"}


def test_an_iuv_that_does_not_make_a_notice_number_needs_an_explicit_nav() -> None:
    assert failing_fields(body(iuv="ABC-123")) == {"nav"}
    assert parse(body(iuv="ABC-123", nav="3" * 18)).nav == "3" * 18


def test_the_bounds_themselves_are_accepted() -> None:
    position = parse(
        body(
            amount=99_999_999_999,
            entityFiscalCode="AB",
            entityFullName="x" * 255,
            description="d" * 255,
            iban=IBAN,
            postalIban=OTHER_IBAN,
            expirationDate="2027-01-31T23:00:00.5+01:00",
        )
    )
    assert position.amount == 99_999_999_999
    assert position.expiration_date == datetime(2027, 1, 31, 22, 0, 0, 500000, tzinfo=UTC)
    assert parse(body(amount=0)).amount == 0


def test_a_party_default_iban_is_checked_too() -> None:
    with pytest.raises(ValidationError):
        PartyIn.model_validate(
            {"partyId": "x", "name": "x", "role": "ec", "defaultIban": IBAN[:-1] + "7"}
        )


@given(st.from_regex(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", fullmatch=True))
def test_iban_check_digits_computed_are_valid(candidate: str) -> None:
    # Replace the check digits with the right ones: the result is valid, any other is not.
    country, bban = candidate[:2], candidate[4:]
    numeric = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    digits = f"{98 - numeric % 97:02d}"
    assert valid_iban(country + digits + bban)
    wrong = f"{(int(digits) + 1) % 100:02d}"
    assert not valid_iban(country + wrong + bban)


@pytest.mark.parametrize("field", ["description", "entityFullName"])
def test_a_card_number_in_a_notices_free_text_is_refused(field: str) -> None:
    assert failing_fields({**body(), field: "Tassa rifiuti, carta 4111 1111 1111 1111"}) == {field}
