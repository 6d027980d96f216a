"""Where secrets come from: a port and two adapters (local settings, Azure Key Vault).

Secret values are never logged; names are.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.platform.errors import ConfigurationError, DependencyError

__all__ = ["KeyVaultSecrets", "LocalSecrets", "SecretClientLike", "SecretProvider"]

logger = logging.getLogger(__name__)

_DEPENDENCY = "keyvault"


class SecretProvider(Protocol):
    """Gives the current value of a named secret."""

    async def get(self, name: str) -> str:
        """Return the value of secret ``name``.

        Raises:
            ConfigurationError: the secret does not exist (or cannot be read
                with the app's permissions).
            DependencyError: the secret store is throttling or down.
        """
        ...


class LocalSecrets:
    """Secrets from a plain mapping (local development, tests).

    Args:
        values: secret name to value; copied.
    """

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    async def get(self, name: str) -> str:
        try:
            return self._values[name]
        except KeyError:
            raise ConfigurationError(f"secret {name!r} is not configured") from None


class _SecretBundle(Protocol):
    @property
    def value(self) -> str | None: ...


class SecretClientLike(Protocol):
    """The part of ``azure.keyvault.secrets.aio.SecretClient`` used here."""

    def get_secret(self, name: str) -> Awaitable[_SecretBundle]: ...


def _retry_after(error: HttpResponseError, default: float = 5.0) -> float:
    headers: Mapping[str, str] | None = getattr(error.response, "headers", None)
    raw = headers.get("Retry-After") if headers is not None else None
    if raw is None:
        return default
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return default


class KeyVaultSecrets:
    """Secrets from Azure Key Vault, cached in memory for ``ttl_seconds``.

    Args:
        client: an ``azure.keyvault.secrets.aio.SecretClient`` (built and closed
            by the caller), or anything with the same ``get_secret``.
        ttl_seconds: how long a value is served from the cache.
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(
        self,
        client: SecretClientLike,
        *,
        ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds < 0:
            raise ValueError("ttl_seconds must not be negative")
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _cached(self, name: str) -> str | None:
        entry = self._cache.get(name)
        if entry is not None and self._clock() - entry[1] < self._ttl:
            return entry[0]
        return None

    async def get(self, name: str) -> str:
        """Return secret ``name``, from the cache when fresh.

        Concurrent misses for the same name make a single call to Key Vault.

        Raises:
            ConfigurationError: the secret does not exist, is disabled, has no
                value, or the app may not read it.
            DependencyError: ``"keyvault"`` is unreachable, throttling (429) or
                failing (5xx).
        """
        value = self._cached(name)
        if value is not None:
            return value
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            value = self._cached(name)
            if value is not None:
                return value
            value = await self._fetch(name)
            self._cache[name] = (value, self._clock())
            return value

    async def _fetch(self, name: str) -> str:
        try:
            secret = await self._client.get_secret(name)
        except ResourceNotFoundError:
            raise ConfigurationError(f"secret {name!r} does not exist in Key Vault") from None
        except HttpResponseError as error:
            status = error.status_code
            if status is None or status == 429 or status >= 500:
                logger.warning("Key Vault failed reading secret %s: status %s", name, status)
                raise DependencyError(
                    _DEPENDENCY,
                    f"reading secret {name!r} failed (status {status})",
                    retry_after=_retry_after(error),
                ) from error
            raise ConfigurationError(
                f"secret {name!r} cannot be read from Key Vault (status {status})"
            ) from error
        except (ServiceRequestError, ServiceResponseError, TimeoutError) as error:
            logger.warning(
                "Key Vault unreachable reading secret %s: %s", name, type(error).__name__
            )
            raise DependencyError(_DEPENDENCY, f"unreachable reading secret {name!r}") from error
        except AzureError as error:
            logger.warning("Key Vault error reading secret %s: %s", name, type(error).__name__)
            raise DependencyError(
                _DEPENDENCY, f"reading secret {name!r} failed ({type(error).__name__})"
            ) from error
        value = secret.value
        if not value:
            raise ConfigurationError(f"secret {name!r} in Key Vault has no value")
        return value

    def invalidate(self, name: str | None = None) -> None:
        """Forget the cached value of ``name`` (or of every secret)."""
        if name is None:
            self._cache.clear()
        else:
            self._cache.pop(name, None)
