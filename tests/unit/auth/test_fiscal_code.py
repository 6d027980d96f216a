from __future__ import annotations

import hashlib
import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from shared.auth.fiscal_code import (
    NUMERIC_POSITIONS,
    OMOCODE_LETTERS,
    check_character,
    fiscal_code_hash,
    is_fiscal_code,
    parse_fiscal_code,
)
from shared.platform.errors import Invalid

LETTERS = string.ascii_uppercase
DIGITS = string.digits
MONTHS = "ABCDEHLMPRST"


@st.composite
def first15(draw: st.DrawFn) -> str:
    """The first 15 characters of a valid all-digit (non-omocodic) code."""
    name = draw(st.text(LETTERS, min_size=6, max_size=6))
    year = draw(st.text(DIGITS, min_size=2, max_size=2))
    month = draw(st.sampled_from(MONTHS))
    day = draw(st.integers(1, 31)) + draw(st.sampled_from([0, 40]))
    place = draw(st.sampled_from(LETTERS)) + draw(st.text(DIGITS, min_size=3, max_size=3))
    return f"{name}{year}{month}{day:02d}{place}"


valid_codes = first15().map(lambda body: body + check_character(body))


def with_check(body15: str) -> str:
    return body15 + check_character(body15)


@pytest.mark.parametrize(
    "code",
    [
        "RSSMRA85T10A562S",  # the usual "Mario Rossi" example
        "MRTMTT25D09F205Z",
        "RSSMRA85T10A56NH",  # omocodic variant of the first: last digit 2 -> N
        "RSSMRA85T50A562W",  # day + 40: a woman
    ],
)
def test_known_examples_are_valid(code: str) -> None:
    assert parse_fiscal_code(code) == code
    assert is_fiscal_code(code)


def test_lowercase_is_accepted_and_uppercased() -> None:
    assert parse_fiscal_code("rssmra85t10a562s") == "RSSMRA85T10A562S"
    assert parse_fiscal_code("RssMra85t10A562s") == "RSSMRA85T10A562S"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "16 characters"),
        ("RSSMRA85T10A562", "16 characters"),
        ("RSSMRA85T10A562SX", "16 characters"),
        (" RSSMRA85T10A562S", "16 characters"),
        ("RSSMRA85T10A562S ", "16 characters"),
        ("RSSMRA85T10A562T", "check character"),
        ("RSSMR185T10A562S", "character 6 must be a letter"),
        ("RSSMRAA5T10A562S", "character 7 must be a digit"),
        ("RSSMRA85F10A562S", "month"),
        ("RSSMRA85T00A562S", "day"),
        ("RSSMRA85T32A562S", "day"),
        ("RSSMRA85T40A562S", "day"),
        ("RSSMRA85T72A562S", "day"),
        ("RSSMRA85T10A56-S", "character 15 must be a digit"),
        ("RSSMRA85T10A5621", "character 16 must be a letter"),
        ("RSSMRA85T10\u0131562S", "ASCII"),  # dotless i upper-cases to "I"
        ("RSSMRA85T1\u00df562S", "ASCII"),  # sharp s upper-cases to "SS"
    ],
)
def test_invalid_codes_are_refused_with_a_reason(value: str, reason: str) -> None:
    with pytest.raises(Invalid, match=reason) as caught:
        parse_fiscal_code(value)
    assert caught.value.status == 400
    assert not is_fiscal_code(value)
    if value.strip():
        assert value.strip().upper() not in caught.value.detail  # no personal data echoed


def test_hash_is_sha256_of_the_uppercase_code() -> None:
    expected = hashlib.sha256(b"RSSMRA85T10A562S").hexdigest()
    assert fiscal_code_hash("RSSMRA85T10A562S") == expected
    assert fiscal_code_hash("rssmra85t10a562s") == expected
    assert fiscal_code_hash("RSSMRA85T10A56NH") != expected  # omocodic: another person


def test_hash_refuses_an_invalid_code() -> None:
    with pytest.raises(Invalid):
        fiscal_code_hash("RSSMRA85T10A562T")


def test_check_character_needs_15_uppercase_characters() -> None:
    with pytest.raises(ValueError, match="15"):
        check_character("RSSMRA85T10A56")
    with pytest.raises(ValueError, match="15"):
        check_character("rssmra85t10a562")


@given(valid_codes)
def test_generated_codes_are_valid(code: str) -> None:
    assert parse_fiscal_code(code) == code
    assert parse_fiscal_code(code.lower()) == code


@given(valid_codes, st.sets(st.sampled_from(NUMERIC_POSITIONS), min_size=1))
def test_every_omocodic_substitution_is_valid(code: str, positions: set[int]) -> None:
    chars = list(code[:15])
    for index in positions:
        chars[index] = OMOCODE_LETTERS[int(chars[index])]
    omocodic = with_check("".join(chars))
    assert parse_fiscal_code(omocodic) == omocodic
    assert fiscal_code_hash(omocodic) != fiscal_code_hash(code)


def _allowed_at(index: int) -> str:
    if index in NUMERIC_POSITIONS:
        return DIGITS + OMOCODE_LETTERS
    if index == 8:
        return MONTHS
    return LETTERS


@given(valid_codes, st.integers(0, 15), st.data())
def test_any_single_character_change_is_refused(code: str, index: int, data: st.DataObject) -> None:
    replacement = data.draw(st.sampled_from(_allowed_at(index)).filter(lambda c: c != code[index]))
    changed = code[:index] + replacement + code[index + 1 :]
    with pytest.raises(Invalid):
        parse_fiscal_code(changed)


@given(valid_codes, st.integers(0, 15), st.sampled_from(LETTERS + DIGITS + "-_ .\u00e0"))
def test_any_single_character_change_outside_the_pattern_is_refused(
    code: str, index: int, replacement: str
) -> None:
    assume(replacement != code[index])
    changed = code[:index] + replacement + code[index + 1 :]
    assert not is_fiscal_code(changed)
