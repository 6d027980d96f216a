from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from local.tokens import generate_key_pair
from shared.auth.citizen import Citizen
from shared.auth.keys import JwksKeys, PemKeys
from shared.platform.errors import ConfigurationError, DependencyError
from tests.unit.auth.jwts import CF, NOW, b64, bearer, claims, refused, signed, verifier

# --- PEM keys --------------------------------------------------------------------------


async def test_pem_keys_by_kid(
    rsa_pair: tuple[str, str], rsa_pair_2: tuple[str, str], ec_pair: tuple[str, str]
) -> None:
    keys = PemKeys({"k1": rsa_pair[1], "k2": rsa_pair_2[1], "e1": ec_pair[1]})
    v = verifier(keys)
    assert await v.verify(bearer(signed(rsa_pair[0], claims(), kid="k1")), now=NOW)
    assert await v.verify(bearer(signed(rsa_pair_2[0], claims(), kid="k2")), now=NOW)
    assert await v.verify(bearer(signed(ec_pair[0], claims(), alg="ES256", kid="e1")), now=NOW)
    await refused(v, bearer(signed(rsa_pair[0], claims(), kid="k2")), "bad signature")
    await refused(v, bearer(signed(rsa_pair[0], claims(), kid="k9")), "unknown signing key")
    await refused(v, bearer(signed(rsa_pair[0], claims())), r"unknown signing key \(no kid\)")


async def test_single_pem_serves_any_kid_and_single_mapping_serves_no_kid(
    rsa_pair: tuple[str, str],
) -> None:
    private, public = rsa_pair
    assert await verifier(PemKeys(public)).verify(
        bearer(signed(private, claims(), kid="anything")), now=NOW
    )
    only = verifier(PemKeys({"k1": public}))
    assert await only.verify(bearer(signed(private, claims())), now=NOW)
    await refused(only, bearer(signed(private, claims(), kid="k2")), "unknown signing key")


