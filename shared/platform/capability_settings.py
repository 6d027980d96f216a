"""The capabilities' settings: push, notices, cashback, stand-in and the wallet.

Part of the one :class:`~shared.platform.config.Settings` (which adds the platform's own and
checks them together), kept in a module of its own so each file stays readable. The platform
only declares these values; each capability parses what is specific to it (push hubs, cashback
periods) in its own package.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, AliasGenerator, BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# A field's setting is its name in capitals (``cosmos_endpoint`` -> ``COSMOS_ENDPOINT``); only
# names fixed by someone else (the Functions host, an SDK, the infra) are spelled out.
SETTINGS_CONFIG = SettingsConfigDict(
    case_sensitive=True,
    extra="ignore",
    frozen=True,
    alias_generator=AliasGenerator(validation_alias=str.upper),
)

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

# The party registry's id shape (shared/parties/models.py PARTY_ID), repeated here because the
# platform may not import the registry: an id no party can have is a typo, refused at start-up.
_PARTY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")] if value.strip() else []
    return value


def party_ids(value: frozenset[str]) -> frozenset[str]:
    """comma-separated party ids (empty: none).

    An empty item (``A,,B``, a trailing comma) is refused rather than skipped: it is more
    likely a lost id than a wish.
    """
    for item in value:
        if not _PARTY_ID.fullmatch(item):
            raise ValueError(f"{item!r} is not a party id (letters, digits, '.', '_', '-')")
    return value


PartyIds = Annotated[
    frozenset[str], NoDecode, BeforeValidator(_split_commas), AfterValidator(party_ids)
]
"""A set of party ids written as one comma-separated setting (``A_01,B_02``)."""


class CapabilitySettings(BaseSettings):
    """The capabilities' settings (see :class:`~shared.platform.config.Settings`)."""

    model_config = SETTINGS_CONFIG

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
        "blobs too (Azurite locally); unset in Azure, which uses the account name (the "
        "account name wins when both are set).",
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
    # Acquirers' files (docs/cashback-files.md): each acquirer's container in the files'
    # storage account (SFTP-enabled in Azure), a blob-created event per file on this queue.
    cashback_files_queue: str = Field(
        default="cashback-files",
        description="Service Bus queue of blob-created events of acquirers' files (Event Grid "
        "in Azure; the upload route and the SFTP server locally).",
    )
    cashback_files_storage_account: str = Field(
        default="",
        description="Name of the SFTP-enabled storage account holding acquirers' files (managed "
        "identity); empty: the host's storage (Azurite locally).",
    )
    cashback_files_container_prefix: str = Field(
        default="rtd-",
        pattern=r"^[a-z0-9][a-z0-9-]{0,20}$",
        description="Prefix of each acquirer's files container (then its party id in lower case).",
    )
    cashback_files_slice_seconds: float = Field(
        default=150.0,
        gt=0.0,
        le=240.0,
        description="How long the files worker works on one file per invocation before it "
        "records a checkpoint and continues in a new message: host.json's functionTimeout "
        "(5 minutes) cuts an invocation, and a resumed slice first re-reads the file up to its "
        "checkpoint, so keep it well under half of that.",
    )
    cashback_files_local_events: bool = Field(
        default=False,
        description="Local only: the upload route sends the blob-created event itself (in "
        "Azure, Event Grid does).",
    )
    cashback_pgp_private_key_secret: str = Field(
        default="cashback-pgp-private-key",
        description="Name of the secret (Key Vault; LOCAL_SECRETS locally) holding the "
        "platform's armored PGP private key that acquirers' files are encrypted to.",
    )
    cashback_pgp_passphrase_secret: str = Field(
        default="",
        description="Name of the secret holding that key's passphrase; empty: the key has none.",
    )
    cashback_hpan_salt: str = Field(
        default="",
        description="The salt PANs are hashed with (SHA-256 of PAN + salt), served to acquirers; "
        "not a secret of the app: PSPs and acquirers hold it.",
    )
    cashback_lists_blob_container: str = Field(
        default="cashback-lists",
        description="Blob container, in the host's storage account, of the list of hashed PANs "
        "served to acquirers.",
    )
    cashback_hpan_list_schedule: Ncrontab = Field(
        default="0 0 1 * * *",
        description="When the timer cashback_hpan_list writes the list of hashed PANs enabled "
        "for cashback.",
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
