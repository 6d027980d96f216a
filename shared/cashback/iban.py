"""Italian IBANs, as cashback accepts them for payouts: 27 characters, ``IT``, two check digits
(ISO 13616 mod-97), then the BBAN: CIN (a check letter), ABI (5 digits), CAB (5 digits), account
(12 letters or digits). The CIN is the Italian banks' check letter over ABI + CAB + account.

The checks are ``schwifty``'s (the registry's BBAN format, ISO 7064 mod 97-10, the Italian CIN);
this module keeps cashback's own wording of what is wrong, and the masking.
"""

from __future__ import annotations

import re

from schwifty import BBAN, IBAN
from schwifty.exceptions import InvalidBBANChecksum, InvalidChecksumDigits, SchwiftyException

LENGTH = 27
_SHAPE = (
    "an Italian IBAN is IT, 2 check digits, the CIN letter, 10 digits (ABI, CAB) "
    "and 12 letters or digits"
)


def normalized(raw: str) -> str:
    """Upper case without spaces (as people write IBANs in groups of four)."""
    return re.sub(r"\s+", "", raw).upper()


def cin(abi_cab_account: str) -> str:
    """The CIN letter of the 22 characters ABI + CAB + account."""
    bban = BBAN.from_components(
        "IT",
        bank_code=abi_cab_account[:5],
        branch_code=abi_cab_account[5:10],
        account_code=abi_cab_account[10:],
    )
    return str(bban)[0]


def check_digits(bban: str, country: str = "IT") -> str:
    """The two ISO 13616 check digits of ``country`` + ``bban``."""
    return IBAN.from_bban(country, bban, allow_invalid=True).checksum_digits


def problem(iban: str) -> str | None:
    """Why ``iban`` (normalized) is not an acceptable Italian IBAN, or None."""
    if len(iban) != LENGTH:
        return f"an Italian IBAN has {LENGTH} characters"
    if not iban.startswith("IT") or iban != iban.upper():
        return _SHAPE
    try:
        IBAN(iban, validate_bban=True)
    except InvalidChecksumDigits:
        return "the check digits do not match"
    except InvalidBBANChecksum:
        return "the CIN does not match"
    except SchwiftyException:  # characters, length or the BBAN's format
        return _SHAPE
    return None


def masked(iban: str) -> str:
    """Only the last 4 characters shown."""
    return "*" * (len(iban) - 4) + iban[-4:]
