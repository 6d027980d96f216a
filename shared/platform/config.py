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

from shared.platform.errors import ConfigurationError


class Settings(BaseSettings):
    """Every setting of the app. Each appears in local.settings.example.json and the infra."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    # Cosmos DB
    cosmos_endpoint: str = Field(validation_alias="COSMOS_ENDPOINT")
    cosmos_key: str | None = Field(default=None, validation_alias="COSMOS_KEY")
    cosmos_database: str = Field(validation_alias="COSMOS_DATABASE")
    cosmos_endpoint_discovery: bool = Field(
        default=True, validation_alias="COSMOS_ENDPOINT_DISCOVERY"
    )
    cosmos_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, validation_alias="COSMOS_TIMEOUT_SECONDS"
    )
    parties_container: str = Field(default="parties", validation_alias="PARTIES_CONTAINER")
    failed_work_container: str = Field(
        default="failed-work", validation_alias="FAILED_WORK_CONTAINER"
    )
    wallet_container: str = Field(default="wallet", validation_alias="WALLET_CONTAINER")

    # Service Bus
    servicebus_connection: str | None = Field(default=None, validation_alias="ServiceBusConnection")
    servicebus_namespace: str | None = Field(
        default=None, validation_alias="ServiceBusConnection__fullyQualifiedNamespace"
    )
    servicebus_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, validation_alias="SERVICEBUS_TIMEOUT_SECONDS"
    )
    max_delivery_count: int = Field(
        default=10, ge=1, le=100, validation_alias="SERVICEBUS_MAX_DELIVERY_COUNT"
    )
    reschedule_max_attempts: int = Field(
        default=8, ge=1, le=50, validation_alias="RESCHEDULE_MAX_ATTEMPTS"
    )
    reschedule_base_seconds: float = Field(
        default=60.0, gt=0, validation_alias="RESCHEDULE_BASE_SECONDS"
    )
    reschedule_cap_seconds: float = Field(
        default=3600.0, gt=0, validation_alias="RESCHEDULE_CAP_SECONDS"
    )
    wallet_events_queue: str = Field(
        default="wallet-events", validation_alias="WALLET_EVENTS_QUEUE"
    )

    # Push: Notification Hubs through ONE keep-alive session per namespace. The hubs themselves
    # are indexed settings (PUSH_HUB_<n>_CONNECTION/_NAME/_DIGITS), read by push_hubs() below.
    push_queue: str = Field(default="push", validation_alias="PUSH_QUEUE")
    push_installations_container: str = Field(
        default="push-installations", validation_alias="PUSH_INSTALLATIONS_CONTAINER"
    )
    push_connector_limit: int = Field(
        default=32, ge=1, le=100, validation_alias="PUSH_CONNECTOR_LIMIT"
    )
    push_connector_limit_per_host: int = Field(
        default=32, ge=1, le=100, validation_alias="PUSH_CONNECTOR_LIMIT_PER_HOST"
    )
    push_keepalive_seconds: float = Field(
        default=60.0, gt=0, le=230, validation_alias="PUSH_KEEPALIVE_SECONDS"
    )
    push_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, validation_alias="PUSH_TIMEOUT_SECONDS"
    )
    push_connect_timeout_seconds: float = Field(
        default=3.0, gt=0, le=30, validation_alias="PUSH_CONNECT_TIMEOUT_SECONDS"
    )
    push_retry_attempts: int = Field(default=3, ge=1, le=10, validation_alias="PUSH_RETRY_ATTEMPTS")
    push_retry_base_seconds: float = Field(
        default=0.2, gt=0, le=10, validation_alias="PUSH_RETRY_BASE_SECONDS"
    )
    push_retry_cap_seconds: float = Field(
        default=5.0, gt=0, le=60, validation_alias="PUSH_RETRY_CAP_SECONDS"
    )
    push_sas_ttl_seconds: int = Field(
        default=3600, ge=120, le=86400, validation_alias="PUSH_SAS_TTL_SECONDS"
    )
    push_sas_renew_seconds: int = Field(
        default=300, ge=10, le=3600, validation_alias="PUSH_SAS_RENEW_SECONDS"
    )

    # Notices: the central archive of payment notices (ACA) and its bulk uploads. Uploads are
    # kept in Blob storage: the host's storage account, by connection string locally
    # (AzureWebJobsStorage) and by managed identity in Azure (AzureWebJobsStorage__accountName).
    notices_container: str = Field(default="notices", validation_alias="NOTICES_CONTAINER")
    notice_bulks_container: str = Field(
        default="notice-bulks", validation_alias="NOTICE_BULKS_CONTAINER"
    )
    notices_queue: str = Field(default="notices", validation_alias="NOTICES_QUEUE")
    notices_blob_container: str = Field(
        default="notice-bulks", validation_alias="NOTICES_BLOB_CONTAINER"
    )
    notices_bulk_chunk_lines: int = Field(
        default=500, ge=1, le=5000, validation_alias="NOTICES_BULK_CHUNK_LINES"
    )
    notices_bulk_concurrency: int = Field(
        default=16, ge=1, le=256, validation_alias="NOTICES_BULK_CONCURRENCY"
    )
    storage_connection: str | None = Field(default=None, validation_alias="AzureWebJobsStorage")
    storage_account: str | None = Field(
        default=None, validation_alias="AzureWebJobsStorage__accountName"
    )

    # Cashback: award periods are configuration (a JSON list, see shared/cashback/rules.py;
    # empty: the programme's production periods). Enrollments, instruments, hpans, period
    # states and rankings live in one container partitioned by /pk.
    cashback_periods: str = Field(default="", validation_alias="CASHBACK_PERIODS")
    cashback_container: str = Field(default="cashback", validation_alias="CASHBACK_CONTAINER")
    cashback_transactions_queue: str = Field(
        default="cashback-transactions", validation_alias="CASHBACK_TRANSACTIONS_QUEUE"
    )
    # IBANs are checked against the bank asynchronously, through this queue.
    iban_check_queue: str = Field(default="iban-check", validation_alias="IBAN_CHECK_QUEUE")
    cashback_bank_check_url: str = Field(
        default="http://127.0.0.1:7092", validation_alias="CASHBACK_BANK_CHECK_URL"
    )
    cashback_bank_check_timeout_seconds: float = Field(
        default=5.0, gt=0, le=30, validation_alias="CASHBACK_BANK_CHECK_TIMEOUT_SECONDS"
    )
    # Payout lists (CSV) go to this Blob container of the host's storage account.
    cashback_payouts_blob_container: str = Field(
        default="cashback-payouts", validation_alias="CASHBACK_PAYOUTS_BLOB_CONTAINER"
    )

    # Stand-in: the payment gateway's payments, stations and traffic counters live in one
    # container partitioned by /pk; receipts reach ECs through this queue.
    standin_container: str = Field(default="standin", validation_alias="STANDIN_CONTAINER")
    standin_receipts_queue: str = Field(
        default="standin-receipts", validation_alias="STANDIN_RECEIPTS_QUEUE"
    )
    standin_token_minutes: int = Field(
        default=30, ge=1, le=24 * 60, validation_alias="STANDIN_TOKEN_MINUTES"
    )
    standin_station_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, validation_alias="STANDIN_STATION_TIMEOUT_SECONDS"
    )
    standin_window_minutes: int = Field(
        default=30, ge=5, le=24 * 60, multiple_of=5, validation_alias="STANDIN_WINDOW_MINUTES"
    )
    standin_fault_rate: float = Field(
        default=0.5, ge=0, lt=1, validation_alias="STANDIN_FAULT_RATE"
    )
    standin_faulty_slots: float = Field(
        default=0.5, ge=0, lt=1, validation_alias="STANDIN_FAULTY_SLOTS"
    )
    standin_day_traffic_share: float = Field(
        default=0.05, ge=0, lt=1, validation_alias="STANDIN_DAY_TRAFFIC_SHARE"
    )
    standin_night_traffic_share: float = Field(
        default=0.10, ge=0, lt=1, validation_alias="STANDIN_NIGHT_TRAFFIC_SHARE"
    )
    standin_receipt_max_attempts: int = Field(
        default=48, ge=1, le=500, validation_alias="STANDIN_RECEIPT_MAX_ATTEMPTS"
    )

    # Citizens' tokens
    jwt_issuer: str = Field(validation_alias="CITIZEN_JWT_ISSUER")
    jwt_audience: str = Field(validation_alias="CITIZEN_JWT_AUDIENCE")
    jwt_public_key: str | None = Field(default=None, validation_alias="CITIZEN_JWT_PUBLIC_KEY")
    jwks_url: str | None = Field(default=None, validation_alias="CITIZEN_JWKS_URL")

    # Secrets: Key Vault in Azure, a JSON object of name -> value locally.
    key_vault_url: str | None = Field(default=None, validation_alias="KEY_VAULT_URL")
    local_secrets: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, validation_alias="LOCAL_SECRETS"
    )

    # Wallet: onboarding through the configured PSP's hosted page.
    wallet_psp_id: str = Field(default="DEMOPSP", min_length=1, validation_alias="WALLET_PSP_ID")
    wallet_psp_base_url: str = Field(
        default="http://127.0.0.1:7090", validation_alias="WALLET_PSP_BASE_URL"
    )
    wallet_psp_timeout_seconds: float = Field(
        default=5.0, gt=0, le=30, validation_alias="WALLET_PSP_TIMEOUT_SECONDS"
    )
    wallet_return_url: str = Field(
        default="https://app-backend.local.dev/wallet/onboarding",
        validation_alias="WALLET_RETURN_URL",
    )
    wallet_notification_url: str | None = Field(
        default=None,
        validation_alias="WALLET_NOTIFICATION_URL",
        description="Where the PSP posts outcomes; empty: this app's own URL as called",
    )
    wallet_session_minutes: int = Field(
        default=30, ge=1, le=24 * 60, validation_alias="WALLET_SESSION_MINUTES"
    )
    wallet_max_instruments: int = Field(
        default=20, ge=1, le=100, validation_alias="WALLET_MAX_INSTRUMENTS"
    )

    # Health and telemetry
    health_timeout_seconds: float = Field(
        default=2.0, gt=0, le=30, validation_alias="HEALTH_TIMEOUT_SECONDS"
    )
    health_cache_seconds: float = Field(default=10.0, ge=0, validation_alias="HEALTH_CACHE_SECONDS")
    appinsights_connection_string: str | None = Field(
        default=None, validation_alias="APPLICATIONINSIGHTS_CONNECTION_STRING"
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
