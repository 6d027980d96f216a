"""An SFTP server standing for Azure's SFTP-enabled storage account, on asyncssh.

Each local user is an acquirer (its party id in lower case) whose home directory is its
container, ``<prefix><user>``, as Azure's local users are set up (infra/). A file written and
closed is uploaded as a blob of that container, and the blob-created event that Event Grid
would send is sent to the files queue: the same event the HTTPS upload sends locally, so both
paths reach the same processing. Files are staged in a private temporary directory per user
(only files at the home's top level are delivered, as the intake expects).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncssh
from azure.core.exceptions import ResourceExistsError
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient
from azure.storage.blob.aio import BlobServiceClient

from shared.cashback.file_intake import blob_created_event, event_message

logger = logging.getLogger(__name__)


class Delivery:
    """Uploads a closed file as a blob and announces it on the files queue."""

    def __init__(
        self,
        *,
        storage: str,
        servicebus: str,
        queue: str,
        prefix: str,
        now: Callable[[], datetime],
    ) -> None:
        self._blobs = BlobServiceClient.from_connection_string(storage)
        self._bus = ServiceBusClient.from_connection_string(servicebus)
        self._queue = queue
        self._prefix = prefix
        self._now = now

    async def deliver(self, user: str, name: str, path: Path) -> None:
        container = f"{self._prefix}{user}"
        with contextlib.suppress(ResourceExistsError):
            await self._blobs.create_container(container)
        blob = self._blobs.get_blob_client(container, name)
        with path.open("rb") as data:
            await blob.upload_blob(data, overwrite=True)  # Azure's SFTP overwrites too
        event = blob_created_event(container, name, self._now(), blob.url)
        message = event_message(event)
        async with self._bus.get_queue_sender(self._queue) as sender:
            await sender.send_messages(
                ServiceBusMessage(message.body, message_id=message.message_id)
            )
        logger.info("delivered %s/%s", container, name)

    async def close(self) -> None:
        await self._blobs.close()
        await self._bus.close()


class _Server(asyncssh.SSHServer):
    def __init__(self, users: dict[str, str]) -> None:
        self._users = users

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        expected = self._users.get(username)
        return expected is not None and password == expected


def _sftp_factory(staging: Path, delivery: Delivery) -> Callable[..., asyncssh.SFTPServer]:
    class _Home(asyncssh.SFTPServer):
        """A user's home: the staging directory, delivered on every close of a written file."""

        def __init__(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
            self._user = str(chan.get_extra_info("username"))
            home = staging / self._user
            home.mkdir(mode=0o700, exist_ok=True)
            self._home = home
            self._written: dict[int, Path] = {}
            super().__init__(chan, chroot=os.fsencode(home))

        def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> Any:
            handle = super().open(path, pflags, attrs)
            if pflags & asyncssh.FXF_WRITE:
                self._written[id(handle)] = Path(os.fsdecode(self.map_path(path)))
            return handle

        async def close(self, file_obj: Any) -> None:
            super().close(file_obj)
            written = self._written.pop(id(file_obj), None)
            if written is not None and written.parent == self._home:
                await delivery.deliver(self._user, written.name, written)
                written.unlink(missing_ok=True)

    return _Home


async def serve(
    *, host: str, port: int, users: dict[str, str], delivery: Delivery
) -> asyncssh.SSHAcceptor:
    """Listen on ``host``:``port`` (0: any free port) with a host key of its own."""
    staging = Path(tempfile.mkdtemp(prefix="cs-sftp-"))
    key = asyncssh.generate_private_key("ssh-ed25519")
    return await asyncssh.listen(
        host,
        port,
        server_host_keys=[key],
        server_factory=lambda: _Server(users),
        sftp_factory=_sftp_factory(staging, delivery),
        allow_scp=False,
    )
