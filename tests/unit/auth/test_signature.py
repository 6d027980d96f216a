from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.auth.signature import (
    sign,
    verify_signature,
    verify_signed_request,
)
from shared.platform.errors import Unauthorized
from tests.fakes.auth import MemoryReplayGuard

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
SECRET = "psp-secret-1"
BODY = b'{"paymentId":"p-1","amount":1234}'


def header_for(body: bytes = BODY, secret: str = SECRET, t: int = T) -> str:
    return sign(secret, body, t)


def test_sign_matches_the_documented_format() -> None:
    digest = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, T) == f"t={T},v1={digest}"


def test_valid_signature_returns_the_v1_hex_as_id() -> None:
    header = header_for()
    assert verify_signature(header, BODY, SECRET, now=NOW) == header.split("v1=")[1]


def test_uppercase_hex_and_spaces_are_tolerated() -> None:
    t_part, v1_part = header_for().split(",")
    header = f" {t_part} , v1={v1_part.removeprefix('v1=').upper()} "
    assert verify_signature(header, BODY, SECRET, now=NOW)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("   ", "missing"),
        ("garbage", "malformed"),
        (f"t={T}", "no v1"),
        ("v1=" + "0" * 64, "no timestamp"),
        (f"t=abc,v1={'0' * 64}", "unix seconds"),
        (f"t=-{T},v1={'0' * 64}", "unix seconds"),
        (f"t=0{T},v1={'0' * 64}", "unix seconds"),
        (f"t={T},t={T},v1={'0' * 64}", "more than one t"),
        (f"t={T},v1=xyz", "hex"),
        (f"t={T},v1={'g' * 64}", "hex"),
        (f"t={T},v1={'0' * 63}", "hex"),
        (f"t={T},=x,v1={'0' * 64}", "malformed"),
        (f"t={T}," + ",".join(["v1=" + "0" * 64] * 9), "too many"),
        ("t=1," + "x" * 5000, "too long"),
    ],
)
def test_malformed_headers_are_unauthorized(header: str | None, reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        verify_signature(header, BODY, SECRET, now=NOW)


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(Unauthorized, match="does not match"):
        verify_signature(header_for(secret="other"), BODY, SECRET, now=NOW)


def test_wrong_body_is_refused() -> None:
    with pytest.raises(Unauthorized, match="does not match"):
        verify_signature(header_for(), BODY + b" ", SECRET, now=NOW)


def test_timestamp_not_covered_by_the_mac_is_refused() -> None:
    digest = header_for().split("v1=")[1]
    with pytest.raises(Unauthorized, match="does not match"):
        verify_signature(f"t={T + 1},v1={digest}", BODY, SECRET, now=NOW)


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_timestamp_within_skew_is_accepted(offset: int) -> None:
    assert verify_signature(header_for(t=T + offset), BODY, SECRET, now=NOW)


def test_old_timestamp_is_refused() -> None:
    with pytest.raises(Unauthorized, match="too old"):
        verify_signature(header_for(t=T - 301), BODY, SECRET, now=NOW)


def test_future_timestamp_is_refused() -> None:
    with pytest.raises(Unauthorized, match="future"):
        verify_signature(header_for(t=T + 301), BODY, SECRET, now=NOW)


def test_skew_is_a_parameter() -> None:
    header = header_for(t=T - 60)
    with pytest.raises(Unauthorized, match="too old"):
        verify_signature(header, BODY, SECRET, now=NOW, skew_seconds=30)
    assert verify_signature(header, BODY, SECRET, now=NOW, skew_seconds=60)


def test_any_of_several_v1_entries_may_match() -> None:
    ours = header_for().split("v1=")[1]
    other = header_for(secret="retired").split("v1=")[1]
    header = f"t={T},v1={other},v0=ignored,v1={ours}"
    assert verify_signature(header, BODY, SECRET, now=NOW) == ours


def test_several_secrets_on_our_side_and_a_stable_id() -> None:
    old_header = header_for(secret="old")
    new_header = header_for(secret="new")
    id_old = verify_signature(old_header, BODY, ["new", "old"], now=NOW)
    id_new = verify_signature(new_header, BODY, ["new", "old"], now=NOW)
    assert id_old == id_new == new_header.split("v1=")[1]


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_signature(header_for(), BODY, SECRET, now=NOW.replace(tzinfo=None))


def test_empty_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        verify_signature(header_for(), BODY, "", now=NOW)
    with pytest.raises(ValueError, match="secret"):
        verify_signature(header_for(), BODY, [], now=NOW)
    with pytest.raises(ValueError, match="secret"):
        sign("", BODY, T)


async def test_replay_is_refused() -> None:
    guard = MemoryReplayGuard(clock=lambda: NOW)
    header = header_for()
    await verify_signed_request(header, BODY, SECRET, now=NOW, guard=guard)
    with pytest.raises(Unauthorized, match="signature already used"):
        await verify_signed_request(header, BODY, SECRET, now=NOW, guard=guard)


async def test_replay_with_another_v1_of_the_same_message_is_refused() -> None:
    guard = MemoryReplayGuard(clock=lambda: NOW)
    first = header_for(secret="new")
    await verify_signed_request(first, BODY, ["new", "old"], now=NOW, guard=guard)
    with pytest.raises(Unauthorized, match="already used"):
        await verify_signed_request(
            header_for(secret="old"), BODY, ["new", "old"], now=NOW, guard=guard
        )


async def test_bad_signature_is_not_recorded() -> None:
    guard = MemoryReplayGuard(clock=lambda: NOW)
    with pytest.raises(Unauthorized, match="does not match"):
        await verify_signed_request(header_for(secret="x"), BODY, SECRET, now=NOW, guard=guard)
    assert len(guard) == 0


async def test_distinct_requests_pass_and_the_guard_keeps_them_until_the_skew_ends() -> None:
    clock = [NOW]
    guard = MemoryReplayGuard(clock=lambda: clock[0])
    await verify_signed_request(header_for(), BODY, SECRET, now=NOW, guard=guard)
    await verify_signed_request(header_for(t=T + 1), BODY, SECRET, now=NOW, guard=guard)
    await verify_signed_request(header_for(body=b"{}"), b"{}", SECRET, now=NOW, guard=guard)
    assert len(guard) == 3
    clock[0] = NOW + timedelta(seconds=301)
    await verify_signed_request(header_for(t=T + 301), BODY, SECRET, now=clock[0], guard=guard)
    assert len(guard) == 2  # the two signed at T expired at T + 300 + 1 and were purged


async def test_memory_guard_reports_first_use_and_purges() -> None:
    clock = [NOW]
    guard = MemoryReplayGuard(clock=lambda: clock[0])
    until = NOW + timedelta(seconds=10)
    assert await guard.first_use("a", until)
    assert not await guard.first_use("a", until)
    clock[0] = until
    assert await guard.first_use("a", until + timedelta(seconds=10))
    assert len(guard) == 1


@given(st.binary(max_size=2048), st.text(min_size=1, max_size=64), st.integers(0, 2**36))
def test_any_body_secret_and_time_round_trip(body: bytes, secret: str, t: int) -> None:
    now = datetime.fromtimestamp(t, tz=UTC)
    header = sign(secret, body, t)
    assert verify_signature(header, body, secret, now=now) == header.split("v1=")[1]


@given(st.binary(min_size=1, max_size=512), st.data())
def test_any_single_byte_change_of_the_body_fails(body: bytes, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(body) - 1))
    new_byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]))
    changed = body[:index] + bytes([new_byte]) + body[index + 1 :]
    with pytest.raises(Unauthorized, match="does not match"):
        verify_signature(sign(SECRET, body, T), changed, SECRET, now=NOW)
