"""Italian fiscal code (codice fiscale) of a natural person: validation and hashing.

Layout of the 16 characters (0-based indices)::

    0-5    letters   surname and name
    6-7    digits    year of birth
    8      letter    month of birth, one of ABCDEHLMPRST
    9-10   digits    day of birth; women add 40 (so 01-31 or 41-71)
    11     letter    \\ place of birth (cadastral code)
    12-14  digits    /
    15     letter    check character over the first 15

*Omocodia*: when two people would get the same code, the Agenzia delle Entrate
replaces digits (from the right) with the letters ``LMNPQRSTUV`` (standing for
0-9). An omocodic code is the person's real, official code, so it is never
folded back to its all-digit form.

Error messages never repeat the code itself: it is personal data.
"""

from __future__ import annotations

import functools
import hashlib

from shared.platform.errors import Invalid

__all__ = ["check_character", "fiscal_code_hash", "is_fiscal_code", "parse_fiscal_code"]

LENGTH = 16

_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_MONTHS = frozenset("ABCDEHLMPRST")
#: Omocodia: the letter that stands for each digit 0-9.
OMOCODE_LETTERS = "LMNPQRSTUV"
_OMOCODE_DIGIT = {letter: str(digit) for digit, letter in enumerate(OMOCODE_LETTERS)}
#: Indices that hold a digit, or its omocodic letter.
NUMERIC_POSITIONS = (6, 7, 9, 10, 12, 13, 14)
_LETTER_POSITIONS = (0, 1, 2, 3, 4, 5, 11)
_MONTH_POSITION = 8
_CHECK_POSITION = 15

# Check-character tables: characters at odd positions (1st, 3rd, ... i.e. even
# 0-based indices) and at even positions. A digit counts as the letter of the
# same rank (0 as A, 1 as B, ...).
# fmt: off
_ODD_VALUES = (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10,
               22, 25, 24, 23)
# fmt: on


def _rank(char: str) -> int:
    """Rank of an uppercase ASCII letter or digit in its own alphabet (A=0, 0=0)."""
    if char in _DIGITS:
        return ord(char) - ord("0")
    return ord(char) - ord("A")


def check_character(first15: str) -> str:
    """Compute the check character of the first 15 characters of a fiscal code.

    Args:
        first15: 15 uppercase ASCII letters or digits (the pattern is not checked).

    Returns:
        The check letter, ``A``-``Z``.

    Raises:
        ValueError: ``first15`` is not 15 uppercase ASCII letters or digits.
    """
    if len(first15) != LENGTH - 1 or any(c not in _LETTERS and c not in _DIGITS for c in first15):
        raise ValueError("expected 15 uppercase ASCII letters or digits")
    total = 0
    for index, char in enumerate(first15):
        rank = _rank(char)
        total += _ODD_VALUES[rank] if index % 2 == 0 else rank
    return chr(ord("A") + total % 26)


def parse_fiscal_code(value: str) -> str:
    """Validate a fiscal code and return it in uppercase.

    Letters may be given in either case; nothing is stripped. Omocodic codes are
    accepted. The check character is verified.

    Args:
        value: the candidate fiscal code.

    Returns:
        The code, uppercased.

    Raises:
        Invalid: (400) with a readable reason that does not repeat the code.
    """
    # Check ASCII before uppercasing: str.upper() maps some non-ASCII characters
    # to ASCII ones (U+017F long s -> "S", U+0131 dotless i -> "I") or changes the
    # length (U+00DF sharp s -> "SS").
    if not isinstance(value, str) or not value.isascii():
        raise Invalid("fiscal code must contain only ASCII letters and digits")
    if len(value) != LENGTH:
        raise Invalid(f"fiscal code must be {LENGTH} characters long, not {len(value)}")
    code = value.upper()

    for index in _LETTER_POSITIONS:
        if code[index] not in _LETTERS:
            raise Invalid(f"fiscal code character {index + 1} must be a letter")
    for index in NUMERIC_POSITIONS:
        if code[index] not in _DIGITS and code[index] not in _OMOCODE_DIGIT:
            raise Invalid(
                f"fiscal code character {index + 1} must be a digit "
                f"(or one of {OMOCODE_LETTERS} for omocodia)"
            )
    if code[_MONTH_POSITION] not in _MONTHS:
        raise Invalid(
            f"fiscal code character {_MONTH_POSITION + 1} must be a month letter "
            f"(one of {''.join(sorted(_MONTHS))})"
        )
    if code[_CHECK_POSITION] not in _LETTERS:
        raise Invalid(f"fiscal code character {_CHECK_POSITION + 1} must be a letter")

    day = int(_OMOCODE_DIGIT.get(code[9], code[9]) + _OMOCODE_DIGIT.get(code[10], code[10]))
    if not (1 <= day <= 31 or 41 <= day <= 71):
        raise Invalid("fiscal code has an impossible day of birth (must be 01-31 or 41-71)")

    if check_character(code[:-1]) != code[_CHECK_POSITION]:
        raise Invalid("fiscal code check character does not match")
    return code


def is_fiscal_code(value: str) -> bool:
    """Whether ``value`` is a valid fiscal code (in either case)."""
    try:
        parse_fiscal_code(value)
    except Invalid:
        return False
    return True


@functools.lru_cache(maxsize=16384)
def fiscal_code_hash(value: str) -> str:
    """SHA-256 hex digest of the uppercased fiscal code (a partition key).

    The code is validated first, so the same person always hashes the same way
    whatever the case it was written in. An omocodic code and its all-digit form
    belong to different people and hash differently. Remembered for the last 16,384
    codes (a citizen's requests come in runs; an invalid code raises and is not kept).

    Raises:
        Invalid: ``value`` is not a valid fiscal code.
    """
    return hashlib.sha256(parse_fiscal_code(value).encode("ascii")).hexdigest()
