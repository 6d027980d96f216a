"""Citizen identity: ``Authorization: Bearer <JWT>`` whose ``sub`` is a fiscal code.

Only asymmetric algorithms are accepted (never ``none`` nor ``HS*``), the key is
chosen by the token's ``kid`` from a :class:`KeySource`, and every time claim is
checked against the ``now`` passed in, not the system clock. Every refusal is an
:class:`~shared.platform.errors.Unauthorized` with a specific detail; a key source that
cannot be reached raises :class:`~shared.platform.errors.DependencyError`.

A token that passed is remembered by its SHA-256 for a short while (``cache_seconds``,
two minutes by default, and never past its ``exp``): the app calls several endpoints with
the same token, and the signature check is most of the cost of an authenticated read. Its
time claims are checked again against ``now`` on every use. A key withdrawn from the JWKS
stops being trusted after the key cache's TTL plus, at most, ``cache_seconds``.

:func:`issue_token` and :func:`generate_key_pair` serve local tools and tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import aiohttp
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.auth.fiscal_code import parse_fiscal_code
from shared.platform.errors import ConfigurationError, DependencyError, Invalid, Unauthorized

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "Citizen",
    "CitizenTokenVerifier",
    "JwksKeys",
    "KeySource",
    "PemKeys",
    "generate_key_pair",
    "issue_token",
]

logger = logging.getLogger(__name__)

_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
#: Algorithms a verifier may be configured with: asymmetric only.
SUPPORTED_ALGORITHMS = _RSA_ALGORITHMS | frozenset(_EC_ALGORITHMS.values())
_MIN_RSA_BITS = 2048
_MAX_TOKEN_LENGTH = 8192
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer error="invalid_token"'}

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class _Verified:
    """A token that passed: who it names, its time claims, and until when it is trusted."""

    citizen: Citizen
    exp: float
    nbf: float | None
    iat: float | None
    until: float


@dataclass(frozen=True)
class Citizen:
    """An authenticated citizen."""

    fiscal_code: str


class KeySource(Protocol):
    """Public keys that verify citizen tokens."""

    async def key_for(self, kid: str | None) -> Any:
        """Return the key for ``kid`` (None: the token has no ``kid``).

        Returns:
            A public key usable by pyjwt (a ``cryptography`` public key or a
            :class:`jwt.PyJWK`), or None when no key matches.

        Raises:
            DependencyError: the keys cannot be fetched.
        """
        ...


def _unauthorized(detail: str) -> Unauthorized:
    return Unauthorized(detail, headers=dict(_INVALID_TOKEN))


def _check_public_key(key: object, where: str) -> PublicKey:
    """Accept RSA keys of at least 2048 bits and EC keys on P-256/384/521."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise ConfigurationError(f"{where}: RSA key shorter than {_MIN_RSA_BITS} bits")
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _EC_ALGORITHMS:
            raise ConfigurationError(f"{where}: unsupported EC curve {key.curve.name}")
        return key
    raise ConfigurationError(f"{where}: not an RSA or EC public key")


def _key_fits(key: object, algorithm: str) -> bool:
    """Whether ``key`` is the kind of key that ``algorithm`` verifies with."""
    if isinstance(key, jwt.PyJWK):
        return key.algorithm_name == algorithm
    if isinstance(key, rsa.RSAPublicKey):
        return algorithm in _RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _EC_ALGORITHMS.get(key.curve.name) == algorithm
    return False


def _select(keyed: Mapping[str, Any], unkeyed: Sequence[Any], kid: str | None) -> Any:
    """The key named ``kid``, else None, except in a set of exactly one key.

    A lone key serves tokens without ``kid``, and a lone key without ``kid`` of
    its own serves every token.
    """
    if kid is not None and kid in keyed:
        return keyed[kid]
    if len(keyed) + len(unkeyed) == 1:
        only = next(iter(keyed.values())) if keyed else unkeyed[0]
        if kid is None or not keyed:
            return only
    return None


class PemKeys:
    """Fixed public keys in PEM (``SubjectPublicKeyInfo``) form.

    Args:
        keys: one PEM (used for every token, with or without ``kid``), or a
            mapping from ``kid`` to PEM. With a mapping of one key, tokens without
            ``kid`` use it too; with several, tokens must name their key.

    Raises:
        ConfigurationError: a PEM does not load, or is not an RSA (>= 2048 bits)
            or P-256/384/521 EC public key.
    """

    def __init__(self, keys: str | Mapping[str, str]) -> None:
        self._keyed: dict[str, PublicKey] = {}
        self._unkeyed: list[PublicKey] = []
        if isinstance(keys, str):
            self._unkeyed.append(self._load(keys, "citizen token public key"))
        else:
            if not keys:
                raise ConfigurationError("citizen token public keys: none given")
            for kid, pem in keys.items():
                self._keyed[kid] = self._load(pem, f"citizen token public key {kid!r}")

    @staticmethod
    def _load(pem: str, where: str) -> PublicKey:
        try:
            key = serialization.load_pem_public_key(pem.encode("ascii"))
        except (ValueError, TypeError, UnicodeEncodeError) as error:
            raise ConfigurationError(f"{where}: not a PEM public key") from error
        return _check_public_key(key, where)

    async def key_for(self, kid: str | None) -> Any:
        return _select(self._keyed, self._unkeyed, kid)


