"""Citizen identity: ``Authorization: Bearer <JWT>`` whose ``sub`` is a fiscal code.

Only asymmetric algorithms are accepted (never ``none`` nor ``HS*``), the key is
chosen by the token's ``kid`` from a :class:`~shared.auth.keys.KeySource`, and every time claim is
checked against the ``now`` passed in, not the system clock. Every refusal is an
:class:`~shared.platform.errors.Unauthorized` with a specific detail; a key source that
cannot be reached raises :class:`~shared.platform.errors.DependencyError`.

A token that passed is remembered by its SHA-256 for a short while (``cache_seconds``,
two minutes by default, and never past its ``exp``): the app calls several endpoints with
the same token, and the signature check is most of the cost of an authenticated read. Its
time claims are checked again against ``now`` on every use. A key withdrawn from the JWKS
stops being trusted after the key cache's TTL plus, at most, ``cache_seconds``.

The key sources are in :mod:`shared.auth.keys`; dev tokens are minted by ``local/tokens.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cachetools import TLRUCache

from shared.auth.fiscal_code import parse_fiscal_code
from shared.auth.keys import SUPPORTED_ALGORITHMS, KeySource, key_fits
from shared.platform.errors import ConfigurationError, Invalid, Unauthorized

__all__ = ["Citizen", "CitizenTokenVerifier"]

_MAX_TOKEN_LENGTH = 8192
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


@dataclass(frozen=True)
class _Verified:
    """A token that passed: who it names and its time claims."""

    citizen: Citizen
    exp: float
    nbf: float | None
    iat: float | None


@dataclass(frozen=True)
class Citizen:
    """An authenticated citizen."""

    fiscal_code: str


def _unauthorized(detail: str) -> Unauthorized:
    return Unauthorized(detail, headers=dict(_INVALID_TOKEN))


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    malformed = _unauthorized(f"malformed token: '{name}' must be a number of seconds")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise malformed
    try:
        seconds = float(value)  # huge JSON integers overflow
    except OverflowError:
        raise malformed from None
    if not math.isfinite(seconds):  # JSON "Infinity" / "NaN" parse as floats
        raise malformed
    return seconds


class CitizenTokenVerifier:
    """Turns an ``Authorization`` header into a :class:`Citizen`.

    Args:
        keys: where the verification keys come from.
        issuer: the required ``iss``.
        audience: a value that ``aud`` must be or contain.
        leeway_seconds: clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
        algorithms: accepted ``alg`` values; asymmetric only.
        cache_seconds: how long a token that passed is trusted without checking its
            signature again (0: never); its time claims are checked on every use.
        cache_size: how many such tokens are remembered at most.

    Raises:
        ConfigurationError: empty issuer or audience, or an algorithm that is
            not in :data:`~shared.auth.keys.SUPPORTED_ALGORITHMS`.
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: int = 30,
        algorithms: Sequence[str] = ("RS256", "ES256"),
        cache_seconds: float = 120.0,
        cache_size: int = 10_000,
    ) -> None:
        if not issuer or not audience:
            raise ConfigurationError("citizen token issuer and audience must not be empty")
        if leeway_seconds < 0:
            raise ConfigurationError("citizen token leeway must not be negative")
        if isinstance(algorithms, str):
            algorithms = (algorithms,)
        unsupported = [a for a in algorithms if a not in SUPPORTED_ALGORITHMS]
        if unsupported or not algorithms:
            raise ConfigurationError(
                f"citizen token algorithms must be among {sorted(SUPPORTED_ALGORITHMS)}, "
                f"got {list(algorithms)}"
            )
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._algorithms = tuple(algorithms)
        self._jws = jwt.PyJWS(options={"enforce_minimum_key_length": True})
        self._cache_seconds = cache_seconds
        # The cache's clock is the ``now`` of the call using it (set just before each use), so
        # entries age with the dev clock and in tests, not with the system's.
        self._at = 0.0
        self._verified: TLRUCache[bytes, _Verified, float] | None = None
        if cache_seconds > 0 and cache_size > 0:
            self._verified = TLRUCache(cache_size, ttu=self._trusted_until, timer=self._now)

    async def verify(self, authorization_header: str | None, *, now: datetime) -> Citizen:
        """Verify the bearer token and return the citizen it names.

        Args:
            authorization_header: the ``Authorization`` header, or None.
            now: the current time, timezone-aware.

        Raises:
            Unauthorized: the header is missing or not ``Bearer <jwt>``, or the
                token is malformed, signed with a refused algorithm or an unknown
                key, badly signed, expired, not yet valid, issued in the future,
                for another issuer or audience, or names no valid fiscal code.
            DependencyError: the key source cannot be reached.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        token = self._bearer(authorization_header)
        at = now.timestamp()
        digest = hashlib.sha256(token.encode("ascii")).digest()
        seen = self._recall(digest, at)
        if seen is not None:
            self._check_times(seen.exp, seen.nbf, seen.iat, at)
            return seen.citizen
        algorithm, kid = self._header(token)

        key = await self._keys.key_for(kid)
        if key is None:
            raise _unauthorized(
                "unknown signing key" if kid is not None else "unknown signing key (no kid)"
            )
        if not key_fits(key, algorithm):
            raise _unauthorized(f"token algorithm {algorithm} does not match the signing key")

        try:
            decoded = self._jws.decode_complete(token, key=key, algorithms=self._algorithms)
        except jwt.InvalidSignatureError:
            raise _unauthorized("bad signature") from None
        except jwt.InvalidAlgorithmError:
            raise _unauthorized(
                f"token algorithm {algorithm} does not match the signing key"
            ) from None
        except jwt.InvalidKeyError:
            raise _unauthorized("signing key refused") from None
        except jwt.PyJWTError:
            raise _unauthorized("malformed token") from None

        try:
            claims = json.loads(decoded["payload"])
        except (ValueError, RecursionError):
            raise _unauthorized("malformed token: claims are not JSON") from None
        if not isinstance(claims, dict):
            raise _unauthorized("malformed token: claims are not a JSON object")
        citizen = self._check_claims(claims, at)
        self._remember(digest, citizen, claims, at)
        return citizen

    def _now(self) -> float:
        return self._at

    def _trusted_until(self, _digest: bytes, verified: _Verified, at: float) -> float:
        """A token is trusted ``cache_seconds`` after it passed, and never past its expiry."""
        return min(at + self._cache_seconds, verified.exp + self._leeway)

    def _recall(self, digest: bytes, at: float) -> _Verified | None:
        if self._verified is None:
            return None
        self._at = at
        return self._verified.get(digest)

    def _remember(
        self, digest: bytes, citizen: Citizen, claims: Mapping[str, Any], at: float
    ) -> None:
        if self._verified is None:
            return
        exp = _number(claims, "exp")
        assert exp is not None  # checked by _check_claims
        self._at = at
        self._verified[digest] = _Verified(
            citizen, exp, _number(claims, "nbf"), _number(claims, "iat")
        )

    @staticmethod
    def _bearer(header: str | None) -> str:
        if header is None or not header.strip():
            raise Unauthorized("missing Authorization header", headers=dict(_CHALLENGE))
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(
                "Authorization header must be 'Bearer <token>'", headers=dict(_CHALLENGE)
            )
        if len(token) > _MAX_TOKEN_LENGTH:
            raise _unauthorized("malformed token: too long")
        if not _TOKEN.fullmatch(token):
            raise _unauthorized("malformed token: not a signed JWT")
        return token

    def _header(self, token: str) -> tuple[str, str | None]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _unauthorized("malformed token: bad header") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str):
            raise _unauthorized("malformed token: no algorithm")
        if algorithm not in self._algorithms:
            raise _unauthorized(f"token algorithm {algorithm[:16]!r} is not allowed")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _unauthorized("malformed token: kid must be a string")
        return algorithm, kid

    def _check_claims(self, claims: Mapping[str, Any], now: float) -> Citizen:
        exp = _number(claims, "exp")
        if exp is None:
            raise _unauthorized("token has no expiry (exp)")
        self._check_times(exp, _number(claims, "nbf"), _number(claims, "iat"), now)
        return self._check_identity(claims)

    def _check_times(self, exp: float, nbf: float | None, iat: float | None, now: float) -> None:
        if exp <= now - self._leeway:
            raise _unauthorized("token expired")
        if nbf is not None and nbf > now + self._leeway:
            raise _unauthorized("token not yet valid (nbf)")
        if iat is not None and iat > now + self._leeway:
            raise _unauthorized("token issued in the future (iat)")

    def _check_identity(self, claims: Mapping[str, Any]) -> Citizen:
        if claims.get("iss") != self._issuer:
            raise _unauthorized("wrong issuer")
        audience = claims.get("aud")
        if audience is None:
            raise _unauthorized("token has no audience (aud)")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise _unauthorized("malformed token: aud must be a string or a list of strings")
        if self._audience not in audiences:
            raise _unauthorized("wrong audience")

        subject = claims.get("sub")
        if subject is None:
            raise _unauthorized("token has no subject (sub)")
        if not isinstance(subject, str):
            raise _unauthorized("malformed token: sub must be a string")
        try:
            fiscal_code = parse_fiscal_code(subject)
        except Invalid as error:
            raise _unauthorized(
                f"token subject is not a valid fiscal code: {error.detail}"
            ) from None
        return Citizen(fiscal_code=fiscal_code)
