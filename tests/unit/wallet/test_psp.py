"""The PSP side: where the signing secret comes from, reading the PSP's answers, and the
simulator's card checks."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from local.psp.simulator import card_brand, hpan, luhn_ok
from shared.auth.secrets import LocalSecrets
from shared.parties.models import PartyIn
from shared.parties.service import PartyRegistry
from shared.platform.errors import ConfigurationError, DependencyError, NotFound
from shared.wallet.models import NotificationCardDetails
from shared.wallet.psp import RegistryPspSecrets, _parse_session
from tests.fakes.parties import MemoryPartyStore
from tests.unit.wallet.fakes import NOW


async def registry_with(*parties: dict[str, object]) -> tuple[PartyRegistry, MemoryPartyStore]:
    store = MemoryPartyStore()
    registry = PartyRegistry(store)
    for party in parties:
        await registry.register(PartyIn.model_validate(party), now=NOW)
    return registry, store


async def test_the_secret_is_named_by_the_registry_and_read_from_the_provider() -> None:
    registry, store = await registry_with(
        {"partyId": "PSP1", "name": "A PSP", "role": "psp", "secretName": "psp1-signing"},
        {"partyId": "ACQ1", "name": "An acquirer", "role": "acquirer"},
        {"partyId": "PSP2", "name": "No secret", "role": "psp"},
    )
    clock = [0.0]
    secrets = RegistryPspSecrets(
        registry,
        LocalSecrets({"psp1-signing": "s3cret"}),
        ttl_seconds=60,
        monotonic=lambda: clock[0],
    )
    assert await secrets.secret_of("PSP1") == "s3cret"
    store.items.clear()  # the name is cached: the registry is not read again...
    assert await secrets.secret_of("PSP1") == "s3cret"
    clock[0] = 61  # ...until it is stale
    with pytest.raises(NotFound):
        await secrets.secret_of("PSP1")
    registry, _ = await registry_with(
        {"partyId": "ACQ1", "name": "An acquirer", "role": "acquirer"},
        {"partyId": "PSP2", "name": "No secret", "role": "psp"},
    )
    secrets = RegistryPspSecrets(registry, LocalSecrets({}))
    for party in ("ACQ1", "PSP2"):
        with pytest.raises(ConfigurationError):
            await secrets.secret_of(party)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'{"sessionId": "s"}',
        b'{"sessionId": 1, "redirectUrl": "x"}',
        b'{"sessionId": "s", "redirectUrl": "javascript:alert(1)"}',
        b'{"sessionId": "", "redirectUrl": "https://psp/x"}',
        b'{"sessionId": "4111-1111-1111-1111", "redirectUrl": "https://psp/x"}',
        b'{"sessionId": "4111111111111111", "redirectUrl": "https://psp/x"}',
        b'{"sessionId": "sess_4111111111111111", "redirectUrl": "https://psp/x"}',
        b"x" * 70000,
    ],
)
def test_unusable_session_answers_are_a_dependency_error(raw: bytes) -> None:
    with pytest.raises(DependencyError):
        _parse_session(raw)


@pytest.mark.parametrize(
    "session_id",
    [
        # uuid4().hex values whose digits between two letters pass the Luhn check: about 1 in
        # 460 random ids, the 4 sessions in 2,400 that bench/wallet.py saw answered 503.
        "7a45555409164654b64550c5dfa98069",
        "26adabb942204200967148b357084f8e",
        "c0ffee4242424242424242c0ffee00",
    ],
)
def test_a_random_session_id_is_usable_even_when_its_digits_pass_the_luhn_check(
    session_id: str,
) -> None:
    raw = json.dumps({"sessionId": session_id, "redirectUrl": f"https://psp/p/{session_id}"})
    assert _parse_session(raw.encode()).session_id == session_id


def test_a_good_session_answer() -> None:
    session = _parse_session(b'{"sessionId": "s-1", "redirectUrl": "https://psp/p/s-1"}')
    assert (session.session_id, session.redirect_url) == ("s-1", "https://psp/p/s-1")


@pytest.mark.parametrize(
    ("pan", "ok"),
    [
        ("4242424242424242", True),
        ("5555555555554444", True),
        ("378282246310005", True),
        ("4242424242424241", False),
        ("42424242", False),
        ("4242 4242 4242 4242", False),
        ("", False),
        ("abcdabcdabcdabcd", False),
    ],
)
def test_luhn(pan: str, ok: bool) -> None:
    assert luhn_ok(pan) is ok


@given(st.text(alphabet="0123456789", min_size=11, max_size=18))
def test_every_number_has_exactly_one_luhn_check_digit(prefix: str) -> None:
    assert sum(luhn_ok(prefix + str(d)) for d in range(10)) == 1


def test_brands_and_the_hpan() -> None:
    assert [
        card_brand(p)
        for p in (
            "4242424242424242",
            "5555555555554444",
            "2223003122003222",
            "378282246310005",
            "6011111111111117",
        )
    ] == ["VISA", "MASTERCARD", "MASTERCARD", "AMEX", "OTHER"]
    assert hpan("4242424242424242", "salt") == hashlib.sha256(b"4242424242424242salt").hexdigest()


@pytest.mark.parametrize(
    ("gateway_id", "accepted"),
    [
        ("7a455554-0916-4654-b645-50c5dfa98069", True),  # a UUID (contains_pan says True)
        ("4111-1111-1111-1111", False),
    ],
)
def test_a_notification_refuses_a_card_number_as_instrument_id_not_a_random_one(
    gateway_id: str, accepted: bool
) -> None:
    details = {"type": "CARD", "paymentInstrumentGatewayId": gateway_id}
    if accepted:
        parsed = NotificationCardDetails.model_validate(details)
        assert parsed.payment_instrument_gateway_id == gateway_id
    else:
        with pytest.raises(ValidationError):
            NotificationCardDetails.model_validate(details)
