"""The paCreatePosition body: every field's bounds, the default nav, IBANs and dates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.notices.models import PositionIn, content_of, fixed_time
from shared.notices.rules import as_position
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
        ("expirationDate", "0999-12-31T23:00:00Z"),
        ("expirationDate", "1999-12-31T23:59:59Z"),
        ("expirationDate", "2100-01-01T00:00:00Z"),
        ("expirationDate", "2099-12-31T23:30:00-01:00"),  # 2100 in UTC, as it is stored
        ("entityFiscalCode", "RSSMRA85T10\x00562S"),
        ("entityFullName", "Mario\x00Rossi"),
        ("description", "TARI\x002026"),
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
    assert failing_fields(body(iuv="01-ABC-123")) == {"nav"}
    assert parse(body(iuv="01-ABC-123", nav="301" + "7" * 15)).nav == "301" + "7" * 15


@pytest.mark.parametrize(
    "nav",
    [
        "3" + iuv(1, "03"),  # another segregation code than the IUV's
        "333" + "7" * 15,  # the IUV "ABC..." has no two-digit code at all
        "1" + iuv(1),  # aux digit 1: the notice number carries no segregation code
        "0" + iuv(1),
    ],
)
def test_the_nav_must_carry_the_iuvs_segregation_code_after_aux_digit_3(nav: str) -> None:
    data = body(iuv="ABC-123" if nav.startswith("333") else iuv(1), nav=nav)
    assert failing_fields(data) == {"nav"}


@settings(max_examples=300)
@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.timezones(),
    )
)
def test_every_accepted_expiration_date_is_stored_in_a_form_that_reads_back(
    moment: datetime,
) -> None:
    # A date accepted but stored in a form the stored model refuses made a notice that
    # answered 500 on every read and write: whatever is accepted must read back.
    try:
        write = parse(body(expirationDate=moment.isoformat()))
    except ValidationError:
        return
    content = content_of(write, company_name="Comune", default_iban=None)
    document = {
        **content,
        "status": "VALID",
        "expiresAt": content["expirationDate"],
        "updatedAt": fixed_time(datetime(2026, 12, 8, tzinfo=UTC)),
    }
    assert as_position(document, now=datetime(2026, 12, 8, tzinfo=UTC)).expiration_date == (
        write.expiration_date
    )


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
