"""Hostile values: what a hostile or careless caller puts where the app expects a date, a number,
a text, a path segment or a query parameter, as hypothesis strategies.

A value that plain JSON cannot hold (``1e400``, an integer of 5,000 digits, ``NaN``, a
10,000-deep array) is a :class:`Raw` piece of JSON text; :func:`encode` writes a body with them.
Each value travels with a short label that names it in a failure's reproduction.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

PAN = "4111 1111 1111 1111"
MAX_INT64 = 2**63 - 1


@dataclass(frozen=True)
class Raw:
    """JSON text written as it is (what ``json.dumps`` cannot or will not write)."""

    text: str

    def __repr__(self) -> str:
        shown = self.text if len(self.text) <= 40 else f"{self.text[:20]}...({len(self.text)})"
        return f"Raw({shown!r})"


def encode(value: Any) -> bytes:
    """The JSON text of ``value``, :class:`Raw` pieces as they are; strings are escaped to
    ASCII, so a lone surrogate travels as ``\\ud800``."""
    return _text(value).encode("ascii")


def _text(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{_text(str(k))}:{_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_text(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return json.dumps(value, ensure_ascii=True)


def nested(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


def luhn(body: str) -> str:
    """``body`` and the check digit that makes it a valid card number."""
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return body + str((10 - total % 10) % 10)


# ------------------------------------------------------------------ dates
EXTREME_DATES = [
    "0001-01-01T00:00:00+14:00",  # cannot even be converted to UTC
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "1999-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2026-12-08T09:30:00",  # no offset
    "2026-12-08T09:30:00.123456",
    "2026-12-08",
    "09:30:00Z",
    "2026-12-08T09:30:00+25:00",
    "2026-02-30T09:30:00Z",
    "2026-12-08T24:00:00Z",
    "2026-12-08T09:30:60Z",
    "+12026-12-08T09:30:00Z",
    "2026-12-08T09:30:00+14:01",
    "2026-W50-2T09:30:00Z",
    "now",
    "",
]
NUMERIC_DATES: list[Any] = [0, -1, 1733650000, 1733650000000, 2**53, -(2**63), 1e20, -62135596800]


@st.composite
def _generated_dates(draw: st.DrawFn) -> tuple[str, str]:
    year = draw(
        st.one_of(
            st.integers(1, 1999),
            st.integers(2100, 9999),
            st.sampled_from([1, 1899, 1969, 1999, 2100, 9999]),
        )
    )
    month, day = draw(st.integers(1, 12)), draw(st.integers(1, 28))
    hour, minute, second = (
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
    )
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    offset = draw(st.one_of(st.none(), st.integers(-14 * 60, 14 * 60)))
    if offset is not None:
        sign = "+" if offset >= 0 else "-"
        text += f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    return text, f"date {text}"


def dates() -> st.SearchStrategy[tuple[Any, str]]:
    """(value, label): dates out of 2000-2099, without an offset, malformed, or numbers."""
    return st.one_of(
        st.sampled_from(EXTREME_DATES).map(lambda v: (v, f"date {v!r}")),
        _generated_dates(),
        st.sampled_from(NUMERIC_DATES).map(lambda v: (v, f"numeric date {v!r}")),
    )


# ------------------------------------------------------------------ numbers
NUMBERS: list[Any] = [
    2**63,
    2**64,
    -(2**63) - 1,
    -(2**64),
    10**30,
    -1,
    0,
    True,
    False,
    "1",
    "12",
    "0x10",
    "1e3",
    " 1",
    1.5,
    -0.5,
    1e308,
    Raw("1" * 4301),
    Raw("-" + "9" * 5000),
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1e-400"),
    Raw("NaN"),
    Raw("Infinity"),
    Raw("-Infinity"),
    Raw("1" + "0" * 25 + ".0"),
]


def numbers() -> st.SearchStrategy[tuple[Any, str]]:
    """(value, label): integers past 64 bits or past Python's 4,300 digits, booleans and strings
    where numbers go, fractions, non-finite numbers."""
    return st.one_of(
        st.sampled_from(NUMBERS),
        st.integers(-(2**80), 2**80),
        st.floats(allow_nan=False, allow_infinity=False),
    ).map(lambda v: (v, f"number {v!r}"))


# ------------------------------------------------------------------ texts
TEXTS = [
    "\ud800",
    "\udfff",
    "a\udc00b",
    "\x00",
    "a\x00b",
    "%00",
    PAN,
    PAN.replace(" ", ""),
    "..",
    "../../etc/passwd",
    "%2F",
    "%2e%2e%2f",
    "\u202eevil",
    "\ufeff",
    "\u2028",
    "🙂" * 3,
    " ",
    "",
    "' OR '1'='1",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
    "{{7*7}}",
    "A" * 256,
    "A" * 5_000,
    "A" * 70_000,
]


@st.composite
def _poisoned(draw: st.DrawFn) -> str:
    """Ordinary text with a NUL or a lone surrogate somewhere in it."""
    text = draw(st.text(st.characters(codec="utf-8"), min_size=0, max_size=30))
    poison = draw(st.sampled_from(["\x00", "\ud800", "\udbff", "\udc00", "\udfff"]))
    at = draw(st.integers(0, len(text)))
    return text[:at] + poison + text[at:]


@st.composite
def _card_numbers(draw: st.DrawFn) -> str:
    length = draw(st.integers(13, 19))
    digits = luhn(
        draw(st.sampled_from("3456"))
        + draw(st.text("0123456789", min_size=length - 2, max_size=length - 2))
    )
    separator = draw(st.sampled_from(["", " ", "-"]))
    return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def _short(text: str) -> str:
    return repr(text) if len(text) <= 40 else f"{text[:12]!r}...({len(text)} chars)"


def texts(longest: int = 200_000) -> st.SearchStrategy[tuple[Any, str]]:
    """(value, label): NUL, lone surrogates, card numbers, traversal, very long texts (up to
    ``longest`` characters)."""
    return st.one_of(
        st.sampled_from([t for t in TEXTS if len(t) <= longest]),
        _poisoned(),
        _card_numbers(),
        st.integers(min(1_000, longest), longest).map(lambda n: "x" * n),
    ).map(lambda v: (v, f"text {_short(v)}"))


# ------------------------------------------------------------------ wrong JSON types
WRONG_TYPES: list[Any] = [
    None,
    True,
    False,
    0,
    "",
    [],
    {},
    [None],
    {"": None},
    ["a", 1, None],
    {"$ref": "#/x", "__proto__": {"admin": True}},
    nested(200),
    nested(10_000),
    Raw('{"a":' * 5_000 + "1" + "}" * 5_000),
]


def wrong_types() -> st.SearchStrategy[tuple[Any, str]]:
    return st.sampled_from(WRONG_TYPES).map(lambda v: (v, f"value {v!r}"))


def anything() -> st.SearchStrategy[tuple[Any, str]]:
    """Any hostile value, whatever the field."""
    return st.one_of(dates(), numbers(), texts(), wrong_types())


def for_schema(kind: str) -> st.SearchStrategy[tuple[Any, str]]:
    """Hostile values, most of them of the kind a field expects (``date-time``, ``integer``,
    ``number``, ``string``, ``boolean``, ``array``, ``object``), the rest of any kind."""
    preferred = {
        "date-time": dates(),
        "integer": numbers(),
        "number": numbers(),
        "string": texts(),
    }.get(kind)
    if preferred is None:
        return anything()
    return st.one_of(preferred, preferred, anything())


# ------------------------------------------------------------------ whole bodies
BODIES: list[tuple[bytes, str]] = [
    (b"", "an empty body"),
    (b"   ", "white space"),
    (b"{", "cut JSON"),
    (b"null", "null"),
    (b"[]", "an empty array"),
    (b"{}", "an empty object"),
    (b'"text"', "a string"),
    (b"1e400", "1e400"),
    (b"NaN", "NaN"),
    (("1" * 4301).encode(), "an integer of 4,301 digits"),
    (b"[" * 100_000 + b"]" * 100_000, "arrays nested 100,000 deep"),
    (b"[" * 3_000 + b"]" * 3_000, "arrays nested 3,000 deep"),
    (b'{"a":' * 3_000 + b"1" + b"}" * 3_000, "objects nested 3,000 deep"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"\xed\xa0\x80": 1}', "a surrogate encoded in UTF-8"),
    (b"\xef\xbb\xbf{}", "a byte order mark"),
    (b"{}\n{}", "two documents"),
    (b'{"a": 1, "a": 2}', "a member twice"),
    (b"<xml/>", "XML"),
    (b"\x00" * 64, "NUL bytes"),
]


def bodies() -> st.SearchStrategy[tuple[bytes, str]]:
    return st.sampled_from(BODIES)


# ------------------------------------------------------------------ path and query
# Written into the URL as they are: the caller chose the percent-encoding.
RAW_SEGMENTS = [
    "..",
    ".",
    "%2F",
    "%2f",
    "a%2Fb",
    "..%2F..%2Fadmin",
    "%2e%2e",
    "%252F",
    "%00",
    "a%00b",
    "%",
    "%zz",
    "%C0%AE",
    "%ED%A0%80",
    "%EF%BF%BF",
    "%E2%80%AE",
    "4111%201111%201111%201111",
    "-1",
    "0",
    "1e400",
    "NaN",
    "true",
    "null",
    "%7B%7D",
    "'",
    "%22",
    "*",
    "~",
    "A" * 2_000,
    "9" * 5_000,
]


def segment(text: str) -> str:
    """``text`` percent-encoded as a path segment (a lone surrogate as its UTF-8 bytes)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


