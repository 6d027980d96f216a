"""The codes' content and the documents' formats: the published layouts, whatever the text."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from shared.documents.codes import grouped, pagopa_qr_content, poste_datamatrix_content
from shared.documents.formats import euros, italian_date, italian_timestamp

codes = st.from_regex(r"\A[0-9]{18}\Z")
ecs = st.from_regex(r"\A[0-9]{11}\Z")
cents = st.integers(min_value=1, max_value=99_999_999_99)


@given(codes, ecs, cents)
def test_the_qr_content_is_pagopa_002(code: str, ec: str, amount: int) -> None:
    assert pagopa_qr_content(code, ec, amount).split("|") == [
        "PAGOPA",
        "002",
        code,
        ec,
        str(amount),
    ]


@given(
    code=codes,
    ec=ecs,
    amount=cents,
    account=st.from_regex(r"\A[0-9]{1,12}\Z"),
    name=st.text(max_size=80),
    subject=st.text(max_size=200),
)
def test_the_data_matrix_keeps_every_field_at_its_offset_whatever_the_text(
    code: str, ec: str, amount: int, account: str, name: str, subject: str
) -> None:
    content = poste_datamatrix_content(
        notice_code=code,
        postal_account=account,
        amount_cents=amount,
        ec_fiscal_code=ec,
        debtor_fiscal_code="RSSMRA85T10A562S",
        debtor_name=name,
        subject=subject,
    )
    assert len(content) == 256
    assert content.isascii()
    assert content[:15] == "codfase=NBPA;18"
    assert content[15:33] == code
    assert content[33:35] == "12"
    assert content[35:47] == account.zfill(12)
    assert content[47:49] == "10"
    assert content[49:59] == str(amount).zfill(10)
    assert content[59:66] == "38961P1"
    assert content[66:77] == ec
    assert content[77:93] == "RSSMRA85T10A562S"
    assert content[-13:] == " " * 12 + "A"


def test_money_dates_and_codes_are_written_the_italian_way() -> None:
    assert [euros(c) for c in (0, 5, 1234, 123456, 99_999_999_99)] == [
        "0,00",
        "0,05",
        "12,34",
        "1.234,56",
        "99.999.999,99",
    ]
    assert italian_date(date(2026, 3, 1)) == "01/03/2026"
    assert italian_timestamp(datetime(2026, 3, 29, 1, 30, tzinfo=UTC)) == "29 marzo 2026, 03:30:00"
    assert grouped("302000000000000123") == "3020 0000 0000 0001 23"
