"""Scanned notice codes: the pagoPA QR code and Poste's data matrix, built here from their
published layouts (docs/payments.md), and every malformed part refused with its own code."""

from __future__ import annotations

import pytest

from shared.payments.codes import (
    BAD_AMOUNT,
    BAD_EC_FISCAL_CODE,
    BAD_LAYOUT,
    BAD_NOTICE_CODE,
    BAD_VERSION,
    UNKNOWN_CODE,
    ScannedNotice,
    parse_scanned,
)
from shared.platform.errors import Invalid

NOTICE = "302000100000009424"
EC = "77777777777"


def qr(notice: str = NOTICE, ec: str = EC, cents: str = "0000012550", version: str = "002") -> str:
    return f"PAGOPA|{version}|{notice}|{ec}|{cents}"


def data_matrix(
    notice: str = NOTICE,
    ec: str = EC,
    cents: str = "0000012550",
    account: str = "000012345678",
    phase: str = "1P1",
) -> str:
    codeline = f"18{notice}12{account}10{cents}3896"
    debtor = "RSSMRA80A01H501U".ljust(16)
    name = "MARIO ROSSI".ljust(40)
    subject = "TARI 2026 RATA UNICA".ljust(110)
    return f"codfase=NBPA;{codeline}{phase}{ec}{debtor}{name}{subject}{' ' * 12}A"


def refused(text: str) -> Invalid:
    with pytest.raises(Invalid) as caught:
        parse_scanned(text)
    return caught.value


def test_a_qr_code_names_its_notice_ec_and_amount() -> None:
    assert parse_scanned(qr()) == ScannedNotice(NOTICE, EC, 12550, "QR")


def test_a_data_matrix_names_its_notice_ec_and_amount() -> None:
    text = data_matrix()
    assert len(text) == 256  # the published layout's length
    assert parse_scanned(text) == ScannedNotice(NOTICE, EC, 12550, "DATAMATRIX")


def test_a_data_matrix_reads_only_the_fields_a_payment_needs() -> None:
    # The free text (debtor, subject) may hold anything, '|' and ';' included.
    text = data_matrix()[:77] + "X|Y;Z" + data_matrix()[82:]
    assert parse_scanned(text).notice_code == NOTICE


def test_text_that_is_neither_layout_is_400() -> None:
    for text in ("", "hello", "pagopa|002|x", "https://example.org/", "codfase=XXXX;18"):
        error = refused(text)
        assert (error.status, error.code) == (400, UNKNOWN_CODE)


def test_an_overlong_scan_is_400() -> None:
    error = refused(qr() + "0" * 600)
    assert (error.status, error.code) == (400, UNKNOWN_CODE)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (qr(version="001"), BAD_VERSION),
        (qr(notice="30200010000000942"), BAD_NOTICE_CODE),
        (qr(notice="30200010000000942X"), BAD_NOTICE_CODE),
        (qr(ec="7777777777"), BAD_EC_FISCAL_CODE),
        (qr(ec="7777777777A"), BAD_EC_FISCAL_CODE),
        (qr(cents="12.50"), BAD_AMOUNT),
        (qr(cents=""), BAD_AMOUNT),
        (qr(cents="0000000000"), BAD_AMOUNT),
        (qr(cents="-100"), BAD_AMOUNT),
        (qr() + "|extra", BAD_LAYOUT),
        ("PAGOPA|002|" + NOTICE, BAD_LAYOUT),
    ],
)
def test_a_qr_code_with_a_malformed_part_is_422_naming_it(text: str, code: str) -> None:
    error = refused(text)
    assert (error.status, error.code) == (422, code)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (data_matrix(notice="30200010000000942A"), BAD_NOTICE_CODE),
        (data_matrix(ec="7777777777A"), BAD_EC_FISCAL_CODE),
        (data_matrix(cents="00000125A0"), BAD_AMOUNT),
        (data_matrix(cents="0000000000"), BAD_AMOUNT),
        (data_matrix(phase="2P1"), BAD_LAYOUT),
        (data_matrix().replace("3896", "3123", 1), BAD_LAYOUT),
        (data_matrix()[:60], BAD_LAYOUT),
        ("codfase=NBPA;19" + data_matrix()[15:], BAD_LAYOUT),
    ],
)
def test_a_data_matrix_with_a_malformed_part_is_422_naming_it(text: str, code: str) -> None:
    error = refused(text)
    assert (error.status, error.code) == (422, code)


def test_the_qr_code_and_the_data_matrix_of_one_notice_agree() -> None:
    assert (parse_scanned(qr()).notice_code, parse_scanned(qr()).amount) == (
        parse_scanned(data_matrix()).notice_code,
        parse_scanned(data_matrix()).amount,
    )
