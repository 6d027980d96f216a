"""RFC 7807 problem documents for every error of :mod:`shared.platform.errors`.

The HTTP layer (``functions/http.py``) calls :func:`problem_for` and nothing else decides a
status code for an error.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from shared.platform.errors import ConfigurationError, DependencyError, DomainError

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
ACA_PROBLEM_MEMBERS = ("title", "status", "detail", "correlationId", "errors")
"""What pagoPA's ``ProblemJson`` of the ACA contract carries (title, status, detail), plus our
correlation id and the failing fields."""


@dataclass(frozen=True)
class Problem:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = PROBLEM_JSON


def aca_problem(problem: Problem) -> Problem:
    """``problem`` in pagoPA's ``ProblemJson`` of its ACA contract: ``application/json``, no
    ``type`` or ``instance`` (the contract wants absolute URIs there; ours are paths)."""
    body = {k: problem.body[k] for k in ACA_PROBLEM_MEMBERS if k in problem.body}
    return Problem(problem.status, body, problem.headers, media_type="application/json")


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    correlation_id: str,
    instance: str | None = None,
    **extra: Any,
) -> Problem:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "correlationId": correlation_id,
    }
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v})
    return Problem(status, body)


def problem_for(
    error: BaseException, *, correlation_id: str, instance: str | None = None
) -> Problem:
    """The problem response for ``error``; an unexpected one is logged and hidden (500)."""
    if isinstance(error, DomainError):
        p = problem(
            error.status,
            error.title,
            error.detail,
            correlation_id=correlation_id,
            instance=instance,
            errors=error.errors,
            code=error.code,
        )
        return Problem(p.status, p.body, dict(error.headers))
    if isinstance(error, DependencyError):
        p = problem(
            503,
            "Service unavailable",
            f"A dependency ({error.dependency}) is unavailable; retry later.",
            correlation_id=correlation_id,
            instance=instance,
        )
        retry = str(max(1, math.ceil(error.retry_after)))
        return Problem(503, p.body, {"Retry-After": retry})
    if isinstance(error, ConfigurationError):
        logger.error("configuration error [%s]: %s", correlation_id, error.report)
        return problem(
            500,
            "Configuration error",
            "The service is misconfigured; operators have been alerted.",
            correlation_id=correlation_id,
            instance=instance,
        )
    logger.exception("unexpected error [%s]", correlation_id, exc_info=error)
    return problem(
        500,
        "Internal error",
        "An unexpected error occurred.",
        correlation_id=correlation_id,
        instance=instance,
    )
