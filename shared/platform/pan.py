"""Card numbers (PANs) in free text: found, masked, or refused.

The platform never holds a PAN (the citizen types it on the PSP's page), yet free text from
outside can carry one: a PSP's refusal reason ("card 4111 1111 1111 1111 refused"), a name, a
notification's body. Every free-text field that reaches storage or a citizen goes through this
module: :data:`NoPanText` refuses a PAN where the caller can fix its input (400/422), and
:data:`PanMaskedText` (or :func:`mask_pans`) masks it where the text must be kept (a partner's
outcome that cannot be refused).

What counts as a PAN: 13 to 19 digits, written together or in groups separated by one or two
spaces or dashes, whose digits pass the Luhn check (ISO/IEC 7812). Inside a longer run of
groups (a PAN followed by other numbers) every stretch of whole groups of 13-19 digits is
checked, so a PAN cannot hide by touching another number; a single unbroken run of more than
19 digits is not a PAN (no card number is that long).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from shared.platform.values import SafeText

MIN_DIGITS = 13
MAX_DIGITS = 19
MASK = "*"

# Groups of digits joined by one or two spaces or dashes; \d so that other scripts' digits
# (which int() reads too) cannot slip a PAN past the check.
_RUN = re.compile(r"\d+(?:[ \-]{1,2}\d+)*")
_GROUP = re.compile(r"\d+")


def luhn_valid(digits: str) -> bool:
    """Whether ``digits`` (decimal digits only) pass the Luhn check."""
    total = 0
    for position, character in enumerate(reversed(digits)):
        value = int(character)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _pan_spans(text: str) -> list[tuple[int, int]]:
    """Where PANs are in ``text``: (start, end) of each stretch of whole groups."""
    spans: list[tuple[int, int]] = []
    for run in _RUN.finditer(text):
        groups = list(_GROUP.finditer(text, run.start(), run.end()))
        for first, start in enumerate(groups):
            digits = ""
            for group in groups[first:]:
                digits += group.group()
                if len(digits) > MAX_DIGITS:
                    break
                if len(digits) >= MIN_DIGITS and luhn_valid(digits):
                    spans.append((start.start(), group.end()))
    return spans


def contains_pan(text: str) -> bool:
    """Whether ``text`` holds something that reads as a card number."""
    return bool(_pan_spans(text))


# A word of an identifier: letters and digits between separators (or the ends).
_WORD = re.compile(r"[^\W_]+")


def _only_numbers(identifier: str) -> str:
    """``identifier`` with every word that holds a letter replaced by ``x``."""
    return _WORD.sub(lambda word: "x" if not word.group().isdigit() else word.group(), identifier)


def identifier_contains_pan(identifier: str) -> bool:
    """Whether an opaque identifier a partner issued (a session id, an instrument id) holds a
    card number: one of its words made of digits alone, or such words joined by separators,
    reads as a PAN.

    Digits inside a word that also holds letters are part of the identifier, not a number: a
    random identifier in hexadecimal or base64 has a Luhn-valid run of 13-19 digits between two
    letters by chance (about 1 in 460 ``uuid4().hex``, 1 in 350 dashed UUIDs), and
    :func:`contains_pan` would refuse it. A number written on its own
    (``4111111111111111``, ``4111-1111-1111-1111``, ``sess_4111111111111111``) is still found.
    """
    return contains_pan(_only_numbers(identifier))


def mask_pans(text: str) -> str:
    """``text`` with every digit of every PAN in it replaced by ``*`` (separators kept)."""
    spans = _pan_spans(text)
    if not spans:
        return text
    masked = list(text)
    for start, end in spans:
        for index in range(start, end):
            if masked[index].isdigit():
                masked[index] = MASK
    return "".join(masked)


def _refuse_pan(text: str) -> str:
    if contains_pan(text):
        # never repeat the text: it holds the number
        raise ValueError("looks like a payment card number (PAN): remove it")
    return text


def _refuse_pan_in_identifier(identifier: str) -> str:
    if identifier_contains_pan(identifier):
        raise ValueError("looks like a payment card number (PAN): remove it")
    return identifier


NoPanText = Annotated[SafeText, AfterValidator(_refuse_pan)]
"""Free text from a caller who can fix it: refused (a validation error) if it holds a PAN."""

PanMaskedText = Annotated[SafeText, AfterValidator(mask_pans)]
"""Free text that must be kept as sent (a partner's outcome): any PAN in it is masked."""

NoPanIdentifier = Annotated[SafeText, AfterValidator(_refuse_pan_in_identifier)]
"""An opaque identifier a partner issued: refused if it holds a card number written as a
number (:func:`identifier_contains_pan`), not for the digits among its letters."""
