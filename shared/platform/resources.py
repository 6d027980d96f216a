"""What the app needs to exist: Cosmos containers and Service Bus queues.

The local platform creates exactly these at start-up and the infra declares the same; both read
the names from :class:`shared.platform.config.Settings`, so the definitions live only here.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.platform.config import Settings
from shared.platform.cosmos import ContainerSpec

CONTAINERS: tuple[ContainerSpec, ...] = (
    ContainerSpec("parties_container", "/id"),
    ContainerSpec("failed_work_container", "/id"),
    ContainerSpec("wallet_container", "/pk"),
    ContainerSpec("push_installations_container", "/id"),
    ContainerSpec("cashback_container", "/pk"),
    ContainerSpec("notices_container", "/pk"),
    ContainerSpec("notice_bulks_container", "/pk"),
    ContainerSpec("standin_container", "/pk"),
)

_WITH_OUTBOX = ("wallet_container", "cashback_container", "standin_container")
#: Settings field of each container whose documents have an outbox -> its partition key path.
OUTBOX_CONTAINERS: dict[str, str] = {
    c.setting: c.partition_key for c in CONTAINERS if c.setting in _WITH_OUTBOX
}


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
    QueueSpec("iban_check_queue"),
    QueueSpec("notices_queue"),
    QueueSpec("standin_receipts_queue"),
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
