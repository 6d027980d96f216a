from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.auth.secrets import KeyVaultSecrets, LocalSecrets, SecretProvider
from shared.platform.errors import ConfigurationError, DependencyError


@dataclass
class FakeSecret:
    value: str | None


class FakeResponse:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}
        self.reason = "fake"
        self.request = None

    def text(self) -> str:
        return ""


def http_error(status: int, headers: dict[str, str] | None = None) -> HttpResponseError:
    return HttpResponseError(message=f"HTTP {status}", response=FakeResponse(status, headers))


@dataclass
class FakeSecretClient:
    """Stands in for azure.keyvault.secrets.aio.SecretClient."""

    values: dict[str, str | None] = field(default_factory=dict)
    errors: dict[str, Exception] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    delay: float = 0.0

    async def get_secret(self, name: str) -> FakeSecret:
        self.calls.append(name)
        if self.delay:
            await asyncio.sleep(self.delay)
        if name in self.errors:
            raise self.errors[name]
        if name not in self.values:
            raise ResourceNotFoundError(message="SecretNotFound")
        return FakeSecret(self.values[name])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_local_secrets_returns_values() -> None:
    secrets: SecretProvider = LocalSecrets({"psp-a": "s3cret"})
    assert await secrets.get("psp-a") == "s3cret"


async def test_local_secrets_unknown_name_names_the_secret() -> None:
    with pytest.raises(ConfigurationError, match="'psp-b'"):
        await LocalSecrets({"psp-a": "x"}).get("psp-b")


async def test_local_secrets_copies_its_input() -> None:
    values = {"a": "1"}
    secrets = LocalSecrets(values)
    values["a"] = "2"
    assert await secrets.get("a") == "1"


async def test_key_vault_value_is_cached_for_the_ttl() -> None:
    client = FakeSecretClient(values={"psp-a": "v1"})
    clock = Clock()
    secrets: SecretProvider = KeyVaultSecrets(client, ttl_seconds=60, clock=clock)
    assert await secrets.get("psp-a") == "v1"
    client.values["psp-a"] = "v2"
    clock.now += 59
    assert await secrets.get("psp-a") == "v1"
    assert client.calls == ["psp-a"]
    clock.now += 1
    assert await secrets.get("psp-a") == "v2"
    assert client.calls == ["psp-a", "psp-a"]


async def test_key_vault_invalidate_forces_a_fetch() -> None:
    client = FakeSecretClient(values={"a": "1", "b": "2"})
    secrets = KeyVaultSecrets(client, clock=Clock())
    await secrets.get("a")
    await secrets.get("b")
    secrets.invalidate("a")
    await secrets.get("a")
    await secrets.get("b")
    assert client.calls == ["a", "b", "a"]
    secrets.invalidate()
    await secrets.get("b")
    assert client.calls == ["a", "b", "a", "b"]


async def test_key_vault_concurrent_misses_make_one_call() -> None:
    client = FakeSecretClient(values={"a": "1"}, delay=0.01)
    secrets = KeyVaultSecrets(client, clock=Clock())
    results = await asyncio.gather(*(secrets.get("a") for _ in range(5)))
    assert results == ["1"] * 5
    assert client.calls == ["a"]


async def test_key_vault_missing_secret_is_a_configuration_error() -> None:
    secrets = KeyVaultSecrets(FakeSecretClient(), clock=Clock())
    with pytest.raises(ConfigurationError, match="'psp-x' does not exist"):
        await secrets.get("psp-x")


@pytest.mark.parametrize("value", [None, ""])
async def test_key_vault_secret_without_value_is_a_configuration_error(value: str | None) -> None:
    secrets = KeyVaultSecrets(FakeSecretClient(values={"a": value}), clock=Clock())
    with pytest.raises(ConfigurationError, match="'a' in Key Vault has no value"):
        await secrets.get("a")


@pytest.mark.parametrize("status", [401, 403])
async def test_key_vault_access_denied_is_a_configuration_error(status: int) -> None:
    client = FakeSecretClient(errors={"a": http_error(status)})
    with pytest.raises(ConfigurationError, match=f"'a'.*status {status}"):
        await KeyVaultSecrets(client, clock=Clock()).get("a")


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_key_vault_throttling_and_5xx_are_dependency_errors(status: int) -> None:
    client = FakeSecretClient(errors={"a": http_error(status, {"Retry-After": "7"})})
    with pytest.raises(DependencyError) as caught:
        await KeyVaultSecrets(client, clock=Clock()).get("a")
    assert caught.value.dependency == "keyvault"
    assert caught.value.retry_after == 7.0
    assert "'a'" in caught.value.detail


@pytest.mark.parametrize(
    "error",
    [
        ServiceRequestError("connection refused"),
        ServiceResponseError("connection reset"),
        TimeoutError(),
        ClientAuthenticationError("managed identity endpoint unavailable"),  # no HTTP status
    ],
)
async def test_key_vault_unreachable_is_a_dependency_error(error: Exception) -> None:
    client = FakeSecretClient(errors={"a": error})
    with pytest.raises(DependencyError) as caught:
        await KeyVaultSecrets(client, clock=Clock()).get("a")
    assert caught.value.dependency == "keyvault"


async def test_key_vault_failures_are_not_cached() -> None:
    client = FakeSecretClient(errors={"a": http_error(503)})
    secrets = KeyVaultSecrets(client, clock=Clock())
    with pytest.raises(DependencyError):
        await secrets.get("a")
    del client.errors["a"]
    client.values["a"] = "ok"
    assert await secrets.get("a") == "ok"


def test_negative_ttl_is_refused() -> None:
    with pytest.raises(ValueError, match="ttl"):
        KeyVaultSecrets(FakeSecretClient(), ttl_seconds=-1)
