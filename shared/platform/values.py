"""Bounded values: what the app accepts from outside, so nothing hostile reaches arithmetic.

Every date/time the app accepts (in a request, a queue message or a file) is a
:data:`BoundedDateTime`: a timezone offset is required and the year is 2000-2099 unless a field
documents a wider range (:func:`bounded_datetime`). Every integer is bounded by its field; every
string is :data:`SafeText` (no NUL, no lone surrogate). JSON that a model does not parse itself
goes through :func:`decode_json`, which refuses what Python's own decoder would let through into
deep code: integers beyond 64 bits (Python would raise ``ValueError`` past 4,300 digits), NaN and
infinities, lone surrogates and NUL characters.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator
from pydantic_core import from_json

from shared.platform.errors import Invalid

MIN_YEAR = 2000
MAX_YEAR = 2099
MAX_JSON_INT = 2**63 - 1
"""The largest integer magnitude a JSON document may carry (what Cosmos and .NET keep exactly)."""


def unsafe_character(text: str) -> str | None:
    """Why ``text`` cannot be stored (a NUL or a lone surrogate), or None when it can."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


def storable(text: str) -> str:
    """``text`` with each character :data:`SafeText` refuses (a NUL, a lone surrogate) replaced
    by U+FFFD: for text the app passes on but did not choose (a signed-in user's name)."""
    if unsafe_character(text) is None:
        return text
    return "".join("\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text)


def _safe_text(text: str) -> str:
    reason = unsafe_character(text)
    if reason is not None:
        raise ValueError(reason)
    return text


SafeText = Annotated[str, AfterValidator(_safe_text)]
"""A string with no NUL and no lone surrogate."""


_NUMBER_TEXT = re.compile(r"\s*[-+]?[0-9]+(\.[0-9]*)?\s*")


def _not_a_number(value: Any) -> Any:
    # pydantic reads a number, or a string of digits, as seconds (or ms) since 1970: a
    # date-time must be written out
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER_TEXT.fullmatch(value)):
        raise ValueError("a date-time is an ISO 8601 string with its offset, not a number")
    return value


def bounded_datetime(min_year: int = MIN_YEAR, max_year: int = MAX_YEAR) -> Any:
    """An offset-aware date-time type whose year lies in ``min_year``-``max_year``."""

    def check(moment: datetime) -> datetime:
        if not min_year <= moment.year <= max_year:
            raise ValueError(f"the year must be between {min_year} and {max_year}")
        # 0001-01-01T00:00+14:00 cannot even be converted to UTC; inside the bounds any
        # arithmetic the app does (days, months, a few years) stays representable
        return moment

    return Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(check)]


BoundedDateTime = bounded_datetime()
"""A date-time with its timezone offset, year 2000-2099."""


def _check_tree(value: Any, path: str) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if abs(value) > MAX_JSON_INT:
            raise Invalid(f"{path or 'the body'}: the number is out of range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise Invalid(f"{path or 'the body'}: the number is out of range")
    elif isinstance(value, str):
        reason = unsafe_character(value)
        if reason is not None:
            raise Invalid(f"{path or 'the body'}: the text {reason}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_tree(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            reason = unsafe_character(key)
            if reason is not None:
                raise Invalid(f"{path or 'the body'}: a member name {reason}")
            _check_tree(item, f"{path}.{key}" if path else key)


def decode_json(raw: bytes | str) -> Any:
    """Parse JSON, refusing what must never reach deep code.

    Raises:
        Invalid: (400) not JSON, or a number out of 64-bit range or not finite, or a string or
            member name with a NUL or a lone surrogate.
    """
    try:
        value = from_json(raw, allow_inf_nan=False)
    except ValueError as error:
        raise Invalid(f"the body is not valid JSON: {error}") from None
    _check_tree(value, "")
    return value
