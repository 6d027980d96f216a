"""One ``Settings``, read once from the environment, failing fast with a readable report.

In Azure the values are app settings (environment variables). Locally the dev host copies
``local.settings.json``'s ``Values`` into the environment first, without overriding a variable
that is already set, so any setting can be changed for one run.

Connections follow the Functions conventions so triggers and the app read the same names:
``ServiceBusConnection`` is a connection string locally and
``ServiceBusConnection__fullyQualifiedNamespace`` (managed identity) in Azure.

Timer schedules are settings too (``schedule="%OUTBOX_SWEEP_SCHEDULE%"``): the Functions host
reads them, not the app, but they are declared here so they are checked, documented and set
by the infra like every other setting.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from typing import Annotated, Any

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode

from shared.platform.capability_settings import CapabilitySettings
from shared.platform.errors import ConfigurationError
from shared.platform.settings_types import SETTINGS_CONFIG, Ncrontab


class Settings(CapabilitySettings):
    """Every setting of the app. Each appears in local.settings.example.json and the infra, and
    docs/settings.md is generated from these fields (``python -m local.settings_doc``)."""

    # A field's setting is its name in capitals (``cosmos_endpoint`` -> ``COSMOS_ENDPOINT``);
    # only names fixed by someone else (the Functions host, an SDK, the infra) are spelled out.
    model_config = SETTINGS_CONFIG

    # Cosmos DB
    cosmos_endpoint: str = Field(
        description="URL of the Cosmos DB account (the local emulator's locally)."
    )
    cosmos_key: str | None = Field(
        default=None,
        description="Key of the Cosmos DB emulator, local only: unset in Azure, where the app "
        "signs in with its managed identity.",
    )
    cosmos_database: str = Field(description="Cosmos DB database holding every container.")
    cosmos_endpoint_discovery: bool = Field(
        default=True,
        description="Whether the Cosmos DB client discovers the account's regional endpoints "
        "(off for an emulator reachable only at the configured URL).",
    )
    cosmos_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Timeout of one Cosmos DB operation, in seconds; past it the call fails as a "
        "dependency error (503 on HTTP, redelivery on queues).",
    )
    parties_container: str = Field(
        default="parties",
        description="Cosmos DB container of the party registry (ECs, PSPs, acquirers, senders, "
        "stations) with their hashed keys.",
    )
    failed_work_container: str = Field(
        default="failed-work",
        description="Cosmos DB container of failed work: queue messages that ended without "
        "success, kept for operators to list and replay.",
    )
    wallet_container: str = Field(
        default="wallet",
        description="Cosmos DB container of citizens' payment instruments and onboarding sessions.",
    )

    # Service Bus
    servicebus_connection: str | None = Field(
        default=None,
        validation_alias="ServiceBusConnection",
        description="Service Bus connection string, local only (the local broker); triggers and "
        "senders read the same setting. Set it or the namespace below.",
    )
    servicebus_namespace: str | None = Field(
        default=None,
        validation_alias="ServiceBusConnection__fullyQualifiedNamespace",
        description="Service Bus namespace host (`<name>.servicebus.windows.net`) reached with "
        "the managed identity, in Azure. Set it or ServiceBusConnection.",
    )
    servicebus_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Timeout of one Service Bus send, in seconds (operator commands on "
        "dead-letter queues allow a few times more).",
    )
    max_delivery_count: int = Field(
        default=10,
        ge=1,
        le=100,
        validation_alias="SERVICEBUS_MAX_DELIVERY_COUNT",
        description="Deliveries of a message before the broker dead-letters it (the queues' own "
        "max delivery count); on the last one the app records failed work instead.",
    )
    reschedule_max_attempts: int = Field(
        default=8,
        ge=1,
        le=50,
        description="Times a message is re-sent for later during a long outage before it "
        "becomes failed work (a queue may have its own limit).",
    )
    reschedule_base_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Delay of the first re-sent copy of a message, in seconds; it doubles at "
        "each attempt.",
    )
    reschedule_cap_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Longest delay of a re-sent copy of a message, in seconds.",
    )
    wallet_events_queue: str = Field(
        default="wallet-events",
        description="Service Bus queue of the wallet's instrument events, consumed by cashback.",
    )
    outbox_sweep_schedule: Ncrontab = Field(
        default="*/30 * * * * *",
        description="When the timer sweep_outboxes re-sends events left in documents' outboxes "
        "(a broker outage, a crash after the write).",
    )

    # Citizens' tokens
    jwt_issuer: str = Field(
        validation_alias="CITIZEN_JWT_ISSUER",
        description="Issuer (`iss`) that citizens' JWTs must carry: the app backend.",
    )
    jwt_audience: str = Field(
        validation_alias="CITIZEN_JWT_AUDIENCE",
        description="Audience (`aud`) that citizens' JWTs must carry.",
    )
    jwt_public_key: str | None = Field(
        default=None,
        validation_alias="CITIZEN_JWT_PUBLIC_KEY",
        description="The one PEM public key verifying citizens' JWTs (`\\n` escapes allowed). "
        "Set it or CITIZEN_JWKS_URL.",
    )
    jwks_url: str | None = Field(
        default=None,
        validation_alias="CITIZEN_JWKS_URL",
        description="URL of the JWKS verifying citizens' JWTs (several keys, by kid). Set it or "
        "CITIZEN_JWT_PUBLIC_KEY.",
    )

    # Secrets: Key Vault in Azure, a JSON object of name -> value locally.
    key_vault_url: str | None = Field(
        default=None,
        description="URL of the Key Vault holding the secrets the app reads by name, in Azure; "
        "empty: LOCAL_SECRETS.",
    )
    local_secrets: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Local only: a JSON object of secret name -> value standing in for Key Vault.",
    )

    # Health and telemetry
    health_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=30,
        description="Timeout of each dependency check of /api/health, in seconds.",
    )
    health_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long /api/health answers from its last report before checking the "
        "dependencies again, in seconds (0: every call).",
    )
    platform_auth_enabled: bool = Field(
        default=False,
        description="Whether the platform's authentication (App Service authentication with "
        "Entra ID) runs in front of the app, so that the X-MS-CLIENT-PRINCIPAL header it sets "
        "names the signed-in back-office user. The infra sets it with the authentication "
        "settings; locally the dev host strips the header and sets it after its own sign-in. "
        "Off: a request to the back office that carries the header is refused.",
    )
    appinsights_connection_string: str | None = Field(
        default=None,
        validation_alias="APPLICATIONINSIGHTS_CONNECTION_STRING",
        description="Application Insights connection string (the infra sets it in Azure); "
        "empty: no telemetry is exported.",
    )

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
            raise ValueError(
                "set ServiceBusConnection (a connection string) or "
                "ServiceBusConnection__fullyQualifiedNamespace"
            )
        if not (self.jwt_public_key or self.jwks_url):
            raise ValueError("set CITIZEN_JWT_PUBLIC_KEY or CITIZEN_JWKS_URL")
        if self.push_sas_renew_seconds >= self.push_sas_ttl_seconds:
            raise ValueError("PUSH_SAS_RENEW_SECONDS must be shorter than PUSH_SAS_TTL_SECONDS")
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


@cache
def _fields_by_setting() -> dict[str, str]:
    return {str(info.validation_alias): name for name, info in Settings.model_fields.items()}


def setting_field(setting: str) -> str:
    """The ``Settings`` field that the app setting ``setting`` fills (``PUSH_QUEUE`` ->
    ``push_queue``), for code that binds a setting by name, as triggers do.

    Raises:
        KeyError: no field reads ``setting``.
    """
    try:
        return _fields_by_setting()[setting]
    except KeyError:
        raise KeyError(f"{setting} is not a setting of shared.platform.config.Settings") from None
