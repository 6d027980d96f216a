"""What the app scanned on a paper notice: the pagoPA QR code or Poste's data matrix.

Both carry the notice code (18 digits), the EC's fiscal code (11 digits) and the amount in
cents; docs/payments.md ("Paying a notice") records where each layout was learnt:

- QR code: ``PAGOPA|002|<notice code>|<EC fiscal code>|<amount in cents>``, five fields split
  on ``|``, version ``002``.
- Data matrix: ``codfase=NBPA;`` then the codeline ``18<notice code>12<12-digit postal
  account>10<10-digit amount in cents>3896``, then ``1P1``, the EC's fiscal code (11), the
  debtor's fiscal code (16), the debtor's name (40), the subject (110), a filler (12) and ``A``.
  Only the fields a payment needs are read; the free text after the EC's code is not.

A string that is neither layout is 400; one that is a layout with a malformed part is 422 with a
code naming the part, so the app can say which part of its scan is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from shared.platform.errors import Invalid

__all__ = [
    "BAD_AMOUNT",
    "BAD_EC_FISCAL_CODE",
    "BAD_LAYOUT",
    "BAD_NOTICE_CODE",
    "BAD_VERSION",
    "UNKNOWN_CODE",
    "ScannedNotice",
    "parse_scanned",
]

UNKNOWN_CODE = "UNKNOWN_CODE"
BAD_VERSION = "BAD_VERSION"
BAD_NOTICE_CODE = "BAD_NOTICE_CODE"
BAD_EC_FISCAL_CODE = "BAD_EC_FISCAL_CODE"
BAD_AMOUNT = "BAD_AMOUNT"
BAD_LAYOUT = "BAD_LAYOUT"

MAX_SCANNED = 512
"""Longer than any layout (the data matrix is 256 characters)."""

_QR_PREFIX = "PAGOPA|"
_DM_PREFIX = "codfase=NBPA;"
_NOTICE = re.compile(r"[0-9]{18}")
_EC = re.compile(r"[0-9]{11}")
_AMOUNT = re.compile(r"[0-9]{1,11}")
_MAX_CENTS = 99_999_999_999


@dataclass(frozen=True)
class ScannedNotice:
    notice_code: str
    ec_fiscal_code: str
    amount: int
    """Euro cents as printed: what the notice said, the EC's verify has the last word."""
    source: Literal["QR", "DATAMATRIX"]


def _refuse(detail: str, code: str) -> Invalid:
    return Invalid(detail, status=422, code=code)


def _checked(
    notice_code: str, ec_fiscal_code: str, amount: str, where: str
) -> tuple[str, str, int]:
    if not _NOTICE.fullmatch(notice_code):
        raise _refuse(f"the {where}'s notice code is not 18 digits", BAD_NOTICE_CODE)
    if not _EC.fullmatch(ec_fiscal_code):
        raise _refuse(f"the {where}'s EC fiscal code is not 11 digits", BAD_EC_FISCAL_CODE)
    if not _AMOUNT.fullmatch(amount):
        raise _refuse(f"the {where}'s amount is not a number of cents", BAD_AMOUNT)
    cents = int(amount)
    if not 0 < cents <= _MAX_CENTS:
        raise _refuse(f"the {where}'s amount is not a payable amount", BAD_AMOUNT)
    return notice_code, ec_fiscal_code, cents


def _qr(text: str) -> ScannedNotice:
    parts = text.split("|")
    if len(parts) != 5:
        raise _refuse("a pagoPA QR code has five fields separated by '|'", BAD_LAYOUT)
    _, version, notice_code, ec_fiscal_code, amount = parts
    if version != "002":
        raise _refuse(f"pagoPA QR code version {version[:8]!r} is not 002", BAD_VERSION)
    checked = _checked(notice_code, ec_fiscal_code, amount, "QR code")
    return ScannedNotice(*checked, source="QR")


# Offsets in the whole string (the prefix included), from the layout in the module docstring.
_DM_CODELINE_TAG = (13, 15, "18")
_DM_NOTICE = (15, 33)
_DM_ACCOUNT_TAG = (33, 35, "12")
_DM_AMOUNT_TAG = (47, 49, "10")
_DM_AMOUNT = (49, 59)
_DM_DOCUMENT_TYPE = (59, 63, "3896")
_DM_PHASE = (63, 66, "1P1")
_DM_EC = (66, 77)


def _data_matrix(text: str) -> ScannedNotice:
    if len(text) < _DM_EC[1]:
        raise _refuse("the data matrix is too short for a pagoPA notice", BAD_LAYOUT)
    for start, end, expected in (
        _DM_CODELINE_TAG,
        _DM_ACCOUNT_TAG,
        _DM_AMOUNT_TAG,
        _DM_DOCUMENT_TYPE,
        _DM_PHASE,
    ):
        if text[start:end] != expected:
            raise _refuse(
                f"the data matrix has {text[start:end]!r} where {expected!r} belongs", BAD_LAYOUT
            )
    checked = _checked(
        text[slice(*_DM_NOTICE)], text[slice(*_DM_EC)], text[slice(*_DM_AMOUNT)], "data matrix"
    )
    return ScannedNotice(*checked, source="DATAMATRIX")


def parse_scanned(text: str) -> ScannedNotice:
    """The notice a scanned string names.

    Raises:
        Invalid: 400 ``UNKNOWN_CODE`` when it is neither layout; 422 with the malformed part's
            code (``BAD_LAYOUT``, ``BAD_VERSION``, ``BAD_NOTICE_CODE``, ``BAD_EC_FISCAL_CODE``,
            ``BAD_AMOUNT``) when it is one with a part wrong.
    """
    if len(text) > MAX_SCANNED:
        raise Invalid("the scanned code is too long to be a pagoPA notice", code=UNKNOWN_CODE)
    if text.startswith(_QR_PREFIX):
        return _qr(text)
    if text.startswith(_DM_PREFIX):
        return _data_matrix(text)
    raise Invalid(
        "the scanned code is neither a pagoPA QR code nor a Poste data matrix", code=UNKNOWN_CODE
    )