def test_bad_pem_is_a_configuration_error(rsa_pair: tuple[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="not a PEM public key"):
        PemKeys("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    with pytest.raises(ConfigurationError, match="'k1': not a PEM public key"):
        PemKeys({"k1": rsa_pair[0]})  # a private key is not a public key
    with pytest.raises(ConfigurationError, match="none given"):
        PemKeys({})


def test_short_rsa_key_is_a_configuration_error() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    pem = weak.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(ConfigurationError, match="2048"):
        PemKeys(pem)


# --- JWKS ------------------------------------------------------------------------------


def jwk(public_pem: str, kid: str | None, **extra: Any) -> dict[str, Any]:
    key = serialization.load_pem_public_key(public_pem.encode())
    if isinstance(key, rsa.RSAPublicKey):
        data = RSAAlgorithm.to_jwk(key, as_dict=True)
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        data = ECAlgorithm.to_jwk(key, as_dict=True)
    if kid is not None:
        data["kid"] = kid
    data.update(extra)
    return data


@dataclass
class JwksState:
    keys: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    body: bytes | None = None
    hits: int = 0
    delay: float = 0.0


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def jwks_server() -> AsyncIterator[tuple[JwksState, str]]:
    state = JwksState()

    async def handler(_: web.Request) -> web.Response:
        state.hits += 1
        if state.delay:
            await asyncio.sleep(state.delay)
        body = state.body if state.body is not None else json.dumps({"keys": state.keys}).encode()
        return web.Response(body=body, status=state.status, content_type="application/json")

    app = web.Application()
    app.router.add_get("/jwks", handler)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield state, str(server.make_url("/jwks"))
    finally:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_jwks_two_keys_selected_by_kid_and_cached(
    jwks_server: tuple[JwksState, str],
    session: aiohttp.ClientSession,
    rsa_pair: tuple[str, str],
    ec_pair: tuple[str, str],
) -> None:
    state, url = jwks_server
    state.keys = [jwk(rsa_pair[1], "r1", use="sig", alg="RS256"), jwk(ec_pair[1], "e1")]
    clock = Clock()
    keys = JwksKeys(session, url, ttl_seconds=600, clock=clock)
    v = verifier(keys, cache_seconds=0)  # the key cache, not the verified-token cache
    rs = bearer(signed(rsa_pair[0], claims(), kid="r1"))
    es = bearer(signed(ec_pair[0], claims(), alg="ES256", kid="e1"))
    assert await v.verify(rs, now=NOW) == Citizen(CF)
    assert await v.verify(es, now=NOW) == Citizen(CF)
    await refused(v, bearer(signed(ec_pair[0], claims(), alg="ES256", kid="r1")), "does not match")
    await refused(v, bearer(signed(rsa_pair[0], claims(), kid="e1")), "does not match")
    assert state.hits == 1 == keys.fetch_count

    clock.now += 599
    assert await v.verify(rs, now=NOW)
    assert state.hits == 1
    clock.now += 1  # TTL reached
    assert await v.verify(es, now=NOW)
    assert state.hits == 2


async def test_jwks_unknown_kid_refetches_once_per_interval(
    jwks_server: tuple[JwksState, str],
    session: aiohttp.ClientSession,
    rsa_pair: tuple[str, str],
    rsa_pair_2: tuple[str, str],
) -> None:
    state, url = jwks_server
    state.keys = [jwk(rsa_pair[1], "r1")]
    clock = Clock()
    v = verifier(JwksKeys(session, url, clock=clock))
    assert await v.verify(bearer(signed(rsa_pair[0], claims(), kid="r1")), now=NOW)
    assert state.hits == 1

    clock.now += 30
    rotated = bearer(signed(rsa_pair_2[0], claims(), kid="r2"))
    await refused(v, rotated, "unknown signing key")
    assert state.hits == 2  # one refetch for the unknown kid
    await refused(v, rotated, "unknown signing key")
    clock.now += 29
    await refused(v, rotated, "unknown signing key")
    assert state.hits == 2  # rate-limited: no refetch within 30 s

    state.keys.append(jwk(rsa_pair_2[1], "r2"))  # the issuer rotates
    clock.now += 1
    assert await v.verify(rotated, now=NOW) == Citizen(CF)
    assert state.hits == 3
    assert await v.verify(rotated, now=NOW)
    assert state.hits == 3


async def test_jwks_no_refetch_for_a_kid_that_was_just_fetched(
    jwks_server: tuple[JwksState, str], session: aiohttp.ClientSession, rsa_pair: tuple[str, str]
) -> None:
    state, url = jwks_server
    state.keys = [jwk(rsa_pair[1], "r1")]
    v = verifier(JwksKeys(session, url, clock=Clock()))
    await refused(v, bearer(signed(rsa_pair[0], claims(), kid="zz")), "unknown signing key")
    assert state.hits == 1  # the first fetch is less than 30 s old


async def test_jwks_concurrent_first_use_fetches_once(
    jwks_server: tuple[JwksState, str], session: aiohttp.ClientSession, rsa_pair: tuple[str, str]
) -> None:
    state, url = jwks_server
    state.keys = [jwk(rsa_pair[1], "r1")]
    state.delay = 0.05
    v = verifier(JwksKeys(session, url, clock=Clock()))
    token = bearer(signed(rsa_pair[0], claims(), kid="r1"))
    results = await asyncio.gather(*(v.verify(token, now=NOW) for _ in range(10)))
    assert results == [Citizen(CF)] * 10
    assert state.hits == 1


async def test_jwks_skips_unusable_keys(
    jwks_server: tuple[JwksState, str],
    session: aiohttp.ClientSession,
    rsa_pair: tuple[str, str],
    rsa_pair_2: tuple[str, str],
) -> None:
    state, url = jwks_server
    state.keys = [
        {"kty": "oct", "kid": "h1", "k": b64(b"secret")},
        jwk(rsa_pair_2[1], "enc1", use="enc"),
        jwk(rsa_pair_2[1], "hs", alg="HS256"),
        {"kty": "RSA", "kid": "broken", "n": "AQAB"},
        jwk(rsa_pair[1], "r1"),
    ]
    v = verifier(JwksKeys(session, url, clock=Clock()))
    assert await v.verify(bearer(signed(rsa_pair[0], claims(), kid="r1")), now=NOW)
    await refused(v, bearer(signed(rsa_pair_2[0], claims(), kid="enc1")), "unknown signing key")
    await refused(v, bearer(signed(rsa_pair_2[0], claims(), kid="hs")), "unknown signing key")


async def test_jwks_single_key_without_kid_serves_any_token(
    jwks_server: tuple[JwksState, str], session: aiohttp.ClientSession, ec_pair: tuple[str, str]
) -> None:
    state, url = jwks_server
    state.keys = [jwk(ec_pair[1], None)]
    v = verifier(JwksKeys(session, url, clock=Clock()))
    assert await v.verify(bearer(signed(ec_pair[0], claims(), alg="ES256")), now=NOW)
    assert await v.verify(bearer(signed(ec_pair[0], claims(), alg="ES256", kid="x")), now=NOW)


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        (500, b"oops", "HTTP 500"),
        (404, b"", "HTTP 404"),
        (200, b"<html>", "not JSON"),
        (200, b'{"nokeys": []}', "no 'keys' list"),
        (200, b'{"keys": []}', "no usable signing key"),
        (200, b'{"keys": [' + b"1," * 300_000 + b"1]}", "larger than"),
    ],
)
async def test_jwks_bad_answers_are_dependency_errors(
    jwks_server: tuple[JwksState, str],
    session: aiohttp.ClientSession,
    rsa_pair: tuple[str, str],
    status: int,
    body: bytes,
    match: str,
) -> None:
    state, url = jwks_server
    state.status, state.body = status, body
    v = verifier(JwksKeys(session, url, clock=Clock()))
    with pytest.raises(DependencyError, match=match) as caught:
        await v.verify(bearer(signed(rsa_pair[0], claims(), kid="r1")), now=NOW)
    assert caught.value.dependency == "jwks"


