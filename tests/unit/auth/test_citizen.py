from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from local.tokens import issue_token
from shared.auth.citizen import Citizen, CitizenTokenVerifier
from shared.auth.keys import PemKeys
from shared.platform.errors import ConfigurationError, Unauthorized
from tests.unit.auth.jwts import (
    AUD,
    CF,
    ISS,
    NOW,
    b64,
    b64json,
    bearer,
    claims,
    refused,
    signed,
    verifier,
)

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
