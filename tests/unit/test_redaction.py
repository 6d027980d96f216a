"""The log redaction filter: credentials and personal data never reach a log line.

The one place where tests read log text: what the filter leaves is its behaviour.
"""

from __future__ import annotations

import io
import logging
import string
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.platform.redaction import RedactionFilter, install, redact

JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJSU1NNUkE4NVQxMEE1NjJTIn0"
    ".c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
)
FUNCTION_KEY = "Zk9xR2h0Y3V0bG9uZ2Z1bmN0aW9ua2V5"
PARTY_KEY = "dev-ec-key-77777777777-not-a-secret"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (f"Authorization: Bearer {JWT}", JWT),
        ("Authorization: Bearer opaque-token.123", "opaque-token.123"),
        (f"token {JWT} refused", JWT),
        (f"{{'x-functions-key': '{FUNCTION_KEY}', 'accept': '*/*'}}", FUNCTION_KEY),
        (f'{{"X-Functions-Key": "{FUNCTION_KEY}"}}', FUNCTION_KEY),
        (f"x-functions-key: {FUNCTION_KEY}", FUNCTION_KEY),
        (f"GET /api/v1/push/notifications?code={FUNCTION_KEY}&limit=5", FUNCTION_KEY),
        (f"Ocp-Apim-Subscription-Key: {PARTY_KEY}", PARTY_KEY),
        (f"{{'ocp-apim-subscription-key': '{PARTY_KEY}'}}", PARTY_KEY),
        (f"/api/aca/v1/bulk/1?subscription-key={PARTY_KEY}", PARTY_KEY),
        (
            "Authorization: SharedAccessSignature sr=https%3a%2f%2fns.servicebus.windows.net"
            "%2fhub&sig=c2lnbmF0dXJl%2Bc2ln&se=1765000000&skn=DefaultFullSharedAccessSignature",
            "c2lnbmF0dXJl%2Bc2ln",
        ),
        ("https://acct.blob.core.windows.net/c/b?sv=2024&sig=YWJjZGVm%3D&se=2026", "YWJjZGVm%3D"),
        (
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;"
            "SharedAccessKey=a2V5a2V5a2V5a2V5+/a2V5=;EntityPath=q",
            "a2V5a2V5a2V5a2V5+/a2V5=",
        ),
        (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=RWJ5OHZkTTAyeE5PY3FGbHFVd0pQTGxtRXRsQ0RYSjFPVXpGVDUwdVNSWjY=;"
            "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1",
            "RWJ5OHZkTTAyeE5PY3FGbHFVd0pQTGxtRXRsQ0RYSjFPVXpGVDUwdVNSWjY=",
        ),
        (
            "Endpoint=sb://h/;SharedAccessSignature=SharedAccessSignature sr=h&sig=s2lnbmF0&se=1",
            "s2lnbmF0",
        ),
        ("x-signature: t=1765000000,v1=9f86d081884c7d659a2feaa0c55ad015", "9f86d081884c7d65"),
        ("citizen RSSMRA85T10A562S enrolled", "RSSMRA85T10A562S"),
        ("citizen rssmra85t10a562s enrolled", "rssmra85t10a562s"),
        ("omocodia RSSMRA85T1LA562S too", "RSSMRA85T1LA562S"),
        ("iban=IT60X0542811101000000123456;", "IT60X0542811101000000123456"),
        ("IBAN IT60 X054 2811 1010 0000 0123 456 set", "X054 2811 1010 0000 0123"),
        ("German DE89370400440532013000 account", "DE89370400440532013000"),
        ("paid with 4111 1111 1111 1111.", "4111 1111 1111 1111"),
        ("paid with 4111-1111-1111-1111.", "4111-1111-1111-1111"),
        ("pan=5555555555554444", "5555555555554444"),
        ("amex 378282246310005", "378282246310005"),
        ("after a number: 3 4111 1111 1111 1111 2026", "4111 1111 1111 1111"),
    ],
)
def test_every_kind_of_secret_is_masked(line: str, secret: str) -> None:
    masked = redact(line)
    assert secret not in masked
    assert "[REDACTED" in masked
    assert redact(masked) == masked  # each handler's filter sees the same record


@pytest.mark.parametrize(
    "line",
    [
        "notice 302000000000000017 paid",  # 18 digits whose Luhn check fails: a notice number
        "payment token 12345678901234567890123456789abcdef0123456789ab",
        "IT60X0542811101000000123457 has a wrong check digit",
        "wallet 5c2a4d0e-6a1f-4d3e-9b7a-1f2e3d4c5b6a status VALIDATED",
        "12 lines, 3 rejected in 250 ms",
        "party DEMOACQ of role acquirer",
        "at 2026-12-08T09:30:00+01:00",
    ],
)
def test_ordinary_text_is_left_alone(line: str) -> None:
    assert redact(line) == line


def test_a_line_of_many_card_numbers_masks_each() -> None:
    line = "batch: " + ", ".join(["4111 1111 1111 1111", "5555-5555-5555-4444"] * 200)
    masked = redact(line)
    assert masked.count("[REDACTED PAN]") == 400
    assert "1111" not in masked
    assert "4444" not in masked


def luhn_complete(body: str) -> str:
    """``body`` and the check digit that makes it Luhn-valid."""
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return body + str((10 - total % 10) % 10)


