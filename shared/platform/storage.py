"""Blob storage calls: the guard that bounds a call and maps outages to DependencyError."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import ClassVar

from azure.core.exceptions import HttpResponseError
from azure.storage.blob.aio import BlobClient, BlobServiceClient

from shared.platform.errors import DependencyError
from shared.platform.guard import UNREACHABLE, guard


def guarded_blob(timeout: float) -> AbstractAsyncContextManager[None]:
    """Bound a Blob call by ``timeout``; throttling (408, 429), 5xx, timeouts and connection
    failures become DependencyError. Statuses that mean something to the caller (404 missing,
    409 exists, 412) pass through unchanged."""
    return guard("blob", timeout, _blob_outage)


def _blob_outage(error: Exception) -> DependencyError | None:
    if isinstance(error, HttpResponseError):
        status = error.status_code
        if status is not None and (status >= 500 or status in (408, 429)):
            return DependencyError("blob", f"status {status}")
        return None
    if isinstance(error, UNREACHABLE):
        return DependencyError("blob", type(error).__name__)
    return None


class BlobContainer:
    """An adapter on one container of the process's shared BlobServiceClient (``service``
    returns it), each call bounded by ``timeout`` (default: the subclass's
    :attr:`timeout_seconds`, sized for what its calls move)."""

    timeout_seconds: ClassVar[float] = 60.0

    def __init__(
        self,
        service: Callable[[], BlobServiceClient],
        container: str,
        timeout: float | None = None,
    ) -> None:
        self._service = service
        self._container = container
        self._timeout = self.timeout_seconds if timeout is None else timeout

    def _blob(self, name: str) -> BlobClient:
        return self._service().get_blob_client(self._container, name)
