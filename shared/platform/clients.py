"""Process-wide lazy clients: one Cosmos client, one Service Bus client (with one sender per
queue) and one aiohttp session per external service, created inside the running event loop on
first use, reused by every invocation and closed on shutdown.

Creating a client or a session anywhere else is a defect: the outage this project replaces was
a client that opened a new connection per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from azure.core.pipeline.transport import AioHttpTransport
from azure.cosmos.aio import ContainerProxy, CosmosClient
from azure.servicebus.aio import ServiceBusClient, ServiceBusSender
from azure.storage.blob.aio import BlobServiceClient

from shared.platform.config import Settings, get_settings
from shared.platform.errors import ConfigurationError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionSpec:
    """How the shared session to one external service is built."""

    limit: int = 100
    limit_per_host: int = 100
    keepalive_timeout: float = 60.0
    total_timeout: float = 10.0
    connect_timeout: float = 3.0


class Clients:
    """The clients of one worker process. Use :func:`get_clients`; tests may build their own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._credential: Any = None
        self._cosmos: CosmosClient | None = None
        self._servicebus: ServiceBusClient | None = None
        self._blob: BlobServiceClient | None = None
        self._senders: dict[str, ServiceBusSender] = {}
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._sender_locks: dict[str, asyncio.Lock] = {}

    def azure_credential(self) -> Any:
        if self._credential is None:
            from azure.identity.aio import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
        return self._credential

    def cosmos(self) -> CosmosClient:
        """The process's Cosmos client (key locally, managed identity in Azure)."""
        if self._cosmos is None:
            s = self.settings
            credential = s.cosmos_key or self.azure_credential()
            # use_env_settings=False: azure-core otherwise reads .netrc and proxy variables on
            # every request, about half of a point read's CPU here; Functions use no proxy.
            self._cosmos = CosmosClient(
                s.cosmos_endpoint,
                credential=credential,
                transport=AioHttpTransport(use_env_settings=False),
                enable_endpoint_discovery=s.cosmos_endpoint_discovery,
                connection_timeout=s.cosmos_timeout_seconds,
            )
        return self._cosmos

    def container(self, name: str) -> ContainerProxy:
        return (
            self.cosmos()
            .get_database_client(self.settings.cosmos_database)
            .get_container_client(name)
        )

    def servicebus(self) -> ServiceBusClient:
        if self._servicebus is None:
            s = self.settings
            if s.servicebus_connection:
                self._servicebus = ServiceBusClient.from_connection_string(s.servicebus_connection)
            else:
                assert s.servicebus_namespace is not None
                self._servicebus = ServiceBusClient(s.servicebus_namespace, self.azure_credential())
        return self._servicebus

    def blob_service(self) -> BlobServiceClient:
        """The process's Blob client: the account by managed identity in Azure, the storage
        connection string locally (Azurite).

        The identity wins when both are set: a platform that writes its own
        ``AzureWebJobsStorage`` beside the identity settings (azurerm's Flex Consumption
        resource writes one with an empty key, issue 29693) must not make the app use a
        key the account refuses.
        """
        if self._blob is None:
            s = self.settings
            if s.storage_account:
                self._blob = BlobServiceClient(
                    f"https://{s.storage_account}.blob.core.windows.net",
                    credential=self.azure_credential(),
                )
            elif s.storage_connection:
                self._blob = BlobServiceClient.from_connection_string(s.storage_connection)
            else:
                raise ConfigurationError(
                    "Blob storage is not configured: set "
                    "AzureWebJobsStorage (a connection string) or "
                    "AzureWebJobsStorage__accountName"
                )
        return self._blob

    @contextlib.asynccontextmanager
    async def sending(self, queue: str) -> AsyncIterator[ServiceBusSender]:
        """The one shared sender of ``queue``, held alone for the block.

        The SDK's senders are not coroutine-safe: concurrent sends on one sender interleave
        AMQP frames (and race in its lazy open), so invocations take turns; a send is a few
        milliseconds and fan-outs go in batches.
        """
        sender = self._senders.get(queue)
        if sender is None:
            sender = self.servicebus().get_queue_sender(queue)
            self._senders[queue] = sender
            self._sender_locks[queue] = asyncio.Lock()
        async with self._sender_locks[queue]:
            yield sender

    def session(self, service: str, spec: SessionSpec | None = None) -> aiohttp.ClientSession:
        """The one keep-alive session to ``service``; ``spec`` applies when it is first built."""
        session = self._sessions.get(service)
        if session is None or session.closed:
            spec = spec or SessionSpec()
            connector = aiohttp.TCPConnector(
                limit=spec.limit,
                limit_per_host=spec.limit_per_host,
                keepalive_timeout=spec.keepalive_timeout,
                enable_cleanup_closed=True,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=spec.total_timeout, connect=spec.connect_timeout
                ),
            )
            self._sessions[service] = session
        return session

    async def close(self) -> None:
        """Close everything this process opened (shutdown)."""
        # a background send (an outbox's flush) may open a sender while these close: close a
        # snapshot, then whatever came in meanwhile
        while self._senders:
            senders = list(self._senders.values())
            self._senders.clear()
            for sender in senders:
                await sender.close()
        if self._servicebus is not None:
            await self._servicebus.close()
            self._servicebus = None
        if self._cosmos is not None:
            await self._cosmos.close()
            self._cosmos = None
        if self._blob is not None:
            await self._blob.close()
            self._blob = None
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
        if self._credential is not None:
            await self._credential.close()
            self._credential = None


_clients: Clients | None = None


def get_clients() -> Clients:
    """The clients of this worker process, built on first use."""
    global _clients
    if _clients is None:
        _clients = Clients(get_settings())
    return _clients


async def close_clients() -> None:
    global _clients
    if _clients is not None:
        await _clients.close()
        _clients = None
