"""Where the keys that verify citizen tokens come from: fixed PEMs, or an issuer's JWKS URL.

Both accept only signing keys that are RSA of at least 2048 bits or EC on P-256/384/521, and
pick the key by the token's ``kid`` (:class:`KeySource`). :func:`key_fits` says whether a key is
the kind an algorithm verifies with, so a token cannot choose another algorithm than its key's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import aiohttp
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.platform.errors import ConfigurationError, DependencyError

__all__ = [
    "EC_ALGORITHMS",
    "MIN_RSA_BITS",
    "RSA_ALGORITHMS",
    "SUPPORTED_ALGORITHMS",
    "JwksKeys",
    "KeySource",
    "PemKeys",
    "PublicKey",
    "key_fits",
]

logger = logging.getLogger(__name__)

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
#: EC curve name -> the algorithm that verifies with a key on it.
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
#: Algorithms a verifier may be configured with: asymmetric only.
SUPPORTED_ALGORITHMS = RSA_ALGORITHMS | frozenset(EC_ALGORITHMS.values())
MIN_RSA_BITS = 2048

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


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


def _check_public_key(key: object, where: str) -> PublicKey:
    """Accept RSA keys of at least 2048 bits and EC keys on P-256/384/521."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise ConfigurationError(f"{where}: RSA key shorter than {MIN_RSA_BITS} bits")
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_ALGORITHMS:
            raise ConfigurationError(f"{where}: unsupported EC curve {key.curve.name}")
        return key
    raise ConfigurationError(f"{where}: not an RSA or EC public key")


def key_fits(key: object, algorithm: str) -> bool:
    """Whether ``key`` is the kind of key that ``algorithm`` verifies with."""
    if isinstance(key, jwt.PyJWK):
        return key.algorithm_name == algorithm
    if isinstance(key, rsa.RSAPublicKey):
        return algorithm in RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        return EC_ALGORITHMS.get(key.curve.name) == algorithm
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
                if not key_fits(jwk.key, jwk.algorithm_name):
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
