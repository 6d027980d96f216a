"""Where acquirers' files land: one Blob container per acquirer, in the files' storage account.

In Azure that account is SFTP-enabled, with a local user per acquirer whose home is its
container (infra/); the HTTPS upload writes to the same place. Locally it is Azurite, and the
SFTP server of ``local/sftp`` writes there too. A container is named after the acquirer's party
id (:func:`container_for`), so the worker knows who delivered a file from where it landed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import IO, Protocol

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobSasPermissions, generate_blob_sas
from azure.storage.blob.aio import BlobServiceClient

from shared.platform.errors import Conflict, NotFound
from shared.platform.storage import guarded_blob

BLOB_TIMEOUT_SECONDS = 120.0
"""One call (a block of a download, an upload of up to the HTTPS cap): generous, bounded."""
READ_BLOCK = 1024 * 1024
"""A file is read by ranges of this many bytes."""
READ_URL_MINUTES = 15
"""How long a download URL (a redirect's target) reads its blob."""
FILE_PARTY = re.compile(r"^[A-Z0-9]{3,40}$")
"""The party id of an acquirer that delivers files: its container's name is made from it."""


def container_for(prefix: str, party_id: str) -> str | None:
    """The container of ``party_id``'s files (None: its id cannot name one)."""
    return f"{prefix}{party_id.lower()}" if FILE_PARTY.fullmatch(party_id) else None


def party_of(prefix: str, container: str) -> str | None:
    """Whose container this is (None: not an acquirer's files container)."""
    if not container.startswith(prefix):
        return None
    party_id = container[len(prefix) :].upper()
    return party_id if FILE_PARTY.fullmatch(party_id) else None


class FileBlobs(Protocol):
    def read(self, container: str, name: str) -> AsyncIterator[bytes]:
        """The blob's bytes, a block at a time; NotFound if it does not exist."""
        ...

    async def create(self, container: str, name: str, data: bytes) -> None:
        """Store a new blob (creating the container if needed); Conflict if it exists."""
        ...

    async def put(
        self, container: str, name: str, data: IO[bytes], metadata: dict[str, str] | None = None
    ) -> None:
        """Store ``data`` as the blob ``name`` (replacing it), with ``metadata``."""
        ...

    def url(self, container: str, name: str) -> str:
        """The blob's URL (no access granted: events name blobs by it)."""
        ...

    async def read_url(self, container: str, name: str, *, now: datetime) -> str:
        """A URL reading the blob for :data:`READ_URL_MINUTES`, for a redirect."""
        ...

    async def get(self, container: str, name: str) -> bytes:
        """The whole (small) blob; NotFound if it does not exist."""
        ...

    async def exists(self, container: str, name: str) -> bool:
        """Whether the blob exists."""
        ...

    async def delete(self, container: str, name: str) -> None:
        """Delete the blob if it exists."""
        ...


class AzureFileBlobs:
    """:class:`FileBlobs` on a BlobServiceClient (the files' account, or Azurite)."""

    def __init__(
        self, service: Callable[[], BlobServiceClient], timeout: float = BLOB_TIMEOUT_SECONDS
    ) -> None:
        self._service = service
        self._timeout = timeout

    async def read(self, container: str, name: str) -> AsyncIterator[bytes]:
        # By ranges of READ_BLOCK: a plain download holds its first 32 MB (the SDK's single-get
        # size) in memory, which would make a worker's memory grow with the file.
        blob = self._service().get_blob_client(container, name)
        try:
            async with guarded_blob(self._timeout):
                size = (await blob.get_blob_properties()).size
        except ResourceNotFoundError:
            raise NotFound(f"no file {name!r}") from None
        for offset in range(0, size, READ_BLOCK):
            async with guarded_blob(self._timeout):
                part = await blob.download_blob(
                    offset=offset, length=min(READ_BLOCK, size - offset)
                )
                data = await part.readall()
            yield data

    async def create(self, container: str, name: str, data: bytes) -> None:
        blob = self._service().get_blob_client(container, name)
        for attempt in (1, 2):
            try:
                async with guarded_blob(self._timeout):
                    await blob.upload_blob(data, overwrite=False, length=len(data))
                return
            except ResourceExistsError:
                raise Conflict(f"{name!r} was delivered already: send a new file number") from None
            except ResourceNotFoundError:
                if attempt == 2:
                    raise
                # the acquirer's first file: its container is created on the way
                try:
                    async with guarded_blob(self._timeout):
                        await self._service().create_container(container)
                except ResourceExistsError:
                    pass

    async def put(
        self, container: str, name: str, data: IO[bytes], metadata: dict[str, str] | None = None
    ) -> None:
        blob = self._service().get_blob_client(container, name)
        async with guarded_blob(self._timeout):
            await blob.upload_blob(data, overwrite=True, metadata=metadata)

    def url(self, container: str, name: str) -> str:
        return str(self._service().get_blob_client(container, name).url)

    async def read_url(self, container: str, name: str, *, now: datetime) -> str:
        service = self._service()
        blob = service.get_blob_client(container, name)
        expiry = now + timedelta(minutes=READ_URL_MINUTES)
        key = getattr(service.credential, "account_key", None)
        if key is not None:  # a connection string's key: Azurite locally
            sas = generate_blob_sas(
                service.account_name or "",
                container,
                name,
                account_key=key,
                permission=BlobSasPermissions(read=True),
                expiry=expiry,
            )
        else:  # managed identity: a user delegation SAS, no account key anywhere
            async with guarded_blob(self._timeout):
                delegation = await service.get_user_delegation_key(now, expiry)
            sas = generate_blob_sas(
                service.account_name or "",
                container,
                name,
                user_delegation_key=delegation,
                permission=BlobSasPermissions(read=True),
                expiry=expiry,
            )
        return f"{blob.url}?{sas}"

    async def exists(self, container: str, name: str) -> bool:
        blob = self._service().get_blob_client(container, name)
        async with guarded_blob(self._timeout):
            return bool(await blob.exists())

    async def delete(self, container: str, name: str) -> None:
        blob = self._service().get_blob_client(container, name)
        with contextlib.suppress(ResourceNotFoundError):
            async with guarded_blob(self._timeout):
                await blob.delete_blob()

    async def get(self, container: str, name: str) -> bytes:
        blob = self._service().get_blob_client(container, name)
        try:
            async with guarded_blob(self._timeout):
                downloader = await blob.download_blob()
                return await downloader.readall()
        except ResourceNotFoundError:
            raise NotFound(f"no file {name!r}") from None
