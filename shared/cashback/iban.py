"""Italian IBANs, as cashback accepts them for payouts: 27 characters, ``IT``, two check digits
(ISO 13616 mod-97), then the BBAN: CIN (a check letter), ABI (5 digits), CAB (5 digits), account
(12 letters or digits). The CIN is the Italian banks' check letter over ABI + CAB + account."""

from __future__ import annotations

import re
import string

LENGTH = 27
_SHAPE = re.compile(r"^IT[0-9]{2}[A-Z][0-9]{10}[0-9A-Z]{12}$")
# The CIN's weights of characters in odd positions (1st, 3rd, ...), by digit or letter index.
_ODD = (
    1,
    0,
    5,
    7,
    9,
    13,
    15,
    17,
    19,
    21,
    2,
    4,
    18,
    20,
    11,
    3,
    6,
    8,
    12,
    14,
    16,
    10,
    22,
    25,
    24,
    23,
)


def normalized(raw: str) -> str:
    """Upper case without spaces (as people write IBANs in groups of four)."""
    return re.sub(r"\s+", "", raw).upper()


def _index(char: str) -> int:
    return int(char) if char.isdigit() else string.ascii_uppercase.index(char)


def cin(abi_cab_account: str) -> str:
    """The CIN letter of the 22 characters ABI + CAB + account."""
    total = sum(_ODD[_index(c)] if i % 2 == 0 else _index(c) for i, c in enumerate(abi_cab_account))
    return string.ascii_uppercase[total % 26]


def _mod97(text: str) -> int:
    return int("".join(str(int(c, 36)) for c in text)) % 97


def check_digits(bban: str, country: str = "IT") -> str:
    """The two ISO 13616 check digits of ``country`` + ``bban``."""
    return f"{98 - _mod97(bban + country + '00'):02d}"


def problem(iban: str) -> str | None:
    """Why ``iban`` (normalized) is not an acceptable Italian IBAN, or None."""
    if len(iban) != LENGTH:
        return f"an Italian IBAN has {LENGTH} characters"
    if not _SHAPE.match(iban):
        return (
            "an Italian IBAN is IT, 2 check digits, the CIN letter, 10 digits (ABI, CAB) "
            "and 12 letters or digits"
        )
    if _mod97(iban[4:] + iban[:4]) != 1:
        return "the check digits do not match"
    if cin(iban[5:]) != iban[4]:
        return "the CIN does not match"
    return None


def masked(iban: str) -> str:
    """Only the last 4 characters shown."""
    return "*" * (len(iban) - 4) + iban[-4:]
