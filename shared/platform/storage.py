"""Blob storage calls: the guard that bounds a call and maps outages to DependencyError."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from azure.core.exceptions import HttpResponseError

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
