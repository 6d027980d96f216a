"""The payment side's settings: stand-in, payments, the journal and the wallet (part of
:class:`~shared.platform.config.Settings`, through
:class:`~shared.platform.capability_settings.CapabilitySettings`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from shared.platform.settings_types import SETTINGS_CONFIG, Ncrontab, PartyIds


class PaymentSettings(BaseSettings):
    """Stand-in, payments, journal and wallet settings."""

    model_config = SETTINGS_CONFIG

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
    standin_excluded_stations: PartyIds = Field(
        default=frozenset(),
        description="Stations the manager never puts in stand-in, however faulty (pagoPA's "
        "EXCLUDED_STATIONS); an operator may still force them in.",
    )
    standin_evaluate_schedule: Ncrontab = Field(
        default="0 */5 * * * *",
        description="When the timer standin_evaluate probes stations in stand-in and applies "
        "the entry and exit rules (which count 5-minute slots).",
    )

    # Payments: citizens' notices (the per-debtor index), payment transactions and receipts
    # live in one container partitioned by /pk.
    payments_container: str = Field(
        default="payments",
        description="Cosmos DB container of the citizens' notice index, payment transactions "
        "and receipts.",
    )
    payments_psp_id: str = Field(
        default="DEMOPSP",
        min_length=1,
        description="Party id of the PSP the app acts as at the node when citizens pay notices "
        "(a PSP of the party registry: it verifies, activates and reports outcomes).",
    )
    payments_psp_fees: str = Field(
        default='{"DEMOPSP": 100}',
        min_length=2,
        description="The fee each PSP charges a citizen for paying a notice: a JSON object of PSP "
        "party ids to euro cents, shown before the citizen confirms.",
    )
    payments_stuck_seconds: int = Field(
        default=120,
        ge=30,
        le=3600,
        description="How long a payment in flight (charged, outcome not yet reported) waits "
        "before the payments_reconcile timer finishes it from the gateway's state, in seconds.",
    )
    payments_reconcile_schedule: Ncrontab = Field(
        default="0 * * * * *",
        description="When the timer payments_reconcile finishes payments a crash or a timeout "
        "left in flight (completes or refunds them from the gateway's state).",
    )
    payments_crash_after_charge: bool = Field(
        default=False,
        description="Local crash tests only: the process exits right after the gateway "
        "answers a charge (before the outcome). Refused in Azure (WEBSITE_SITE_NAME set).",
    )
    # A receipt's PDF is rendered once, on its first download, and served from here afterwards.
    payments_receipts_blob_container: str = Field(
        default="payments-receipts",
        description="Blob container, in the host's storage account, keeping citizens' receipt "
        "PDFs (rendered once, on the first download).",
    )
    payments_notices_queue: str = Field(
        default="payments-notices",
        description="Service Bus queue of the archive's notice events for the citizens' "
        "per-debtor notice index.",
    )
    backoffice_positions_queue: str = Field(
        default="backoffice-positions",
        description="Service Bus queue of the archive's notice events for the back office's "
        "EC-scoped positions index (one partition per EC in the notices container).",
    )
    backoffice_print_queue: str = Field(
        default="backoffice-print",
        description="Service Bus queue of the back office's print jobs (a batch of paper "
        "notices rendered by a queue worker into a blob).",
    )
    backoffice_print_blob_container: str = Field(
        default="backoffice-print",
        description="Blob container, in the host's storage account, keeping the back office's "
        "print jobs: each job's state and its PDF, read through a short-lived link.",
    )

    # Journal: the back office's append-only event journal (docs/journal.md).
    journal_container: str = Field(
        default="journal",
        description="Cosmos DB container of the event journal, partitioned by /pk "
        "(journal:<EC>:<yyyy-mm>).",
    )
    journal_queue: str = Field(
        default="journal",
        description="Service Bus queue of the events the journal records (the archive's "
        "notice events among them).",
    )
    journal_retention_days: int = Field(
        default=3650,
        ge=1,
        le=36500,
        description="How long a journal entry is kept, in days (its Cosmos DB ttl); then it "
        "expires on its own. Nothing else ever changes or removes an entry.",
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
        description="The base of the routes where the payment gateway posts onboarding outcomes "
        "(this app's /api/v1/wallets; /{walletId}/sessions/{orderId}/notifications is appended): "
        "https (http only to this machine), no query. Configuration only, never taken from a "
        "request; empty, no session opens and /api/health reports it (the infra sets this app's "
        "own address, the dev host its own).",
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
