"""Where bulk uploads are kept while they are processed: a Blob container.

The HTTP trigger stores each upload once (as NDJSON); every chunk's queue message names a byte
range of it, which the worker downloads alone.
"""

from __future__ import annotations

from typing import Protocol

from azure.core.exceptions import (
    ResourceNotFoundError,
)

from shared.platform.storage import BlobContainer, guarded_blob

BLOB_TIMEOUT_SECONDS = 60.0
"""An upload is at most 20 MB: generous, but bounded."""


class BlobMissing(Exception):
    """The named blob does not exist (deleted, or never stored)."""


class BlobStore(Protocol):
    async def put(self, name: str, data: bytes) -> None:
        """Store ``data`` as ``name`` (replacing it)."""
        ...

    async def get_range(self, name: str, offset: int, length: int) -> bytes:
        """``length`` bytes of ``name`` from ``offset``; BlobMissing if there is no such blob."""
        ...


class AzureBlobs(BlobContainer):
    """A :class:`BlobStore` on one container of the process's shared BlobServiceClient."""

    timeout_seconds = BLOB_TIMEOUT_SECONDS

    async def put(self, name: str, data: bytes) -> None:
        blob = self._blob(name)
        async with guarded_blob(self._timeout):
            await blob.upload_blob(data, overwrite=True, length=len(data))

    async def get_range(self, name: str, offset: int, length: int) -> bytes:
        if length == 0:
            return b""
        blob = self._blob(name)
        try:
            async with guarded_blob(self._timeout):
                downloader = await blob.download_blob(offset=offset, length=length)
                data: bytes = await downloader.readall()
        except ResourceNotFoundError:
            raise BlobMissing(name) from None
        return data
