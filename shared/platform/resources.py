"""What the app needs to exist: Cosmos containers, Service Bus queues and Blob containers.

The local platform creates exactly these at start-up and the infra declares the same (in Azure
the app's identity has data-plane rights only, so nothing is created at run time); both read
the names from :class:`shared.platform.config.Settings`, so the definitions live only here.
``tests/infra`` evaluates both IaC flavours' resources against this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.platform.config import Settings

TTL_ON_PER_DOCUMENT = -1
"""A container's default TTL that turns expiry on without expiring anything by default: only
documents carrying their own ``ttl`` expire (Cosmos DB ignores a document's ``ttl`` when the
container's default TTL is unset)."""


@dataclass(frozen=True)
class ContainerSpec:
    """A Cosmos container the app needs: the settings field naming it, its partition key path
    and its default TTL (None: off, documents never expire)."""

    setting: str
    partition_key: str
    default_ttl: int | None = None


CONTAINERS: tuple[ContainerSpec, ...] = (
    ContainerSpec("parties_container", "/id"),
    ContainerSpec("failed_work_container", "/id"),
    # Finished instruments and onboarding sessions carry a ttl (shared/wallet/service.py).
    ContainerSpec("wallet_container", "/pk", default_ttl=TTL_ON_PER_DOCUMENT),
    ContainerSpec("push_installations_container", "/id"),
    ContainerSpec("cashback_container", "/pk"),
    ContainerSpec("notices_container", "/pk"),
    ContainerSpec("notice_bulks_container", "/pk"),
    ContainerSpec("standin_container", "/pk"),
    ContainerSpec("payments_container", "/pk", default_ttl=TTL_ON_PER_DOCUMENT),
    # Journal entries carry the ttl of JOURNAL_RETENTION_DAYS (shared/journal/store.py).
    ContainerSpec("journal_container", "/pk", default_ttl=TTL_ON_PER_DOCUMENT),
)

_WITH_OUTBOX = (
    "wallet_container",
    "cashback_container",
    "notices_container",
    "notice_bulks_container",  # a back-office upload's journal events (notices/bulk_journal)
    "standin_container",
    "payments_container",
)
#: Settings field of each container whose documents have an outbox -> its partition key path.
OUTBOX_CONTAINERS: dict[str, str] = {
    c.setting: c.partition_key for c in CONTAINERS if c.setting in _WITH_OUTBOX
}


@dataclass(frozen=True)
class BlobContainerSpec:
    """A Blob container the app writes to, in the host's storage account: the settings field
    naming it, and how many days after its last change a blob is deleted (the IaC's lifecycle
    rule; None: kept)."""

    setting: str
    expire_after_days: int | None = None


BLOB_CONTAINERS: tuple[BlobContainerSpec, ...] = (
    BlobContainerSpec("notices_blob_container"),  # bulk uploads, read back chunk by chunk
    BlobContainerSpec("cashback_payouts_blob_container"),  # payout lists (CSV)
    BlobContainerSpec("cashback_lists_blob_container"),  # hashed PANs for acquirers
    BlobContainerSpec("payments_receipts_blob_container"),  # citizens' receipt PDFs
    # print jobs and their PDFs (debtors' names and fiscal codes): a link lives 15 minutes,
    # the job a day for a second download, then the lifecycle rule deletes both
    BlobContainerSpec("backoffice_print_blob_container", expire_after_days=1),
)


@dataclass(frozen=True)
class QueueSpec:
    setting: str
    max_delivery_count_setting: str = "max_delivery_count"
    lock_seconds: int = 60
    duplicate_window_seconds: int = 600


QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec("wallet_events_queue"),
    QueueSpec("push_queue"),
    QueueSpec("cashback_transactions_queue"),
    QueueSpec("cashback_files_queue"),
    QueueSpec("iban_check_queue"),
    QueueSpec("notices_queue"),
    QueueSpec("standin_receipts_queue"),
    QueueSpec("payments_notices_queue"),
    QueueSpec("journal_queue"),
    QueueSpec("backoffice_positions_queue"),
    QueueSpec("backoffice_print_queue"),
)


def queue_definitions(settings: Settings) -> list[dict[str, object]]:
    """Queues in the form the local broker and the infra take."""
    return [
        {
            "name": getattr(settings, q.setting),
            "maxDeliveryCount": getattr(settings, q.max_delivery_count_setting),
            "lockDurationSeconds": q.lock_seconds,
            "duplicateDetectionWindowSeconds": q.duplicate_window_seconds,
        }
        for q in QUEUES
    ]


def blob_container_names(settings: Settings) -> list[str]:
    """The Blob containers' names in ``settings``."""
    return [getattr(settings, b.setting) for b in BLOB_CONTAINERS]
