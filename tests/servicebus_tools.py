"""Reading and writing test queues with the real SDK (sync)."""

from __future__ import annotations

import json
import time
from typing import Any

from azure.servicebus import ServiceBusClient, ServiceBusMessage


def send(
    connection: str,
    queue: str,
    body: Any,
    *,
    message_id: str | None = None,
    properties: dict[str, Any] | None = None,
) -> None:
    with (
        ServiceBusClient.from_connection_string(connection) as client,
        client.get_queue_sender(queue) as sender,
    ):
        sender.send_messages(
            ServiceBusMessage(
                json.dumps(body),
                message_id=message_id,
                application_properties=properties,
                content_type="application/json",
            )
        )


def receive(
    connection: str, queue: str, count: int, *, timeout: float = 20.0, sub_queue: Any = None
) -> list[Any]:
    """Receive and complete up to ``count`` messages within ``timeout``; return them decoded."""
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    with (
        ServiceBusClient.from_connection_string(connection) as client,
        client.get_queue_receiver(queue, sub_queue=sub_queue) as receiver,
    ):
        while len(found) < count and time.monotonic() < deadline:
            wait = max(0.2, min(2.0, deadline - time.monotonic()))
            for message in receiver.receive_messages(
                max_message_count=count - len(found), max_wait_time=wait
            ):
                found.append(
                    {
                        "body": json.loads(b"".join(message.body)),
                        "message_id": message.message_id,
                        "properties": {
                            (k.decode() if isinstance(k, bytes) else k): (
                                v.decode() if isinstance(v, bytes) else v
                            )
                            for k, v in (message.application_properties or {}).items()
                        },
                        "dead_letter_reason": message.dead_letter_reason,
                    }
                )
                receiver.complete_message(message)
    return found