async def test_jwks_server_down_is_a_dependency_error_then_backs_off(
    session: aiohttp.ClientSession, rsa_pair: tuple[str, str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clock = Clock()
    keys = JwksKeys(session, f"http://127.0.0.1:{port}/jwks", clock=clock, timeout_seconds=2)
    v = verifier(keys)
    token = bearer(signed(rsa_pair[0], claims(), kid="r1"))
    with pytest.raises(DependencyError, match="fetch failed") as caught:
        await v.verify(token, now=NOW)
    assert caught.value.dependency == "jwks"
    with pytest.raises(DependencyError, match="last fetch failed"):
        await v.verify(token, now=NOW)
    assert keys.fetch_count == 1  # failing fast during the backoff
    clock.now += 2
    with pytest.raises(DependencyError, match="fetch failed"):
        await v.verify(token, now=NOW)
    assert keys.fetch_count == 2


async def test_jwks_recovers_after_a_failure(
    jwks_server: tuple[JwksState, str], session: aiohttp.ClientSession, rsa_pair: tuple[str, str]
) -> None:
    state, url = jwks_server
    state.status = 503
    clock = Clock()
    v = verifier(JwksKeys(session, url, clock=clock))
    token = bearer(signed(rsa_pair[0], claims(), kid="r1"))
    with pytest.raises(DependencyError):
        await v.verify(token, now=NOW)
    state.status, state.keys = 200, [jwk(rsa_pair[1], "r1")]
    clock.now += 2
    assert await v.verify(token, now=NOW) == Citizen(CF)


async def test_jwks_key_whose_alg_does_not_fit_its_curve_is_skipped(
    jwks_server: tuple[JwksState, str], session: aiohttp.ClientSession, rsa_pair: tuple[str, str]
) -> None:
    state, url = jwks_server
    state.keys = [jwk(generate_key_pair("ES384")[1], "e1", alg="ES256"), jwk(rsa_pair[1], "r1")]
    keys = JwksKeys(session, url, clock=Clock())
    assert await keys.key_for("r1") is not None
    assert await keys.key_for("e1") is None
