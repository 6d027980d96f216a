"""Bounded values: the JSON decoder and the date-time and text types every edge uses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from shared.platform.errors import Invalid
from shared.platform.values import BoundedDateTime, SafeText, bounded_datetime, decode_json


class Sample(BaseModel):
    at: BoundedDateTime
    text: SafeText = ""


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": "\\ud800"}',
        b"[1" + b"1" * 5000 + b"]",
        b'{"a": "x\\u0000y"}',
        b'{"\\u0000": 1}',
        b'{"a": 1e400}',
        b'{"a": 9223372036854775808}',
        b"NaN",
        b"{",
    ],
)
def test_the_decoder_refuses_what_must_not_reach_deep_code(raw: bytes) -> None:
    with pytest.raises(Invalid) as refused:
        decode_json(raw)
    assert refused.value.status == 400


def test_the_decoder_keeps_ordinary_json() -> None:
    assert decode_json(b'{"a": [1, -2.5, "\\ud83d\\ude00", null, true]}') == {
        "a": [1, -2.5, "\U0001f600", None, True]
    }
    assert decode_json('{"n": 9223372036854775807}') == {"n": 2**63 - 1}


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "1999-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
        "2026-01-01T00:00:00",
        1_700_000_000,
        1.5,
        # digits in a string: pydantic reads them as seconds, or past 2e10 as milliseconds
        # (this one is 2065), since 1970
        "3000000000007",
        "1700000000",
    ],
)
def test_a_date_time_needs_its_offset_and_a_year_in_range(value: object) -> None:
    with pytest.raises(ValidationError):
        Sample.model_validate({"at": value})


def test_a_field_may_document_a_wider_range() -> None:
    class Old(BaseModel):
        at: bounded_datetime(min_year=1900)  # type: ignore[valid-type]

    assert Old.model_validate({"at": "1950-06-01T00:00:00+01:00"}).at.year == 1950


def test_text_with_a_nul_or_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(ValidationError):
        Sample.model_validate({"at": "2026-01-01T00:00:00Z", "text": "a\x00b"})
    with pytest.raises(ValidationError):
        Sample.model_validate({"at": "2026-01-01T00:00:00Z", "text": "a\ud800"})


@given(st.datetimes(timezones=st.timezones()))
def test_every_accepted_date_time_converts_to_utc(moment: datetime) -> None:
    try:
        parsed = Sample.model_validate({"at": moment.isoformat()}).at
    except ValidationError:
        assert not 2000 <= moment.year <= 2099 or moment.utcoffset() is None
        return
    assert parsed.astimezone(UTC).year in range(1999, 2101)