class JwksKeys:
    """Public keys from a JWKS URL, cached.

    The set is fetched on first use and again once older than ``ttl_seconds``.
    A ``kid`` not in the cached set triggers one early refetch, at most once per
    ``refetch_interval_seconds`` (so unknown-kid tokens cannot hammer the
    endpoint). After a failed fetch, callers that need the set get a
    :class:`DependencyError` without a new attempt for ``failure_backoff_seconds``.

    Only signing keys (``use`` absent or ``"sig"``) of type RSA (>= 2048 bits) or
    EC (P-256/384/521) are kept; a key's ``alg``, when present, binds it to that
    algorithm (without it: RS256 for RSA, by curve for EC).

    Args:
        session: the application's shared ``aiohttp.ClientSession``.
        url: the JWKS URL.
        ttl_seconds: how long a fetched set is used.
        refetch_interval_seconds: minimum time between fetches caused by an
            unknown ``kid``.
        failure_backoff_seconds: after a failed fetch, how long to fail fast.
        timeout_seconds: total timeout of one fetch.
        max_bytes: largest accepted response body.
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        ttl_seconds: float = 600.0,
        refetch_interval_seconds: float = 30.0,
        failure_backoff_seconds: float = 2.0,
        timeout_seconds: float = 5.0,
        max_bytes: int = 512 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._url = url
        self._ttl = ttl_seconds
        self._refetch_interval = refetch_interval_seconds
        self._failure_backoff = failure_backoff_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._max_bytes = max_bytes
        self._clock = clock
        self._lock = asyncio.Lock()
        self._keyed: dict[str, jwt.PyJWK] = {}
        self._unkeyed: list[jwt.PyJWK] = []
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._failed_at: float | None = None  # last attempt, if it failed
        self._fetches = 0

    @property
    def fetch_count(self) -> int:
        """How many fetches were attempted (for tests and diagnostics)."""
        return self._fetches

    def _fresh(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at < self._ttl

    async def key_for(self, kid: str | None) -> Any:
        """Return the key for ``kid``, fetching the set when needed (see the class).

        Raises:
            DependencyError: ``"jwks"`` could not be fetched or is unusable.
        """
        if not self._fresh():
            await self._refresh(stale_only=True)
        key = _select(self._keyed, self._unkeyed, kid)
        if key is None and kid is not None:
            seen = self._attempted_at
            if seen is None or self._clock() - seen >= self._refetch_interval:
                logger.info("unknown kid in citizen token: refetching %s", self._url)
                await self._refresh(stale_only=False, seen=seen)
                key = _select(self._keyed, self._unkeyed, kid)
        return key

    async def _refresh(self, *, stale_only: bool, seen: float | None = None) -> None:
        async with self._lock:
            # Another task may have fetched while this one waited for the lock.
            if stale_only and self._fresh():
                return
            if not stale_only and self._attempted_at != seen:
                return
            now = self._clock()
            if self._failed_at is not None and now - self._failed_at < self._failure_backoff:
                raise DependencyError(
                    "jwks",
                    "key set unavailable (last fetch failed)",
                    retry_after=self._failure_backoff - (now - self._failed_at),
                )
            self._attempted_at = now
            self._fetches += 1
            try:
                keyed, unkeyed = await self._fetch()
            except DependencyError:
                self._failed_at = self._clock()
                raise
            self._keyed, self._unkeyed = keyed, unkeyed
            self._fetched_at = self._clock()
            self._failed_at = None

    async def _fetch(self) -> tuple[dict[str, jwt.PyJWK], list[jwt.PyJWK]]:
        try:
            async with self._session.get(
                self._url, timeout=self._timeout, headers={"Accept": "application/json"}
            ) as response:
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise DependencyError(
                            "jwks", f"key set larger than {self._max_bytes} bytes"
                        )
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.warning("JWKS fetch from %s failed: %s", self._url, type(error).__name__)
            raise DependencyError("jwks", f"fetch failed ({type(error).__name__})") from error
        if status != 200:
            logger.warning("JWKS fetch from %s answered HTTP %s", self._url, status)
            raise DependencyError("jwks", f"fetch answered HTTP {status}")
        try:
            document = json.loads(body)
        except ValueError as error:
            raise DependencyError("jwks", "key set is not JSON") from error
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise DependencyError("jwks", "key set has no 'keys' list")
        keyed, unkeyed = self._parse(entries)
        if not keyed and not unkeyed:
            raise DependencyError("jwks", "key set has no usable signing key")
        logger.info("JWKS fetched from %s: %s keys", self._url, len(keyed) + len(unkeyed))
        return keyed, unkeyed

    def _parse(self, entries: Iterable[object]) -> tuple[dict[str, jwt.PyJWK], list[jwt.PyJWK]]:
        keyed: dict[str, jwt.PyJWK] = {}
        unkeyed: list[jwt.PyJWK] = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            kid = entry.get("kid")
            if entry.get("use", "sig") != "sig" or entry.get("kty") not in ("RSA", "EC"):
                continue
            if "alg" in entry and entry["alg"] not in SUPPORTED_ALGORITHMS:
                continue
            if kid is not None and not isinstance(kid, str):
                continue
            try:
                jwk = jwt.PyJWK(entry)
                _check_public_key(jwk.key, "jwks")
                if not _key_fits(jwk.key, jwk.algorithm_name):
                    raise ValueError(f"key does not fit its alg {jwk.algorithm_name}")
            except (jwt.PyJWTError, ConfigurationError, ValueError, TypeError) as error:
                logger.warning("JWKS key %s (kid %s) skipped: %s", index, kid, error)
                continue
            if kid is None:
                unkeyed.append(jwk)
            elif kid in keyed:
                logger.warning("JWKS has kid %s twice: the first is used", kid)
            else:
                keyed[kid] = jwk
        return keyed, unkeyed


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
            not in :data:`SUPPORTED_ALGORITHMS`.
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
        self._cache_size = cache_size
        self._verified: dict[bytes, _Verified] = {}

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
        seen = self._verified.get(digest)
        if seen is not None and at < seen.until:
            self._check_times(seen.exp, seen.nbf, seen.iat, at)
            return seen.citizen
        algorithm, kid = self._header(token)

        key = await self._keys.key_for(kid)
        if key is None:
            raise _unauthorized(
                "unknown signing key" if kid is not None else "unknown signing key (no kid)"
            )
        if not _key_fits(key, algorithm):
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

    def _remember(
        self, digest: bytes, citizen: Citizen, claims: Mapping[str, Any], at: float
    ) -> None:
        if self._cache_seconds <= 0 or self._cache_size <= 0:
            return
        exp = _number(claims, "exp")
        assert exp is not None  # checked by _check_claims
        if len(self._verified) >= self._cache_size:
            self._verified = {
                d: v
                for d, v in self._verified.items()
                if v.until > at and v.exp > at - self._leeway
            }
            if len(self._verified) >= self._cache_size:  # all fresh: forget the older half
                keep = list(self._verified.items())[self._cache_size // 2 :]
                self._verified = dict(keep)
        self._verified[digest] = _Verified(
            citizen,
            exp,
            _number(claims, "nbf"),
            _number(claims, "iat"),
            until=min(at + self._cache_seconds, exp + self._leeway),
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


def generate_key_pair(algorithm: str = "RS256") -> tuple[str, str]:
    """Make a signing key pair for local tools and tests.

    Args:
        algorithm: RS*/PS* (RSA 2048) or ES256/ES384/ES512 (matching curve).

    Returns:
        ``(private PEM (PKCS#8), public PEM (SubjectPublicKeyInfo))``.
    """
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if algorithm in _RSA_ALGORITHMS:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=_MIN_RSA_BITS)
    elif algorithm in _EC_ALGORITHMS.values():
        curve = {v: k for k, v in _EC_ALGORITHMS.items()}[algorithm]
        curves: dict[str, ec.EllipticCurve] = {
            "secp256r1": ec.SECP256R1(),
            "secp384r1": ec.SECP384R1(),
            "secp521r1": ec.SECP521R1(),
        }
        private_key = ec.generate_private_key(curves[curve])
    else:
        raise ValueError(f"unsupported algorithm {algorithm!r}")
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return private_pem, public_pem


def issue_token(
    private_key_pem: str,
    fiscal_code: str,
    *,
    issuer: str,
    audience: str,
    now: datetime,
    ttl_seconds: int = 3600,
    kid: str | None = None,
    algorithm: str = "RS256",
) -> str:
    """Sign a citizen token (local tools and tests; production tokens come from the IdP).

    Claims: ``iss``, ``aud``, ``sub`` (the fiscal code, uppercased), ``iat`` and
    ``nbf`` (``now``), ``exp`` (``now + ttl_seconds``).

    Raises:
        Invalid: ``fiscal_code`` is not a valid fiscal code.
        ValueError: ``algorithm`` is not asymmetric or ``now`` is naive.
    """
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm!r}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    issued_at = int(now.timestamp())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": parse_fiscal_code(fiscal_code),
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + ttl_seconds,
    }
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, private_key_pem, algorithm=algorithm, headers=headers)
