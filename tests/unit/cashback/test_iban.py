"""Italian IBANs: length, mod-97 check digits and the CIN, with real published examples and
properties over generated ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.cashback.iban import check_digits, cin, masked, normalized, problem

DIGITS = "0123456789"
ALNUM = DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def build(abi: str, cab: str, account: str) -> str:
    bban = cin(abi + cab + account) + abi + cab + account
    return "IT" + check_digits(bban) + bban


@pytest.mark.parametrize(
    "iban",
    [
        "IT60X0542811101000000123456",  # the ECBS / SWIFT registry example
        "IT 60 X054 2811 1010 0000 0123 456",
    ],
)
def test_published_italian_ibans_are_accepted(iban: str) -> None:
    assert problem(normalized(iban)) is None


@pytest.mark.parametrize(
    ("iban", "says"),
    [
        ("IT60X054281110100000012345", "27 characters"),
        ("DE89370400440532013000XXXXX", "IT, 2 check digits"),
        ("IT60X0542811101000000123-56", "IT, 2 check digits"),
        ("IT61X0542811101000000123456", "check digits"),
        ("IT60Y0542811101000000123456", "check digits"),  # mod-97 catches the CIN too, first
    ],
)
def test_bad_ibans_say_why(iban: str, says: str) -> None:
    found = problem(iban)
    assert found is not None
    assert says in found


@pytest.mark.parametrize(
    ("genuine", "alias"),
    [
        ("IT97W0542811101000000000013", "IT00W0542811101000000000013"),
        ("IT98C0542811101000000000107", "IT01C0542811101000000000107"),
        ("IT02V0542811101000000000196", "IT99V0542811101000000000196"),
    ],
)
def test_check_digits_that_only_pass_the_bare_mod97_are_refused(genuine: str, alias: str) -> None:
    # Stricter since schwifty: mod 97-10 computes check digits 02..98, so 00, 01 and 99 (which
    # still give mod 97 == 1 in place of 97, 98 and 02) are in no genuine IBAN.
    assert problem(genuine) is None
    assert problem(alias) == "the check digits do not match"


def test_a_wrong_cin_with_right_check_digits_is_refused() -> None:
    right = build("05428", "11101", "000000123456")
    bban = "Y" + right[5:]
    forged = "IT" + check_digits(bban) + bban  # check digits recomputed over the wrong CIN
    assert problem(forged) == "the CIN does not match"


@given(
    st.text(DIGITS, min_size=5, max_size=5),
    st.text(DIGITS, min_size=5, max_size=5),
    st.text(ALNUM, min_size=12, max_size=12),
)
def test_every_built_iban_is_valid_and_any_single_digit_change_is_caught(
    abi: str, cab: str, account: str
) -> None:
    # Mod-97 catches every change of one digit into another. Not every change involving a
    # letter: 'A' counts as 10 in mod-97 and as 0 in the CIN, so 'A' -> '0' can slip through
    # both (hypothesis found one); the bank's check is the last word.
    iban = build(abi, cab, account)
    assert len(iban) == 27
    assert problem(iban) is None
    for position in range(2, 27):
        if not iban[position].isdigit():
            continue
        for replacement in ("0", "7"):
            if iban[position] == replacement:
                continue
            changed = iban[:position] + replacement + iban[position + 1 :]
            assert problem(changed) is not None, (iban, position, replacement)


def test_only_the_last_four_characters_are_shown() -> None:
    assert masked("IT60X0542811101000000123456") == "*" * 23 + "3456"
