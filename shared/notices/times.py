"""Times as the archive stores and answers them: instants in UTC of one fixed width (so they
compare as strings), and the wall-clock time an EC sent, written as pagoPA's service writes it
(docs/aca-contract.md, "How our times relate to pagoPA's")."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated

from pydantic import PlainSerializer

from shared.platform.values import MAX_YEAR, MIN_YEAR, BoundedDateTime


def in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC, as the archive stores it.

    Raises:
        ValueError: it has no offset, or its year in UTC is outside 2000-2099 (what the stored
            models read back: a date outside would make a notice nobody can read).
    """
    if moment.utcoffset() is None:
        raise ValueError("a date-time needs its timezone offset")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise ValueError(f"the year in UTC must be between {MIN_YEAR} and {MAX_YEAR}")
    return utc


@lru_cache(maxsize=4096)  # a bulk formats its upload's time once per line
def fixed_time(moment: datetime) -> str:
    """UTC, one fixed width, so stored times compare as strings (queries, order keys).

    Raises:
        ValueError: as :func:`in_utc`, before anything is written (the edges refuse such dates
            first, with a 4xx).
    """
    return in_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def local_date_time(moment: datetime) -> str:
    """The wall-clock time of ``moment`` without its offset, written as pagoPA's service writes
    its due dates (Java's ``LocalDateTime.toString``: seconds only when not zero, then
    milliseconds or microseconds only when not zero)."""
    text = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
    text += f"{moment.minute:02d}"
    if moment.second == 0 and moment.microsecond == 0:
        return text
    text += f":{moment.second:02d}"
    if moment.microsecond == 0:
        return text
    if moment.microsecond % 1000 == 0:
        return f"{text}.{moment.microsecond // 1000:03d}"
    return f"{text}.{moment.microsecond:06d}"


StoredTime = Annotated[
    BoundedDateTime, PlainSerializer(fixed_time, return_type=str, when_used="json")
]
