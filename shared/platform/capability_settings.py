"""The capabilities' settings: push, notices and cashback here, the payment side (stand-in,
payments, journal, wallet) in :mod:`shared.platform.payment_settings`.

Part of the one :class:`~shared.platform.config.Settings` (which adds the platform's own and
checks them together), kept in modules of their own so each file stays readable. The platform
only declares these values; each capability parses what is specific to it (push hubs, cashback
periods) in its own package.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from shared.platform.payment_settings import PaymentSettings
from shared.platform.settings_types import SETTINGS_CONFIG, Ncrontab


class ServiceSettings(BaseSettings):
    """Push, notices and cashback settings."""

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


class CapabilitySettings(PaymentSettings, ServiceSettings):
    """The capabilities' settings (see :class:`~shared.platform.config.Settings`); the service
    side's fields come first, as the settings' documentation lists them."""

    model_config = SETTINGS_CONFIG
