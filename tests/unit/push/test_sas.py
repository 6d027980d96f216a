"""SAS tokens: the service's format, and reuse until shortly before expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote

import pytest

from shared.platform.clock import FixedClock
from shared.push.sas import SasTokens, encoded_resource, resource_uri, sign

START = datetime(2020, 12, 8, 9, 0, tzinfo=UTC)


def fields(token: str) -> dict[str, str]:
    prefix = "SharedAccessSignature "
    assert token.startswith(prefix)
    return dict(parse_qsl(token[len(prefix) :], keep_blank_values=True))


def test_token_is_the_documented_signature() -> None:
    uri = resource_uri("https://My-NS.servicebus.windows.net/", "Hub-A")
    token = sign(uri, "DefaultFullSharedAccessSignature", "secret-key", 1_600_000_000)
    raw = token.removeprefix("SharedAccessSignature ")
    parts = dict(part.split("=", 1) for part in raw.split("&"))
    assert parts["sr"] == quote("https://my-ns.servicebus.windows.net/hub-a", safe="").lower()
    assert parts["sr"] == "https%3a%2f%2fmy-ns.servicebus.windows.net%2fhub-a"
    expected = base64.b64encode(
        hmac.new(b"secret-key", f"{parts['sr']}\n1600000000".encode(), hashlib.sha256).digest()
    ).decode()
    assert unquote(parts["sig"]) == expected
    assert parts["se"] == "1600000000"
    assert parts["skn"] == "DefaultFullSharedAccessSignature"


def test_the_resource_is_lower_case_and_fully_encoded() -> None:
    assert encoded_resource("HTTP://127.0.0.1:7090/Hub") == "http%3a%2f%2f127.0.0.1%3a7090%2fhub"


def test_a_token_is_reused_until_shortly_before_it_expires_then_renewed() -> None:
    clock = FixedClock(START)
    tokens = SasTokens("https://ns/hub", "k", "key", clock=clock, ttl=3600, renew_before=300)
    first = tokens.token()
    assert int(fields(first)["se"]) == int(START.timestamp()) + 3600
    clock.advance(3600 - 300 - 1)  # one second before the renewal point
    assert tokens.token() == first
    assert tokens.signed == 1
    clock.advance(1)
    second = tokens.token()
    assert second != first
    assert int(fields(second)["se"]) == int(clock.now().timestamp()) + 3600
    assert tokens.signed == 2
    assert tokens.token() == second


def test_renewal_must_come_before_expiry() -> None:
    with pytest.raises(ValueError, match="renew_before"):
        SasTokens("https://ns/hub", "k", "key", clock=FixedClock(START), ttl=300, renew_before=300)


def test_the_key_never_shows_in_a_repr() -> None:
    tokens = SasTokens(
        "https://ns/hub", "k", "the-secret-key", clock=FixedClock(START), ttl=3600, renew_before=60
    )
    assert "the-secret-key" not in repr(tokens)
