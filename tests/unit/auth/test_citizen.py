from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from shared.auth.citizen import (
    Citizen,
    CitizenTokenVerifier,
    JwksKeys,
    KeySource,
    PemKeys,
    generate_key_pair,
    issue_token,
)
from shared.platform.errors import ConfigurationError, DependencyError, Invalid, Unauthorized

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ISS = "https://login.example.it"
AUD = "centro-stella"
CF = "RSSMRA85T10A562S"


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[str, str]:
    return generate_key_pair("RS256")


@pytest.fixture(scope="module")
def rsa_pair_2() -> tuple[str, str]:
    return generate_key_pair("RS256")


@pytest.fixture(scope="module")
def ec_pair() -> tuple[str, str]:
    return generate_key_pair("ES256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: dict[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def claims(**overrides: Any) -> dict[str, Any]:
    ts = int(NOW.timestamp())
    values: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "sub": CF,
        "iat": ts,
        "nbf": ts,
        "exp": ts + 600,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def signed(private_pem: str, payload: dict[str, Any], alg: str = "RS256", **headers: Any) -> str:
    return jwt.encode(payload, private_pem, algorithm=alg, headers=headers or None)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def verifier(keys: KeySource, **kwargs: Any) -> CitizenTokenVerifier:
    return CitizenTokenVerifier(keys, issuer=ISS, audience=AUD, **kwargs)


async def refused(v: CitizenTokenVerifier, header: str | None, match: str, **kw: Any) -> None:
    with pytest.raises(Unauthorized, match=match) as caught:
        await v.verify(header, now=kw.get("now", NOW))
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")


# --- happy paths -----------------------------------------------------------------------


class CountingKeys:
    """A key source that counts how often a signature had to be checked."""

    def __init__(self, public_pem: str) -> None:
        self.keys = PemKeys(public_pem)
        self.lookups = 0

    async def key_for(self, kid: str | None) -> Any:
        self.lookups += 1
        return await self.keys.key_for(kid)


async def test_a_token_that_passed_is_not_checked_again_for_a_while(
    rsa_pair: tuple[str, str],
) -> None:
    private, public = rsa_pair
    keys = CountingKeys(public)
    v = verifier(keys, cache_seconds=120)
    token = bearer(signed(private, claims()))
    for _ in range(3):
        assert await v.verify(token, now=NOW) == Citizen(CF)
    assert keys.lookups == 1
    assert await v.verify(token, now=NOW + timedelta(seconds=121)) == Citizen(CF)
    assert keys.lookups == 2  # past cache_seconds: verified afresh


async def test_a_remembered_token_still_expires_and_still_waits_for_nbf(
    rsa_pair: tuple[str, str],
) -> None:
    private, public = rsa_pair
    v = verifier(PemKeys(public), leeway_seconds=0, cache_seconds=3600)
    start = int(NOW.timestamp())
    token = bearer(signed(private, claims(iat=start, nbf=start, exp=start + 60)))
    assert await v.verify(token, now=NOW) == Citizen(CF)
    await refused(v, token, "token expired", now=NOW + timedelta(seconds=60))
    await refused(v, token, "not yet valid", now=NOW - timedelta(seconds=10))  # clock set back


async def test_only_tokens_that_passed_are_remembered(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    keys = CountingKeys(public)
    v = verifier(keys)
    good = signed(private, claims())
    head, _, sig = good.split(".")
    forged = f"{head}.{b64json(claims(sub='VRDGPP80A01H501U'))}.{sig}"
    for _ in range(2):
        await refused(v, bearer(forged), "bad signature")
    assert keys.lookups == 2
    await refused(v, bearer(signed(private, claims(aud="someone-else"))), "wrong audience")
    await refused(v, bearer(signed(private, claims(aud="someone-else"))), "wrong audience")
    assert keys.lookups == 4
    assert await v.verify(bearer(good), now=NOW) == Citizen(CF)


async def test_the_token_cache_is_bounded(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    keys = CountingKeys(public)
    v = verifier(keys, cache_size=4)
    tokens = [bearer(signed(private, claims(jti=str(n)))) for n in range(10)]
    for token in tokens:
        await v.verify(token, now=NOW)
    assert len(v._verified) <= 4
    lookups = keys.lookups
    await v.verify(tokens[-1], now=NOW)  # the newest is still remembered
    assert keys.lookups == lookups


async def test_valid_rs256_token(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    token = issue_token(private, CF, issuer=ISS, audience=AUD, now=NOW)
    assert await verifier(PemKeys(public)).verify(bearer(token), now=NOW) == Citizen(CF)


async def test_valid_es256_token(ec_pair: tuple[str, str]) -> None:
    private, public = ec_pair
    token = issue_token(private, CF, issuer=ISS, audience=AUD, now=NOW, algorithm="ES256")
    assert await verifier(PemKeys(public)).verify(bearer(token), now=NOW) == Citizen(CF)


async def test_subject_is_uppercased_and_scheme_is_case_insensitive(
    rsa_pair: tuple[str, str],
) -> None:
    private, public = rsa_pair
    token = signed(private, claims(sub=CF.lower()))
    citizen = await verifier(PemKeys(public)).verify(f"bearer  {token} ", now=NOW)
    assert citizen.fiscal_code == CF


async def test_audience_list_containing_ours_is_accepted(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    token = signed(private, claims(aud=["other", AUD]))
    assert await verifier(PemKeys(public)).verify(bearer(token), now=NOW) == Citizen(CF)


async def test_iat_and_nbf_are_optional(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    token = signed(private, claims(iat=None, nbf=None))
    assert await verifier(PemKeys(public)).verify(bearer(token), now=NOW) == Citizen(CF)


# --- time ------------------------------------------------------------------------------


async def test_expired_token_is_refused_after_the_leeway(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    token = issue_token(private, CF, issuer=ISS, audience=AUD, now=NOW, ttl_seconds=60)
    v = verifier(PemKeys(public), leeway_seconds=30)
    expiry = NOW + timedelta(seconds=60)
    assert await v.verify(bearer(token), now=expiry + timedelta(seconds=29))
    await refused(v, bearer(token), "token expired", now=expiry + timedelta(seconds=30))
    await refused(v, bearer(token), "token expired", now=expiry + timedelta(days=1))


async def test_zero_leeway_expires_exactly_at_exp(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    token = issue_token(private, CF, issuer=ISS, audience=AUD, now=NOW, ttl_seconds=60)
    v = verifier(PemKeys(public), leeway_seconds=0)
    assert await v.verify(bearer(token), now=NOW + timedelta(seconds=59))
    await refused(v, bearer(token), "expired", now=NOW + timedelta(seconds=60))


async def test_time_checks_use_the_passed_now_not_the_clock(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    token = issue_token(private, CF, issuer=ISS, audience=AUD, now=long_ago)
    v = verifier(PemKeys(public))
    assert await v.verify(bearer(token), now=long_ago)
    await refused(v, bearer(token), "expired", now=NOW)


async def test_not_yet_valid_token_is_refused(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    ts = int(NOW.timestamp())
    v = verifier(PemKeys(public), leeway_seconds=30)
    assert await v.verify(bearer(signed(private, claims(nbf=ts + 30))), now=NOW)
    await refused(v, bearer(signed(private, claims(nbf=ts + 31))), "not yet valid")


async def test_token_issued_in_the_future_is_refused(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    ts = int(NOW.timestamp())
    v = verifier(PemKeys(public), leeway_seconds=30)
    await refused(v, bearer(signed(private, claims(iat=ts + 31))), "issued in the future")


async def test_exp_is_required_and_numeric(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    v = verifier(PemKeys(public))
    await refused(v, bearer(signed(private, claims(exp=None))), r"no expiry \(exp\)")
    await refused(v, bearer(signed(private, claims(exp="tomorrow"))), "'exp' must be a number")
    await refused(v, bearer(signed(private, claims(exp=True))), "'exp' must be a number")
    await refused(v, bearer(signed(private, claims(nbf="now"))), "'nbf' must be a number")
    await refused(v, bearer(signed(private, claims(exp=10**400))), "'exp' must be a number")
    inf = jwt.api_jws.encode(b'{"exp": Infinity}', private, algorithm="RS256")
    await refused(v, bearer(inf), "'exp' must be a number")


async def test_naive_now_is_a_programming_error(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    token = signed(private, claims())
    with pytest.raises(ValueError, match="timezone-aware"):
        await verifier(PemKeys(public)).verify(bearer(token), now=NOW.replace(tzinfo=None))


# --- issuer, audience, subject ---------------------------------------------------------


async def test_wrong_issuer_and_audience_are_refused(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    v = verifier(PemKeys(public))
    await refused(v, bearer(signed(private, claims(iss="https://evil.example"))), "wrong issuer")
    await refused(v, bearer(signed(private, claims(iss=None))), "wrong issuer")
    await refused(v, bearer(signed(private, claims(aud="other-app"))), "wrong audience")
    await refused(v, bearer(signed(private, claims(aud=["a", "b"]))), "wrong audience")
    await refused(v, bearer(signed(private, claims(aud=None))), "no audience")
    await refused(v, bearer(signed(private, claims(aud=[AUD, 3]))), "aud must be")


async def test_subject_must_be_a_valid_fiscal_code(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    v = verifier(PemKeys(public))
    await refused(v, bearer(signed(private, claims(sub=None))), r"no subject \(sub\)")
    await refused(v, bearer(signed(private, claims(sub=42))), "sub must be a string")
    await refused(
        v,
        bearer(signed(private, claims(sub="RSSMRA85T10A562T"))),
        "not a valid fiscal code: fiscal code check character does not match",
    )


# --- signature and algorithm -----------------------------------------------------------


async def test_tampered_signature_is_refused(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    token = signed(private, claims())
    head, payload, sig = token.split(".")
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    await refused(verifier(PemKeys(public)), bearer(f"{head}.{payload}.{flipped}"), "bad signature")


async def test_tampered_payload_is_refused(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    head, _, sig = signed(private, claims()).split(".")
    forged = b64json(claims(sub="MRTMTT25D09F205Z"))
    await refused(verifier(PemKeys(public)), bearer(f"{head}.{forged}.{sig}"), "bad signature")


async def test_token_from_another_key_is_refused(
    rsa_pair: tuple[str, str], rsa_pair_2: tuple[str, str]
) -> None:
    token = signed(rsa_pair_2[0], claims())
    await refused(verifier(PemKeys(rsa_pair[1])), bearer(token), "bad signature")


async def test_alg_none_is_refused(rsa_pair: tuple[str, str]) -> None:
    v = verifier(PemKeys(rsa_pair[1]))
    unsigned = f"{b64json({'alg': 'none', 'typ': 'JWT'})}.{b64json(claims())}."
    await refused(v, bearer(unsigned), "not a signed JWT")
    with_junk = unsigned + "c2lnbmF0dXJl"
    await refused(v, bearer(with_junk), "algorithm 'none' is not allowed")


async def test_hs256_with_the_public_key_as_secret_is_refused(rsa_pair: tuple[str, str]) -> None:
    """Algorithm confusion: an attacker signs with HMAC keyed by the (public) PEM."""
    public = rsa_pair[1]
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT'})}.{b64json(claims())}"
    mac = hmac.new(public.encode(), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(mac)}"
    await refused(verifier(PemKeys(public)), bearer(token), "algorithm 'HS256' is not allowed")


async def test_algorithm_must_fit_the_key(
    rsa_pair: tuple[str, str], ec_pair: tuple[str, str]
) -> None:
    es_token = signed(ec_pair[0], claims(), alg="ES256")
    await refused(
        verifier(PemKeys(rsa_pair[1])), bearer(es_token), "does not match the signing key"
    )
    rs_token = signed(rsa_pair[0], claims())
    await refused(verifier(PemKeys(ec_pair[1])), bearer(rs_token), "does not match the signing key")


async def test_algorithm_outside_the_configured_list_is_refused(ec_pair: tuple[str, str]) -> None:
    token = signed(ec_pair[0], claims(), alg="ES256")
    v = verifier(PemKeys(ec_pair[1]), algorithms=("RS256",))
    await refused(v, bearer(token), "'ES256' is not allowed")


@pytest.mark.parametrize("algorithms", [("HS256",), ("none",), ("RS256", "HS512"), ()])
def test_symmetric_or_empty_algorithm_lists_are_a_configuration_error(
    rsa_pair: tuple[str, str], algorithms: tuple[str, ...]
) -> None:
    with pytest.raises(ConfigurationError, match="algorithms"):
        verifier(PemKeys(rsa_pair[1]), algorithms=algorithms)


def test_empty_issuer_or_audience_is_a_configuration_error(rsa_pair: tuple[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        CitizenTokenVerifier(PemKeys(rsa_pair[1]), issuer="", audience=AUD)
    with pytest.raises(ConfigurationError):
        CitizenTokenVerifier(PemKeys(rsa_pair[1]), issuer=ISS, audience="")


# --- the header ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (None, "missing Authorization header"),
        ("", "missing Authorization header"),
        ("Basic dXNlcjpwYXNz", "must be 'Bearer <token>'"),
        ("Bearer", "must be 'Bearer <token>'"),
        ("Bearer ", "must be 'Bearer <token>'"),
        ("Bearertoken", "must be 'Bearer <token>'"),
        ("Bearer abc", "not a signed JWT"),
        ("Bearer a.b.c d", "not a signed JWT"),
        ("Bearer a.b", "not a signed JWT"),
        ("Bearer !!!.???.###", "not a signed JWT"),
        ("Bearer aaaa.bbbb.cccc", "bad header"),
        ("Bearer " + "a" * 9000 + ".b.c", "too long"),
    ],
)
async def test_missing_or_garbled_header_is_refused(
    rsa_pair: tuple[str, str], header: str | None, match: str
) -> None:
    await refused(verifier(PemKeys(rsa_pair[1])), header, match)


async def test_missing_header_challenge_has_no_error_code(rsa_pair: tuple[str, str]) -> None:
    with pytest.raises(Unauthorized) as caught:
        await verifier(PemKeys(rsa_pair[1])).verify(None, now=NOW)
    assert caught.value.headers == {"WWW-Authenticate": "Bearer"}


async def test_payload_that_is_not_an_object_is_malformed(rsa_pair: tuple[str, str]) -> None:
    private, public = rsa_pair
    token = jwt.api_jws.encode(b"[1, 2]", private, algorithm="RS256")
    await refused(verifier(PemKeys(public)), bearer(token), "not a JSON object")


async def test_kid_must_be_a_string(rsa_pair: tuple[str, str]) -> None:
    token = f"{b64json({'alg': 'RS256', 'kid': 7})}.{b64json(claims())}.c2ln"
    await refused(verifier(PemKeys(rsa_pair[1])), bearer(token), "malformed token")


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


# --- dev helpers -----------------------------------------------------------------------


def test_issue_token_claims_and_kid(ec_pair: tuple[str, str]) -> None:
    token = issue_token(
        ec_pair[0],
        CF.lower(),
        issuer=ISS,
        audience=AUD,
        now=NOW,
        ttl_seconds=120,
        kid="dev",
        algorithm="ES256",
    )
    assert jwt.get_unverified_header(token)["kid"] == "dev"
    payload = jwt.decode(token, options={"verify_signature": False})
    ts = int(NOW.timestamp())
    assert payload == {"iss": ISS, "aud": AUD, "sub": CF, "iat": ts, "nbf": ts, "exp": ts + 120}


def test_issue_token_refuses_bad_input(rsa_pair: tuple[str, str]) -> None:
    with pytest.raises(Invalid):
        issue_token(rsa_pair[0], "not-a-code", issuer=ISS, audience=AUD, now=NOW)
    with pytest.raises(ValueError, match="unsupported"):
        issue_token(rsa_pair[0], CF, issuer=ISS, audience=AUD, now=NOW, algorithm="HS256")
    with pytest.raises(ValueError, match="timezone"):
        issue_token(rsa_pair[0], CF, issuer=ISS, audience=AUD, now=NOW.replace(tzinfo=None))


def test_generate_key_pair_refuses_symmetric_algorithms() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        generate_key_pair("HS256")


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
