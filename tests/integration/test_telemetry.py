"""Cosmos, Service Bus and outbound HTTP calls appear as dependency (client) spans."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from local.platform import Platform
from shared.platform import telemetry
from shared.platform.clients import Clients
from shared.platform.messaging import Outgoing, ServiceBusSender

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
async def clients(platform: Platform) -> AsyncIterator[Clients]:
    telemetry.configure(connection_string=None, span_exporter=EXPORTER)
    settings = platform.provision(f"telemetry-{uuid.uuid4().hex[:8]}")
    built = Clients(settings)
    yield built
    await built.close()


async def test_dependency_calls_become_client_spans(clients: Clients) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/ping", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        EXPORTER.clear()
        settings = clients.settings
        await clients.container(settings.parties_container).read_item(
            "party:77777777777", partition_key="party:77777777777"
        )
        await ServiceBusSender(clients).send(
            settings.wallet_events_queue, [Outgoing.json(str(uuid.uuid4()), {"a": 1})]
        )
        async with clients.session("test").get(f"http://127.0.0.1:{port}/ping") as response:
            assert (await response.json()) == {"ok": True}
    finally:
        await runner.cleanup()

    spans = EXPORTER.get_finished_spans()
    client_spans = [s for s in spans if s.kind == SpanKind.CLIENT]
    names = " | ".join(s.name for s in client_spans)
    attributes = [dict(s.attributes or {}) for s in client_spans]
    assert any(
        a.get("db.system") == "cosmosdb" or "cosmos" in str(a).lower() for a in attributes
    ), names
    assert any(
        "servicebus" in str(a).lower() or "ServiceBus" in s.name
        for s, a in zip(client_spans, attributes, strict=True)
    ), names
    assert any(
        str(a.get("http.url", a.get("url.full", ""))).endswith("/ping") for a in attributes
    ), names
