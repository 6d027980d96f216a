"""One ``Settings``, read once from the environment, failing fast with a readable report.

In Azure the values are app settings (environment variables). Locally the dev host copies
``local.settings.json``'s ``Values`` into the environment first, without overriding a variable
that is already set, so any setting can be changed for one run.

Connections follow the Functions conventions so triggers and the app read the same names:
``ServiceBusConnection`` is a connection string locally and
``ServiceBusConnection__fullyQualifiedNamespace`` (managed identity) in Azure.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.errors import ConfigurationError


class Settings(BaseSettings):
    """Every setting of the app. Each appears in local.settings.example.json and the infra."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    # Cosmos DB
    cosmos_endpoint: str = Field(validation_alias="COSMOS_ENDPOINT")
    cosmos_key: str | None = Field(default=None, validation_alias="COSMOS_KEY")
    cosmos_database: str = Field(validation_alias="COSMOS_DATABASE")
    cosmos_endpoint_discovery: bool = Field(default=True,
                                            validation_alias="COSMOS_ENDPOINT_DISCOVERY")
    cosmos_timeout_seconds: float = Field(default=5.0, gt=0, le=60,
                                          validation_alias="COSMOS_TIMEOUT_SECONDS")
    parties_container: str = Field(default="parties", validation_alias="PARTIES_CONTAINER")
    failed_work_container: str = Field(default="failed-work",
                                       validation_alias="FAILED_WORK_CONTAINER")
    signatures_container: str = Field(default="signatures",
                                      validation_alias="SIGNATURES_CONTAINER")
    wallet_container: str = Field(default="wallet", validation_alias="WALLET_CONTAINER")

    # Service Bus
    servicebus_connection: str | None = Field(default=None,
                                              validation_alias="ServiceBusConnection")
    servicebus_namespace: str | None = Field(
        default=None, validation_alias="ServiceBusConnection__fullyQualifiedNamespace")
    servicebus_timeout_seconds: float = Field(default=5.0, gt=0, le=60,
                                              validation_alias="SERVICEBUS_TIMEOUT_SECONDS")
    max_delivery_count: int = Field(default=10, ge=1, le=100,
                                    validation_alias="SERVICEBUS_MAX_DELIVERY_COUNT")
    reschedule_max_attempts: int = Field(default=8, ge=1, le=50,
                                         validation_alias="RESCHEDULE_MAX_ATTEMPTS")
    reschedule_base_seconds: float = Field(default=60.0, gt=0,
                                           validation_alias="RESCHEDULE_BASE_SECONDS")
    reschedule_cap_seconds: float = Field(default=3600.0, gt=0,
                                          validation_alias="RESCHEDULE_CAP_SECONDS")
    wallet_events_queue: str = Field(default="wallet-events",
                                     validation_alias="WALLET_EVENTS_QUEUE")

    # Citizens' tokens
    jwt_issuer: str = Field(validation_alias="CITIZEN_JWT_ISSUER")
    jwt_audience: str = Field(validation_alias="CITIZEN_JWT_AUDIENCE")
    jwt_public_key: str | None = Field(default=None, validation_alias="CITIZEN_JWT_PUBLIC_KEY")
    jwks_url: str | None = Field(default=None, validation_alias="CITIZEN_JWKS_URL")

    # Secrets: Key Vault in Azure, a JSON object of name -> value locally.
    key_vault_url: str | None = Field(default=None, validation_alias="KEY_VAULT_URL")
    local_secrets: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, validation_alias="LOCAL_SECRETS")

    # Health and telemetry
    health_timeout_seconds: float = Field(default=2.0, gt=0, le=30,
                                          validation_alias="HEALTH_TIMEOUT_SECONDS")
    health_cache_seconds: float = Field(default=10.0, ge=0,
                                        validation_alias="HEALTH_CACHE_SECONDS")
    appinsights_connection_string: str | None = Field(
        default=None, validation_alias="APPLICATIONINSIGHTS_CONNECTION_STRING")

    @field_validator("jwt_public_key", mode="before")
    @classmethod
    def _unescape_pem(cls, value: Any) -> Any:
        # One PEM key (several keys with kids: use CITIZEN_JWKS_URL); "\n" escapes allowed.
        if isinstance(value, str):
            return value.replace("\\n", "\n").strip() + "\n" if value.strip() else None
        return value

    @field_validator("local_secrets", mode="before")
    @classmethod
    def _parse_secrets(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @model_validator(mode="after")
    def _check_sources(self) -> Settings:
        if not (self.servicebus_connection or self.servicebus_namespace):
            raise ValueError("set ServiceBusConnection (a connection string) or "
                             "ServiceBusConnection__fullyQualifiedNamespace")
        if not (self.jwt_public_key or self.jwks_url):
            raise ValueError("set CITIZEN_JWT_PUBLIC_KEY or CITIZEN_JWKS_URL")
        return self


def _report(error: ValidationError) -> str:
    lines = ["The app's settings are not valid:"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "settings"
        lines.append(f"  - {where}: {item['msg']}")
    return "\n".join(lines)


def load_settings(values: dict[str, str] | None = None) -> Settings:
    """Build settings from ``values`` (tests) or the environment; raise one readable report."""
    try:
        if values is None:
            return Settings()
        return Settings.model_validate(values)
    except ValidationError as error:
        raise ConfigurationError(_report(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read on first use (never at import time)."""
    return load_settings()
