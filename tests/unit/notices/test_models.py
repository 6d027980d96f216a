"""The paCreatePosition body: pagoPA's schema (every field's bounds, a 400 when broken), what
the archive will not take although the schema allows it (a 422), the default nav, IBANs, dates
and the wall-clock time pagoPA's service answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.notices.models import PositionIn, accept, answer_of, content_of, refusals
from shared.notices.rules import as_position
from shared.notices.times import fixed_time, local_date_time
from shared.parties.models import PartyIn, valid_iban
from shared.platform.errors import Invalid
from tests.unit.notices.fakes import IBAN, OTHER_IBAN, body, iuv


def parse(data: dict[str, Any]) -> PositionIn:
    return PositionIn.from_json(json.dumps(data).encode())


def failing_fields(data: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        parse(data)
    return {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}


def test_a_minimal_body_takes_the_defaults() -> None:
    position = parse(body())
    assert (position.nav, position.the_nav) == (None, "3" + iuv(1))
    assert (position.switch_to_expired, position.pay_stand_in) == (False, True)
    assert position.iban is None
    assert position.postal_iban is None
    assert position.expiration_date == datetime(2027, 1, 31, 23, tzinfo=UTC)
    assert refusals(position) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("paFiscalCode", "7777777777"),
        ("paFiscalCode", "777777777777"),
        ("paFiscalCode", 77777777777),
        ("paFiscalCode", None),
        ("entityType", "X"),
        ("entityType", "f"),
        ("entityType", None),
        ("entityFiscalCode", "R"),
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
        ("nav", ""),
        ("nav", "3" * 256),
        ("nav", None),
        ("nav", 301000000000000001),
        ("iban", IBAN[:-1]),
        ("iban", IBAN + "0"),
        ("iban", None),
        ("postalIban", "IT60"),
        ("switchToExpired", "true"),
        ("switchToExpired", 1),
        ("switchToExpired", None),
        ("payStandIn", "false"),
        ("payStandIn", None),
    ],
)
def test_what_pagopas_schema_refuses_is_a_validation_error_on_its_field(
    field: str, value: Any
) -> None:
    assert failing_fields(body(**{field: value})) == {field}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("paFiscalCode", "7777777777A"),  # 11 characters: a 404 later if no such EC
        ("paFiscalCode", "\u0667" * 11),
        ("entityFiscalCode", "R" * 5000),  # no upper bound in pagoPA's schema
        ("nav", "3" * 17),
        ("nav", "ABC"),
        ("iuv", "x"),
        ("iban", "I" * 27),
        ("description", "TARI\x002026"),
    ],
)
def test_what_pagopas_schema_allows_is_parsed(field: str, value: Any) -> None:
    name = next(n for n, f in PositionIn.model_fields.items() if (f.alias or n) == field)
    assert getattr(parse(body(**{field: value})), name) == value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expirationDate", "9999-12-31T23:59:59-01:00"),
        ("expirationDate", "0999-12-31T23:00:00Z"),
        ("expirationDate", "1999-12-31T23:59:59Z"),
        ("expirationDate", "2100-01-01T00:00:00Z"),
        ("expirationDate", "2099-12-31T23:30:00-01:00"),  # 2100 in UTC, as it is stored
        ("entityFiscalCode", "RSSMRA85T10\x00562S"),
        ("entityFullName", "Mario\x00Rossi"),
        ("description", "TARI\x002026"),
        ("iuv", "01\x00"),
        ("nav", "0" * 17 + "\x00"),
        ("iban", IBAN[:-1] + "7"),
        ("iban", IBAN.lower()),
        ("postalIban", "IT00X0542811101000000123456"),
        ("nav", "3" + iuv(1, "03")),  # aux digit 3, another IUV: another segregation code
        ("nav", "3" * 18),
    ],
)
def test_what_the_archive_will_not_take_is_a_refusal_on_its_field(field: str, value: Any) -> None:
    assert [e["loc"] for e in refusals(parse(body(**{field: value})))] == [[field]]


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


def test_unknown_fields_are_ignored_whatever_they_hold() -> None:
    raw = json.dumps(body(debtor="x")).encode()[:-1]
    raw += b', "n": 1e400, "big": ' + b"9" * 5000 + b', "s": "\\ud800\\u0000", "d": ' + b"[" * 100
    raw += b"]" * 100 + b"}"
    assert PositionIn.from_json(raw).iuv == iuv(1)


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[]", b"7", b'{"amount": NaN}', b"\xff", b"[" * 100_000 + b"]" * 100_000],
)
def test_a_body_that_is_no_json_object_is_invalid(raw: bytes) -> None:
    with pytest.raises((Invalid, ValidationError)):
        PositionIn.from_json(raw)


def test_a_huge_number_in_a_field_is_a_validation_error_on_it() -> None:
    raw = json.dumps(body()).replace('"amount": 12050', '"amount": ' + "9" * 5000).encode()
    assert {e["loc"] for e in _errors(raw)} == {("amount",)}


def _errors(raw: bytes) -> list[Any]:
    with pytest.raises(ValidationError) as caught:
        PositionIn.from_json(raw)
    return caught.value.errors()


@pytest.mark.parametrize(
    ("nav", "accepted"),
    [
        ("3" + iuv(1), True),  # the default, written out
        ("0" + iuv(1), True),  # aux digit 0: carries no IUV, claimed by its position
        ("1" + iuv(1), True),
        ("ABC-123", True),  # not a notice number the node can carry, but the spec allows it
        ("3" + iuv(1, "03"), False),  # aux digit 3 is "3" + iuv: not this IUV's
        ("3", False),
    ],
)
def test_a_nav_is_free_but_aux_digit_3_means_3_plus_the_iuv(nav: str, accepted: bool) -> None:
    assert (refusals(parse(body(nav=nav))) == []) is accepted


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
        write = accept(parse(body(expirationDate=moment.isoformat())))
    except (ValidationError, Invalid):
        return
    content = content_of(write, company_name="Comune", default_iban=None)
    document = {
        **content,
        "nav": write.the_nav,
        "status": "VALID",
        "expiresAt": content["expirationDate"],
        "updatedAt": fixed_time(datetime(2026, 12, 8, tzinfo=UTC)),
    }
    assert as_position(document, now=datetime(2026, 12, 8, tzinfo=UTC)).expiration_date == (
        write.expiration_date
    )
    assert answer_of(document, "VALID").expiration_date == local_date_time(write.expiration_date)


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
    assert accept(position) is position
    assert position.expiration_date.astimezone(UTC) == datetime(
        2027, 1, 31, 22, 0, 0, 500000, tzinfo=UTC
    )
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
    position = parse(body(**{field: "Tassa rifiuti, carta 4111 1111 1111 1111"}))
    assert [e["loc"] for e in refusals(position)] == [[field]]


@pytest.mark.parametrize(
    ("sent", "answered"),
    [
        ("2026-12-31T23:00:00+01:00", "2026-12-31T23:00"),
        ("2026-12-31T23:00:15Z", "2026-12-31T23:00:15"),
        ("2026-12-31T23:00:15.250-05:00", "2026-12-31T23:00:15.250"),
        ("2026-12-31T23:00:00.000001+14:00", "2026-12-31T23:00:00.000001"),
    ],
)
def test_the_answer_writes_the_wall_clock_time_as_pagopas_service(sent: str, answered: str) -> None:
    assert local_date_time(parse(body(expirationDate=sent)).expiration_date) == answered
