"""Card numbers in free text: every Luhn-valid run of 13-19 digits is masked or refused, other
numbers are left alone."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from shared.platform.pan import (
    NoPanIdentifier,
    NoPanText,
    PanMaskedText,
    contains_pan,
    identifier_contains_pan,
    luhn_valid,
    mask_pans,
)


def with_check_digit(body: str) -> str:
    """``body`` plus the digit that makes it Luhn-valid."""
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def without_check_digit(body: str) -> str:
    """``body`` plus a digit that makes it fail the Luhn check."""
    return next(body + d for d in "0123456789" if not luhn_valid(body + d))


bodies = st.integers(min_value=12, max_value=18).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)
)
# Text around a number that does not extend it: no digit, space or dash at the edges.
words = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
).map(lambda s: s.strip(" -"))
separators = st.sampled_from([" ", "-", "  ", " -"])


def grouped(digits: str, sizes: list[int], separator: str) -> str:
    parts, at = [], 0
    for size in sizes:
        if at >= len(digits):
            break
        parts.append(digits[at : at + size])
        at += size
    if at < len(digits):
        parts.append(digits[at:])
    return separator.join(p for p in parts if p)


def framed(before: str, number: str, after: str) -> str:
    # a letter on each side, so the surrounding text never touches the number's digits
    return f"{before}x {number} x{after}"


@given(bodies, words, words)
def test_a_luhn_valid_run_in_any_text_is_masked(body: str, before: str, after: str) -> None:
    pan = with_check_digit(body)
    text = framed(before, pan, after)
    masked = mask_pans(text)
    assert pan not in masked
    assert contains_pan(text)
    assert not contains_pan(masked)
    assert masked == framed(mask_pans(before), "*" * len(pan), mask_pans(after))


@given(
    bodies,
    st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=6),
    separators,
    words,
    words,
)
def test_a_luhn_valid_run_written_in_groups_is_masked_separators_kept(
    body: str, sizes: list[int], separator: str, before: str, after: str
) -> None:
    pan = with_check_digit(body)
    written = grouped(pan, sizes, separator)
    masked = mask_pans(framed(before, written, after))
    hidden = "".join("*" if c.isdigit() else c for c in written)
    assert masked == framed(mask_pans(before), hidden, mask_pans(after))


@given(bodies, words, words)
def test_a_run_failing_the_luhn_check_is_untouched(body: str, before: str, after: str) -> None:
    number = without_check_digit(body)
    assume(not contains_pan(before) and not contains_pan(after))
    text = framed(before, number, after)
    assert mask_pans(text) == text
    assert not contains_pan(text)


@given(st.text(alphabet="0123456789", min_size=20, max_size=40))
def test_one_unbroken_run_longer_than_a_card_number_is_untouched(digits: str) -> None:
    assert mask_pans(f"ref {digits}.") == f"ref {digits}."


@given(st.text(alphabet="0123456789", min_size=1, max_size=12), words)
def test_short_numbers_are_untouched(digits: str, text: str) -> None:
    assert mask_pans(f"{text}x {digits} x") == f"{mask_pans(text)}x {digits} x"


@given(st.text(max_size=200))
def test_masking_is_idempotent_and_keeps_the_length(text: str) -> None:
    once = mask_pans(text)
    assert mask_pans(once) == once
    assert len(once) == len(text)
    assert not contains_pan(once)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111111111111111 refused", "card **************** refused"),
        ("card 4111 1111 1111 1111 refused", "card **** **** **** **** refused"),
        ("4111-1111-1111-1111", "****-****-****-****"),
        # a PAN touching another number through a separator is still found
        ("4111 1111 1111 1111 2025", "**** **** **** **** 2025"),
        ("ref 12 4111 1111 1111 1111", "ref 12 **** **** **** ****"),
        # Amex (15) and 19-digit PANs
        ("378282246310005", "***************"),
        ("6011 0009 9013 9424", "**** **** **** ****"),
        ("4111 1111 1111 1112", "4111 1111 1111 1112"),  # fails Luhn: untouched
        # other scripts' digits are digits too
        ("\u0664" + "\u0661" * 15, "*" * 16),
        # a notice number failing Luhn, a date and a phone number stay
        ("notice 302000100000009424", "notice 302000100000009424"),
        ("due 2024-01-15, call 06 1234 5678", "due 2024-01-15, call 06 1234 5678"),
    ],
)
def test_examples(text: str, expected: str) -> None:
    assert mask_pans(text) == expected


class Refusing(BaseModel):
    text: NoPanText


class Masking(BaseModel):
    text: PanMaskedText


def test_no_pan_text_refuses_a_pan_without_repeating_it() -> None:
    with pytest.raises(ValidationError) as refused:
        Refusing(text="pay with 4111 1111 1111 1111")
    [error] = refused.value.errors(include_input=False)
    assert "4111" not in str(error)
    assert Refusing(text="notice 302000100000009424").text == "notice 302000100000009424"


def test_no_pan_text_is_safe_text_too() -> None:
    with pytest.raises(ValidationError):
        Refusing(text="a\x00b")


def test_pan_masked_text_masks() -> None:
    assert Masking(text="card 4111111111111111 refused").text == "card **************** refused"


class Identified(BaseModel):
    identifier: NoPanIdentifier


@pytest.mark.parametrize(
    "identifier",
    [
        # random ids whose digits between two letters pass the Luhn check (contains_pan: True)
        "7a45555409164654b64550c5dfa98069",
        "7a455554-0916-4654-b645-50c5dfa98069",
        "26adabb9-4220-4200-9671-48b357084f8e",
    ],
)
def test_an_identifier_is_not_refused_for_the_digits_among_its_letters(identifier: str) -> None:
    assert contains_pan(identifier)
    assert not identifier_contains_pan(identifier)
    assert Identified(identifier=identifier).identifier == identifier


@pytest.mark.parametrize(
    "identifier",
    ["4111111111111111", "4111-1111-1111-1111", "sess_4111111111111111", "id-4111111111111111-x"],
)
def test_an_identifier_holding_a_number_that_reads_as_a_pan_is_refused(identifier: str) -> None:
    assert identifier_contains_pan(identifier)
    with pytest.raises(ValidationError):
        Identified(identifier=identifier)


@given(st.uuids())
def test_a_random_hex_id_never_reads_as_a_pan(value: uuid.UUID) -> None:
    assert not identifier_contains_pan(value.hex)