URL_TEXT = 2_000
"""The longest text generated for a URL: a request line past 8 KB is refused before the app
(each operation gets one such URL among its explicit examples, :data:`TOO_LONG`)."""
TOO_LONG = ("x" * 9_000, "a text of 9,000 characters (a request line past 8 KB)")


def path_values() -> st.SearchStrategy[tuple[str, str]]:
    """(the segment as written in the URL, label)."""
    return st.one_of(
        st.sampled_from(RAW_SEGMENTS).map(lambda v: (v, f"segment {_short(v)}")),
        st.one_of(texts(URL_TEXT), dates(), numbers()).map(
            lambda pair: (segment(_plain(pair[0])), f"segment {pair[1]}")
        ),
    )


def query_values() -> st.SearchStrategy[tuple[str, str]]:
    """(the parameter's value as written in the URL, label)."""
    return path_values().map(lambda pair: (pair[0], pair[1].replace("segment", "query value")))


def _plain(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, str):
        return value
    return _text(value)


# ------------------------------------------------------------------ every field gets these
# Whatever else is generated, each place of each request is tried with one value of each class
# its kind is exposed to (hypothesis's explicit examples).
REPRESENTATIVES: dict[str, list[tuple[Any, str]]] = {
    "date-time": [
        ("0001-01-01T00:00:00+14:00", "date '0001-01-01T00:00:00+14:00'"),
        ("9999-12-31T23:59:59-14:00", "date '9999-12-31T23:59:59-14:00'"),
        ("2026-12-08T09:30:00", "date without an offset"),
        (1733650000, "numeric date 1733650000"),
    ],
    "integer": [
        (2**64, "number 2**64"),
        (True, "number True"),
        ("1", "number '1'"),
        (Raw("1e400"), "number 1e400"),
        (Raw("1" * 4301), "an integer of 4,301 digits"),
    ],
    "string": [
        ("a\x00b", "text 'a\\x00b'"),
        ("\ud800", "text '\\ud800'"),
        (PAN, "text (a card number)"),
        ("A" * 5_000, "text of 5,000 characters"),
    ],
    "boolean": [("true", "value 'true'"), (1, "value 1")],
}
REPRESENTATIVES["number"] = REPRESENTATIVES["integer"]
WRONG = [(None, "value None"), (nested(10_000), "arrays nested 10,000 deep")]
PATH_REPRESENTATIVES = [
    ("..", "segment '..'"),
    ("%2F", "segment '%2F'"),
    ("%00", "segment '%00'"),
    ("%ED%A0%80", "segment (an encoded lone surrogate)"),
    ("4111%201111%201111%201111", "segment (a card number)"),
    ("9" * 5_000, "segment of 5,000 digits"),
]
QUERY_REPRESENTATIVES = [
    ("1e400", "query value '1e400'"),
    ("%00", "query value '%00'"),
    ("-1", "query value '-1'"),
    ("9" * 5_000, "query value of 5,000 digits"),
    ("%ED%A0%80", "query value (an encoded lone surrogate)"),
]


def representatives(kind: str) -> list[tuple[Any, str]]:
    return REPRESENTATIVES.get(kind, []) + WRONG
