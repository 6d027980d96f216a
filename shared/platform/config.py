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
import re
from functools import cache, lru_cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasGenerator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.platform.errors import ConfigurationError

_NCRONTAB_FIELD = re.compile(r"[0-9A-Za-z*/,-]+")


def six_field_ncrontab(value: str) -> str:
    """six NCRONTAB fields: second minute hour day month day-of-week.

    Only the shape is checked (the Functions host parses the rest): a five-field Unix cron, the
    usual mistake, is refused here rather than by the host at start-up.
    """
    fields = value.split()
    if len(fields) != 6:
        raise ValueError(
            "an NCRONTAB schedule has six fields (second minute hour day month day-of-week), "
            f"not {len(fields)}: {value!r}"
        )
    for part in fields:
        if not _NCRONTAB_FIELD.fullmatch(part):
            raise ValueError(f"{part!r} is not an NCRONTAB field (in {value!r})")
    return value


Ncrontab = Annotated[str, AfterValidator(six_field_ncrontab)]
"""A timer schedule, bound by triggers as ``schedule="%NAME_SCHEDULE%"``."""


class Settings(BaseSettings):
    """Every setting of the app. Each appears in local.settings.example.json and the infra, and
    docs/settings.md is generated from these fields (``python -m local.settings_doc``)."""

    # A field's setting is its name in capitals (``cosmos_endpoint`` -> ``COSMOS_ENDPOINT``);
    # only names fixed by someone else (the Functions host, an SDK, the infra) are spelled out.
    model_config = SettingsConfigDict(
        case_sensitive=True,
        extra="ignore",
        frozen=True,
        alias_generator=AliasGenerator(validation_alias=str.upper),
    )

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

    # Push: Notification Hubs through ONE keep-alive session per namespace. The hubs themselves
    # are indexed settings (PUSH_HUB_<n>_CONNECTION/_NAME/_DIGITS), read by
    # shared/push/settings.py.
    push_queue: str = Field(
        default="push",
        description="Service Bus queue of push work: notifications and installation changes.",
    )
    push_installations_container: str = Field(
        default="push-installations",
        description="Cosmos DB container of citizens' device installations.",
    )
    push_connector_limit: int = Field(
        default=32,
        ge=1,
        le=100,
        description="Most open connections of a worker's Notification Hubs session (each one "
        "holds a SNAT port).",
    )
    push_connector_limit_per_host: int = Field(
        default=32,
        ge=1,
        le=100,
        description="Most open connections of a worker to one Notification Hubs host.",
    )
    push_keepalive_seconds: float = Field(
        default=60.0,
        gt=0,
        le=230,
        description="How long an idle Notification Hubs connection stays open, in seconds; "
        "below Azure's 4-minute idle timeout so the app, not the network, closes it.",
    )
    push_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="Total timeout of one Notification Hubs request, in seconds.",
    )
    push_connect_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        le=30,
        description="Timeout to open a Notification Hubs connection, in seconds.",
    )
    push_retry_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Tries of one Notification Hubs request that is throttled or fails "
        "transiently, within one invocation, before the message is redelivered.",
    )
    push_retry_base_seconds: float = Field(
        default=0.2,
        gt=0,
        le=10,
        description="First backoff between those tries, in seconds (a Retry-After wins).",
    )
    push_retry_cap_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Longest backoff between those tries, in seconds.",
    )
    push_sas_ttl_seconds: int = Field(
        default=3600,
        ge=120,
        le=86400,
        description="Lifetime of the SAS tokens the app signs for Notification Hubs, in seconds.",
    )
    push_sas_renew_seconds: int = Field(
        default=300,
        ge=10,
        le=3600,
        description="How long before its expiry a SAS token is replaced, in seconds; shorter "
        "than PUSH_SAS_TTL_SECONDS.",
    )

    # Notices: the central archive of payment notices (ACA) and its bulk uploads. Uploads are
    # kept in Blob storage: the host's storage account, by connection string locally
    # (AzureWebJobsStorage) and by managed identity in Azure (AzureWebJobsStorage__accountName).
    notices_container: str = Field(
        default="notices",
        description="Cosmos DB container of the payment notice archive.",
    )
    notice_bulks_container: str = Field(
        default="notice-bulks",
        description="Cosmos DB container of bulk uploads: their state and each chunk's result.",
    )
    notices_queue: str = Field(
        default="notices",
        description="Service Bus queue of bulk upload chunks waiting to be written.",
    )
    notices_blob_container: str = Field(
        default="notice-bulks",
        description="Blob container, in the host's storage account, keeping bulk upload files.",
    )
    notices_bulk_chunk_lines: int = Field(
        default=500,
        ge=1,
        le=5000,
        description="Lines of a bulk upload per chunk (one queue message each).",
    )
    notices_bulk_concurrency: int = Field(
        default=16,
        ge=1,
        le=256,
        description="Lines of one chunk written at the same time.",
    )
    storage_connection: str | None = Field(
        default=None,
        validation_alias="AzureWebJobsStorage",
        description="Connection string of the host's storage account, which keeps the app's "
        "blobs too (Azurite locally); unset in Azure, which uses the account name.",
    )
    storage_account: str | None = Field(
        default=None,
        validation_alias="AzureWebJobsStorage__accountName",
        description="Name of the host's storage account, reached with the managed identity "
        "in Azure.",
    )
    notices_expire_schedule: Ncrontab = Field(
        default="0 */5 * * * *",
        description="When the timer notices_expire turns valid notices past their expiration "
        "date into expired ones.",
    )

    # Cashback: award periods are configuration (a JSON list, see shared/cashback/rules.py;
    # empty: the programme's production periods). Enrollments, instruments, hpans, period
    # states and rankings live in one container partitioned by /pk.
    cashback_periods: str = Field(
        default="",
        description="Award periods as a JSON list (see shared/cashback/rules.py); empty: the "
        "programme's production periods. /api/health reports a bad value.",
    )
    cashback_container: str = Field(
        default="cashback",
        description="Cosmos DB container of enrollments, instruments, hpans, period states and "
        "rankings.",
    )
    cashback_transactions_queue: str = Field(
        default="cashback-transactions",
        description="Service Bus queue of acquirers' transactions waiting to be scored.",
    )
    # IBANs are checked against the bank asynchronously, through this queue.
    iban_check_queue: str = Field(
        default="iban-check",
        description="Service Bus queue of citizens' IBANs waiting to be checked with the bank.",
    )
    cashback_bank_check_url: str = Field(
        default="http://127.0.0.1:7092",
        description="Base URL of the bank's IBAN check service (the bank simulator locally).",
    )
    cashback_bank_check_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=30,
        description="Timeout of one IBAN check with the bank, in seconds.",
    )
    # Payout lists (CSV) go to this Blob container of the host's storage account.
    cashback_payouts_blob_container: str = Field(
        default="cashback-payouts",
        description="Blob container, in the host's storage account, receiving the payout lists "
        "(CSV).",
    )
    cashback_rank_schedule: Ncrontab = Field(
        default="0 0 * * * *",
        description="When the timer cashback_rank ranks the periods still taking transactions.",
    )
    cashback_payouts_schedule: Ncrontab = Field(
        default="0 30 2 * * *",
        description="When the timer cashback_payouts writes the payout list of each period "
        "closed since its last run.",
    )

    # Stand-in: the payment gateway's payments, stations and traffic counters live in one
    # container partitioned by /pk; receipts reach ECs through this queue.
    standin_container: str = Field(
        default="standin",
        description="Cosmos DB container of stand-in payments, stations' modes and traffic "
        "counters.",
    )
    standin_receipts_queue: str = Field(
        default="standin-receipts",
        description="Service Bus queue of receipts on their way to creditor institutions.",
    )
    standin_token_minutes: int = Field(
        default=30,
        ge=1,
        le=24 * 60,
        description="Lifetime of the payment token issued when a payment is activated, in minutes.",
    )
    standin_station_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Timeout of one call to a creditor institution's station, in seconds.",
    )
    standin_window_minutes: int = Field(
        default=30,
        ge=5,
        le=24 * 60,
        multiple_of=5,
        description="Traffic window weighed to decide whether a station enters stand-in, in "
        "minutes (whole 5-minute slots).",
    )
    standin_fault_rate: float = Field(
        default=0.5,
        ge=0,
        lt=1,
        description="Share of failed calls above which a 5-minute slot counts as faulty.",
    )
    standin_faulty_slots: float = Field(
        default=0.5,
        ge=0,
        lt=1,
        description="Share of the window's slots that must be faulty for a station to enter "
        "stand-in.",
    )
    standin_day_traffic_share: float = Field(
        default=0.05,
        ge=0,
        lt=1,
        description="Share of all forwarded traffic a faulty station must exceed to enter "
        "stand-in, from 06:00 to 22:00 Europe/Rome.",
    )
    standin_night_traffic_share: float = Field(
        default=0.10,
        ge=0,
        lt=1,
        description="The same share from 22:00 to 06:00 Europe/Rome.",
    )
    standin_receipt_max_attempts: int = Field(
        default=48,
        ge=1,
        le=500,
        description="Times a receipt is re-sent for later while its station is down, before "
        "it becomes failed work (this queue's RESCHEDULE_MAX_ATTEMPTS).",
    )
    standin_evaluate_schedule: Ncrontab = Field(
        default="0 */5 * * * *",
        description="When the timer standin_evaluate probes stations in stand-in and applies "
        "the entry and exit rules (which count 5-minute slots).",
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

    # Wallet: onboarding through the configured PSP's hosted page.
    wallet_psp_id: str = Field(
        default="DEMOPSP",
        min_length=1,
        description="Id of the PSP whose hosted page onboards citizens' instruments.",
    )
    wallet_psp_base_url: str = Field(
        default="http://127.0.0.1:7090",
        description="Base URL of that PSP's API (the PSP simulator locally).",
    )
    wallet_psp_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=30,
        description="Timeout of one call to the PSP, in seconds.",
    )
    wallet_return_url: str = Field(
        default="https://app-backend.local.dev/wallet/onboarding",
        description="Where the PSP's hosted page sends the citizen back after onboarding.",
    )
    wallet_notification_url: str | None = Field(
        default=None,
        description="Where the PSP posts onboarding outcomes; empty: this app's own URL as called.",
    )
    wallet_session_minutes: int = Field(
        default=30,
        ge=1,
        le=24 * 60,
        description="Lifetime of an onboarding session, in minutes.",
    )
    wallet_max_instruments: int = Field(
        default=20,
        ge=1,
        le=100,
        description="Most live payment instruments one citizen may hold.",
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