@st.composite
def card_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(the digits, as printed: grouped by spaces or dashes, or not)."""
    length = draw(st.integers(13, 19))
    body = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    digits = luhn_complete(draw(st.sampled_from("3456")) + body[1:])
    separator = draw(st.sampled_from(["", " ", "-"]))
    printed = separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))
    return digits, printed


SURROUNDING = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Nd", "L")), max_size=20
)


@settings(derandomize=True, database=None, max_examples=300)
@given(card=card_numbers(), before=SURROUNDING, after=SURROUNDING)
def test_any_card_number_is_masked(card: tuple[str, str], before: str, after: str) -> None:
    digits, printed = card
    masked = redact(f"{before}{printed}{after}")
    assert digits not in masked.replace(" ", "").replace("-", "")
    assert "[REDACTED PAN]" in masked


_DIGIT_OR_LETTER = "0123456789LMNPQRSTUV"


@st.composite
def fiscal_codes(draw: st.DrawFn) -> str:
    letters = st.sampled_from(string.ascii_uppercase)
    digitish = st.sampled_from(_DIGIT_OR_LETTER)
    parts = [
        *(draw(letters) for _ in range(6)),
        *(draw(digitish) for _ in range(2)),
        draw(st.sampled_from("ABCDEHLMPRST")),
        *(draw(digitish) for _ in range(2)),
        draw(letters),
        *(draw(digitish) for _ in range(3)),
        draw(letters),
    ]
    code = "".join(parts)
    return code.lower() if draw(st.booleans()) else code


@settings(derandomize=True, database=None, max_examples=300)
@given(code=fiscal_codes(), before=SURROUNDING, after=SURROUNDING)
def test_any_fiscal_code_is_masked(code: str, before: str, after: str) -> None:
    masked = redact(f"{before} {code} {after}")
    assert code not in masked
    assert "[REDACTED fiscal code]" in masked


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(["IT", "DE", "FR", "ES", "NL", "GB", "SM"]))
    length = draw(st.integers(11, 30))
    account = draw(
        st.text(string.ascii_uppercase + string.digits, min_size=length, max_size=length)
    )
    moved = account + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    return f"{country}{check:02d}{account}"


@settings(derandomize=True, database=None, max_examples=300)
@given(iban=ibans(), grouped=st.booleans(), before=SURROUNDING, after=SURROUNDING)
def test_any_iban_is_masked(iban: str, grouped: bool, before: str, after: str) -> None:
    printed = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if grouped else iban
    masked = redact(f"{before} {printed} {after}")
    assert iban[4:] not in masked.replace(" ", "")
    assert "[REDACTED IBAN]" in masked


# ------------------------------------------------------------------ the filter on records
def record(msg: object, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = sys.exc_info() if exc else None
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args or None, exc_info)


def shown(item: logging.LogRecord) -> str:
    assert RedactionFilter().filter(item) is True  # masks, never drops
    return logging.Formatter("%(message)s").format(item)


def test_arguments_are_masked_and_stay_arguments() -> None:
    item = record("calling %s with %s", "/api/x", {"x-functions-key": FUNCTION_KEY})
    text = shown(item)
    assert FUNCTION_KEY not in text
    assert item.args  # still arguments, masked one by one
    assert FUNCTION_KEY not in str(item.args)
    assert text.startswith("calling /api/x with ")


def test_a_secret_split_between_the_format_and_an_argument_is_masked() -> None:
    text = shown(record("header Authorization: Bearer %s", "opaque-token-123"))
    assert "opaque-token-123" not in text


def test_a_card_number_given_to_a_number_format_is_masked() -> None:
    text = shown(record("card %d charged %d cents", 4111111111111111, 1500))
    assert "4111111111111111" not in text
    assert "1500 cents" in text


def test_mapping_arguments_are_masked() -> None:
    text = shown(record("%(who)s paid", {"who": "RSSMRA85T10A562S"}))
    assert text == "[REDACTED fiscal code] paid"


def test_an_exception_carrying_a_secret_is_masked_with_its_traceback() -> None:
    try:
        try:
            raise ValueError(f"bad token {JWT}")
        except ValueError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError:
        item = record("function failed", exc=True)
    text = shown(item)
    assert JWT not in text
    assert "ValueError: bad token [REDACTED]" in text
    assert "RuntimeError: wrapped" in text
    # a handler reading the exception object itself would see the token
    assert item.exc_info is None


def test_an_exception_without_secrets_keeps_its_object() -> None:
    try:
        raise KeyError("walletId")
    except KeyError:
        item = record("lookup failed", exc=True)
    text = shown(item)
    assert item.exc_info is not None
    assert "KeyError: 'walletId'" in text


def test_a_caller_chosen_correlation_id_is_masked() -> None:
    item = record("hello")
    item.correlation_id = "RSSMRA85T10A562S"
    shown(item)
    assert item.correlation_id == "[REDACTED fiscal code]"


def test_arguments_that_do_not_fit_the_format_still_log_masked() -> None:
    text = shown(record("two %s %s", f"Bearer {JWT}"))
    assert JWT not in text


def test_install_masks_every_handler_of_the_logger_once() -> None:
    logger = logging.getLogger("tests.redaction.install")
    logger.propagate = False
    outputs = [io.StringIO(), io.StringIO()]
    handlers = [logging.StreamHandler(out) for out in outputs]
    for handler in handlers:
        logger.addHandler(handler)
    try:
        install(logger)
        install(logger)
        assert [len(h.filters) for h in handlers] == [1, 1]
        logger.warning("key %s for %s", f"code={FUNCTION_KEY}", "4111 1111 1111 1111")
        for out in outputs:
            assert out.getvalue() == "key code=[REDACTED] for [REDACTED PAN]\n"
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
