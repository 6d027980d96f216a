"""Local Service Bus: an in-memory AMQP 1.0 broker standing in for Azure Service Bus queues.

The official Service Bus emulator needs Docker; this is a small broker on ``rhea``
(``broker.js`` next to this file) that speaks the subset of the protocol the real
``azure-servicebus`` SDK uses, sync ``ServiceBusClient`` and ``azure.servicebus.aio`` alike.

Clients connect with :func:`connection_string`::

    Endpoint=sb://127.0.0.1:<port>;SharedAccessKeyName=RootManageSharedAccessKey;
        SharedAccessKey=<DEV_KEY>;UseDevelopmentEmulator=true

``UseDevelopmentEmulator=true`` (lower-case ``true``: the SDK compares it exactly) makes the SDK
use plain AMQP without TLS and keep the port of the endpoint, so no custom endpoint or extra
keyword is needed: ``ServiceBusClient.from_connection_string(connection_string(port))``.

Behaviour worth knowing when comparing with the cloud service:

* ``ServiceBusReceivedMessage.delivery_count`` is 0 on the first delivery and grows by one on
  every abandon or lock expiry (not on release). That is what the service sends (the AMQP
  header counts earlier failed attempts) and the Python SDK passes it through unchanged, as the
  SDK's own live tests assert. The .NET SDK, and so the Functions host, adds one: a function
  sees ``delivery_count == 1`` on the first delivery.
* A message is dead-lettered (``MaxDeliveryCountExceeded``) once it has failed
  ``maxDeliveryCount`` deliveries.
* When a receiver's link or connection goes away, the messages it holds stay locked until their
  lock expires, as on the service. (The SDK itself releases what it prefetched when it closes.)
* Duplicate detection is on for every queue (window ``duplicateDetectionWindowSeconds``; 0 turns
  it off): a second message with the same ``message_id`` is accepted and silently dropped.
* Dev clock: with ``clock_file``, the broker's "now" is the wall clock plus ``offsetMs`` from that
  JSON file (``{"offsetMs": 3600000}``), re-read within ~100 ms of a change. Scheduled
  messages, lock expiry, enqueued times and duplicate-detection windows all follow it. Use
  :func:`set_clock_offset` to write it.
* Not supported: topics and subscriptions, sessions, message time-to-live expiry, transactions,
  the HTTP management API (``ServiceBusAdministrationClient``), TLS and authorization (any
  token is accepted).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from local.process import Child

__all__ = [
    "BROKER_JS",
    "DEV_KEY",
    "DEV_KEY_NAME",
    "connection_string",
    "set_clock_offset",
    "start_broker",
]

BROKER_JS = Path(__file__).resolve().with_name("broker.js")

#: Well-known, deliberately fake key for the local broker (it accepts any token anyway).
DEV_KEY = "LocalDevServiceBusKey-NotASecret-DoNotUseOutsideLocal="
DEV_KEY_NAME = "RootManageSharedAccessKey"


def connection_string(port: int, *, host: str = "127.0.0.1") -> str:
    """The connection string the SDK uses to reach a local broker listening on ``port``."""
    return (
        f"Endpoint=sb://{host}:{port};SharedAccessKeyName={DEV_KEY_NAME};"
        f"SharedAccessKey={DEV_KEY};UseDevelopmentEmulator=true"
    )


def set_clock_offset(clock_file: Path, offset_ms: int) -> None:
    """Move the broker's dev clock to wall clock + ``offset_ms`` (atomic write of the file)."""
    clock_file = Path(clock_file)
    clock_file.parent.mkdir(parents=True, exist_ok=True)
    temporary = clock_file.with_name(f".{clock_file.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"offsetMs": int(offset_ms)}))
    os.replace(temporary, clock_file)


def _node() -> str:
    return os.environ.get("NODE") or shutil.which("node") or "node"


def start_broker(
    *,
    queues: list[dict[str, Any]] | None = None,
    clock_file: Path | None = None,
    auto_create: bool = True,
    port: int = 0,
    ready_timeout: float = 30.0,
) -> Child:
    """Start the broker and wait until it listens; ``.port`` is where it listens on 127.0.0.1.

    ``queues`` entries look like ``{"name": "wallet-events", "maxDeliveryCount": 10,
    "lockDurationSeconds": 60, "duplicateDetectionWindowSeconds": 600}`` (all but ``name``
    optional). Queues not listed are created with those defaults on first use unless
    ``auto_create`` is false. Then, as on the service, the CBS token for a missing queue is
    refused with status 404, which the SDK raises as ``ServiceBusAuthenticationError``; a
    client that skips CBS gets ``amqp:not-found`` on attach. Stop it with ``.stop()``.
    """
    argv = [_node(), str(BROKER_JS), "--port", str(port)]
    if clock_file is not None:
        argv += ["--clock-file", str(clock_file)]
    if not auto_create:
        argv.append("--no-auto-create")
    queues_file: Path | None = None
    if queues:
        handle, name = tempfile.mkstemp(prefix="servicebus-queues-", suffix=".json")
        queues_file = Path(name)
        with os.fdopen(handle, "w") as out:
            json.dump(queues, out)
        argv += ["--queues", str(queues_file)]
    try:
        # The broker reads the queues file before it says READY, so it can go afterwards.
        return Child("servicebus", argv, ready_timeout=ready_timeout)
    finally:
        if queues_file is not None:
            queues_file.unlink(missing_ok=True)
