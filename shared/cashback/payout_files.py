"""Where the payout job's files go: payment lists written once, listings overwritten, in one
Blob container (the job's port, :class:`PayoutFiles`, and its Azure adapter). The container
exists already: the infra declares it (and the local platform creates it), since the app's
identity has data-plane rights only (shared/platform/resources.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob.aio import BlobServiceClient

from shared.platform.storage import guarded_blob


class PayoutFiles(Protocol):
    async def write_once(self, name: str, data: bytes) -> bool:
        """Create ``name``; False if it exists already (nothing is overwritten)."""
        ...

    async def read(self, name: str) -> bytes | None:
        """What ``name`` holds; None if it does not exist."""
        ...

    async def write(self, name: str, data: bytes) -> None:
        """Create or overwrite ``name`` (listings, never payment lists)."""
        ...


class AzurePayoutFiles:
    """Payout files in one container of the process's shared BlobServiceClient."""

    def __init__(
        self, service: Callable[[], BlobServiceClient], container: str, timeout: float = 60.0
    ) -> None:
        self._service = service
        self._container = container
        self._timeout = timeout

    async def read(self, name: str) -> bytes | None:
        blob = self._service().get_blob_client(self._container, name)
        try:
            async with guarded_blob(self._timeout):
                downloaded = await blob.download_blob()
                data: bytes = await downloaded.readall()
        except ResourceNotFoundError:
            return None
        return data

    async def write(self, name: str, data: bytes) -> None:
        container = self._service().get_container_client(self._container)
        async with guarded_blob(self._timeout):
            await container.get_blob_client(name).upload_blob(
                data, overwrite=True, length=len(data)
            )

    async def write_once(self, name: str, data: bytes) -> bool:
        container = self._service().get_container_client(self._container)
        try:
            async with guarded_blob(self._timeout):
                await container.get_blob_client(name).upload_blob(
                    data, overwrite=False, length=len(data)
                )
        except ResourceExistsError:
            return False
        return True
