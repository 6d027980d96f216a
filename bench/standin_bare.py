"""The stand-in bench's baseline: a bare aiohttp server answering the same three SOAP messages
with the same Cosmos operations on documents of the same shape and size, and nothing else.

For each request it reads the envelope with the app's lxml reader (``shared.pagopa.soap``),
makes the point reads and ETag-conditioned writes the gateway makes (verify: read the notice;
activate: read the notice, create the payment; outcome: read the payment, replace it, read the
notice, replace it), and writes its answer with lxml: the answer the host gave to the same
message in this run, parsed and written again (the payment token set in the activation's).
No Functions edge, channel authentication, models, rules, retries, clock or Service Bus.

The documents are the host's own, captured by ``bench.standin`` in the same run and handed over
in a JSON file: a published notice, the same notice once paid (with its outbox of the archive's
events), the payment once paid (with its receipt's event). Only their identifiers change.

Run by ``bench.standin`` as ``python -m bench.standin_bare --templates FILE``; prints
``READY <port>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web
from azure.core import MatchConditions
from lxml import etree

from shared.notices.identity import position_id
from shared.pagopa import soap
from shared.standin.store import payment_key

Templates = dict[str, Any]
"""``ec``, ``iuv`` (the captured notice's, to be replaced), ``notice``, ``paidNotice``,
``payment`` (documents) and ``answers`` (the host's answer to each message, by the name of
the request's body element)."""


def with_iuv(template: str, old: str, new: str) -> dict[str, Any]:
    """A captured document (as JSON text) for another notice: its IUV (and so its notice number
    and payment key) replaced."""
    document: dict[str, Any] = json.loads(template.replace(old, new))
    return document


def bare_notice(templates: Templates, iuv: str) -> dict[str, Any]:
    """The published notice ``iuv`` as the host stores it (the bench seeds these)."""
    document = with_iuv(json.dumps(templates["notice"]), templates["iuv"], iuv)
    document["id"] = position_id(templates["ec"], iuv)
    return document


class Bare:
    def __init__(self, templates: Templates) -> None:
        from shared.platform.clients import get_clients

        self.clients = get_clients()
        settings = self.clients.settings
        self.notices = self.clients.container(settings.notices_container)
        self.payments = self.clients.container(settings.standin_container)
        self.ec: str = templates["ec"]
        self.iuv: str = templates["iuv"]
        self.paid_notice = json.dumps(templates["paidNotice"])
        self.payment = json.dumps(templates["payment"])
        self.answers = {name: text.encode() for name, text in templates["answers"].items()}

    async def _replace(self, container: Any, document: dict[str, Any], etag: str) -> None:
        await container.replace_item(
            document["id"], document, etag=etag, match_condition=MatchConditions.IfNotModified
        )

    def _answer(self, name: str, token: str | None = None) -> web.Response:
        root = etree.fromstring(self.answers[name])
        if token is not None:
            for element in root.iter("paymentToken"):
                element.text = token
        body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        return web.Response(body=body, content_type="text/xml", charset="utf-8")

    async def node(self, request: web.Request) -> web.Response:
        message = soap.parse(await request.read())
        body = message.element
        if message.name == "sendPaymentOutcomeV2Request":
            token = body.findtext("paymentTokens/paymentToken") or ""
            number = token[:18]
            iuv = number[1:]
            key = payment_key(self.ec, number)
            paying = await self.payments.read_item(key[0], partition_key=key[1])
            paid = with_iuv(self.payment, self.iuv, iuv)
            await self._replace(self.payments, paid, paying["_etag"])
            doc_id = position_id(self.ec, iuv)
            notice = await self.notices.read_item(doc_id, partition_key=doc_id)
            paid_notice = with_iuv(self.paid_notice, self.iuv, iuv)
            paid_notice["id"] = doc_id
            await self._replace(self.notices, paid_notice, notice["_etag"])
            return self._answer(message.name)
        number = body.findtext("qrCode/noticeNumber") or ""
        doc_id = position_id(self.ec, number[1:])
        await self.notices.read_item(doc_id, partition_key=doc_id)
        if message.name == "verifyPaymentNoticeReq":
            return self._answer(message.name)
        # activatePaymentNoticeV2Request: the payment created, locked by a new token (its
        # notice number, then random characters: 35 in all, as the host's)
        token = number + secrets.token_hex(9)[:17]
        await self.payments.create_item(with_iuv(self.payment, self.iuv, number[1:]))
        return self._answer(message.name, token)


async def serve(templates: Templates) -> None:
    from shared.platform.collector import pace_collector

    pace_collector()  # the worker's collector setting (functions.root sets it in the host)
    bare = Bare(templates)
    app = web.Application()
    app.router.add_post("/node", bare.node)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"READY {runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(json.loads(args.templates.read_text())))


if __name__ == "__main__":
    main()
