"""The one error tree of Centro Stella.

::

    CentroStellaError
    ├── DomainError                 a rule said no; the caller can act on it (4xx)
    │   ├── Invalid                 400 (malformed) / 422 (well-formed but not acceptable)
    │   ├── Unauthorized            401 missing or unknown credential
    │   ├── Forbidden               403 valid credential, not allowed on this object
    │   ├── NotFound                404
    │   ├── Conflict                409
    │   ├── PreconditionFailed      412
    │   ├── PayloadTooLarge         413
    │   ├── Gone                    410
    │   ├── TooManyRequests         429 + Retry-After: the caller's own rate limit
    │   └── UpstreamFailed          502 / 504 a partner's system (an EC's station) failed
    ├── DependencyError             a dependency is throttling or down (503 + Retry-After)
    ├── ConfigurationError          a setting is missing or malformed (503 /health, 500 elsewhere)
    └── QueueWorkError              how a piece of queue work ends (never reaches HTTP)
        ├── TransientError          retry soon: the message is redelivered
        ├── RescheduleLater         long outage: complete, re-send a copy later
        └── PermanentError          will never succeed: record as failed work, complete

HTTP triggers turn these into RFC 7807 problem responses in one place
(``functions/http.py``, through :func:`shared.platform.problems.problem_for`).
"""

from __future__ import annotations

import math
from typing import Any


class CentroStellaError(Exception):
    """Root of every error this application raises on purpose."""


class DomainError(CentroStellaError):
    """A business or protocol rule refused the request."""

    status = 400
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        self.code = code
        """A machine-readable reason (the problem's ``code`` member), where a contract has one."""


class Invalid(DomainError):
    """The input is malformed (400) or well-formed but unacceptable (``status=422``)."""

    status = 400
    title = "Invalid request"

    def __init__(
        self,
        detail: str,
        *,
        status: int = 400,
        errors: list[dict[str, Any]] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(detail, errors=errors, code=code)
        if status not in (400, 422):
            raise ValueError("Invalid is 400 or 422")
        self.status = status
        if status == 422:
            self.title = "Unprocessable request"


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class PreconditionFailed(DomainError):
    status = 412
    title = "Precondition failed"


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload too large"


class Gone(DomainError):
    status = 410
    title = "Gone"


class TooManyRequests(DomainError):
    """The caller went past its own rate limit: 429, retry after ``retry_after`` seconds.

    Unlike DependencyError (503) nothing is wrong with the platform: this caller must slow down.
    """

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: float) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})
        self.retry_after = retry_after


class UpstreamFailed(DomainError):
    """A partner's system the request was forwarded to did not answer usefully: 502 (refused,
    failed, not active) or 504 (no answer in time). Unlike DependencyError this is the answer
    itself, not "retry later": the caller decides (e.g. the node tries stand-in)."""

    def __init__(self, detail: str, *, status: int = 502, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        if status not in (502, 504):
            raise ValueError("UpstreamFailed is 502 or 504")
        self.status = status
        self.title = "Bad gateway" if status == 502 else "Gateway timeout"


class DependencyError(CentroStellaError):
    """A dependency (Cosmos, Service Bus, a remote API) throttled, timed out or is down."""

    def __init__(self, dependency: str, detail: str, *, retry_after: float = 5.0) -> None:
        super().__init__(f"{dependency}: {detail}")
        self.dependency = dependency
        self.detail = detail
        self.retry_after = retry_after


class ConfigurationError(CentroStellaError):
    """Settings are missing or malformed; ``report`` names every bad field."""

    def __init__(self, report: str) -> None:
        super().__init__(report)
        self.report = report


class QueueWorkError(CentroStellaError):
    """How a piece of queue work ends when it does not succeed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(QueueWorkError):
    """Should clear within seconds: abandon so the broker redelivers."""


class RescheduleLater(QueueWorkError):
    """A long outage: complete, re-send a copy after ``delay_seconds`` (None: the backoff)."""

    def __init__(self, reason: str, *, delay_seconds: float | None = None) -> None:
        super().__init__(reason)
        self.delay_seconds = delay_seconds


class PermanentError(QueueWorkError):
    """Will never succeed as it is: record as failed work and complete."""
