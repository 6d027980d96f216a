"""Correlation ids in every log line, secrets masked out of it, and OpenTelemetry export to
Application Insights.

:func:`configure` runs once per process: every handler of the root logger (the worker's, and the
exporter's when there is one) gets the correlation id and the redaction filter
(:mod:`shared.platform.redaction`). With ``APPLICATIONINSIGHTS_CONNECTION_STRING`` set it
exports traces, metrics and logs to Application Insights (Entra ID authentication with the
managed identity); tests pass their own span exporter instead.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from contextvars import ContextVar
from typing import Any

from shared.platform import redaction

correlation_id: ContextVar[str] = ContextVar("correlation_id", default="-")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_correlation_id(offered: str | None = None) -> str:
    """``offered`` when it is a safe token, else a new id."""
    if offered and _SAFE_ID.match(offered):
        return offered
    return str(uuid.uuid4())


class CorrelationFilter(logging.Filter):
    """Adds ``correlation_id`` to every record, so formats can show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        return True


_configured = False


def configure(*, connection_string: str | None, span_exporter: Any = None) -> None:
    """Set up logging correlation and redaction and, where asked, OpenTelemetry exporters
    (once)."""
    global _configured
    if _configured:
        return
    _configured = True
    root = logging.getLogger()
    for handler in root.handlers or []:
        handler.addFilter(CorrelationFilter())
    try:
        _export(connection_string, span_exporter)
    finally:
        # after the exporter's own log handler exists, so what it ships is masked too
        redaction.install(root)


def _export(connection_string: str | None, span_exporter: Any) -> None:
    if connection_string:
        from azure.identity import ManagedIdentityCredential
        from azure.monitor.opentelemetry import configure_azure_monitor

        # The app runs as a user-assigned identity, named by AZURE_CLIENT_ID (read by the SDKs).
        identity = ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID"))
        configure_azure_monitor(connection_string=connection_string, credential=identity)
    elif span_exporter is not None:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        trace.set_tracer_provider(provider)
    else:
        return
    _instrument_clients()


def _instrument_clients() -> None:
    # Azure SDK calls (Cosmos, Service Bus, Key Vault) and aiohttp client calls as dependencies.
    from azure.core.settings import settings as azure_settings

    azure_settings.tracing_implementation = "opentelemetry"
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

    instrumentor = AioHttpClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()
