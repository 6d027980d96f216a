"""A bank-check service for local runs: says whether an IBAN belongs to a citizen.

- ``POST /checks`` ``{"iban", "fiscalCode", "ownerName"}`` -> ``{"result": ...}``: ``OK`` when
  the account is registered to that fiscal code, ``KO`` when it is registered to someone else
  or not at all at a bank it knows, ``UNKNOWN_PSP`` when its bank (the ABI) is not one it knows.
- ``POST /payouts?period=<id>[&date=<yyyy-mm-dd>]`` with a paying agent's file (CSV:
  ``fiscalCode,iban,amountCents,typology`` and optionally ``award``) answers the outcomes file of
  docs/cashback.md#payout-outcomes: ``OK`` with a CRO and today's date for an IBAN it holds
  (a registered account), ``KO`` with a reason otherwise.
- Test API: ``POST /test/accounts`` ``{"iban", "fiscalCode"}`` registers an account;
  ``POST /test/faults`` ``{"status": 503}`` answers that status to the next checks
  (``{"status": null}`` to stop).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from shared.cashback.awards import OUTCOME_HEADER

# ABIs of banks the simulator can ask (a few real ones; any ABI of a registered account too).
KNOWN_ABIS = frozenset({"05428", "03069", "02008", "01030", "03062", "05034"})


class BankSimulator:
    def __init__(self) -> None:
        self.accounts: dict[str, str] = {}
        self.fault: int | None = None
        self.checks = 0
        self.transfers = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/checks", self._check)
        app.router.add_post("/payouts", self._payouts)
        app.router.add_post("/test/accounts", self._register)
        app.router.add_post("/test/faults", self._faults)
        app.router.add_get("/test/stats", self._stats)
        return app

    def result(self, iban: str, fiscal_code: str) -> str:
        if iban in self.accounts:
            return "OK" if self.accounts[iban] == fiscal_code else "KO"
        abis = KNOWN_ABIS | {i[5:10] for i in self.accounts}
        return "KO" if iban[5:10] in abis else "UNKNOWN_PSP"

    async def _check(self, request: web.Request) -> web.Response:
        self.checks += 1
        if self.fault is not None:
            return web.json_response({"error": "fault injected"}, status=self.fault)
        body = await _json(request)
        iban, fiscal_code = body.get("iban"), body.get("fiscalCode")
        if not isinstance(iban, str) or not isinstance(fiscal_code, str):
            return web.json_response({"error": "iban and fiscalCode are required"}, status=400)
        return web.json_response({"result": self.result(iban, fiscal_code)})

    def outcomes(self, period: int, paying_file: str, *, today: str) -> str:
        """The outcomes file for a paying agent's file: OK where it holds the account."""
        rows = list(csv.DictReader(io.StringIO(paying_file)))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(OUTCOME_HEADER)
        for row in rows:
            self.transfers += 1
            paid = row["iban"] in self.accounts
            writer.writerow(
                (
                    row["fiscalCode"],
                    period,
                    row.get("award") or "payout",
                    row["amountCents"],
                    "OK" if paid else "KO",
                    "" if paid else "no such account",
                    f"CRO{self.transfers:011d}" if paid else "",
                    today if paid else "",
                )
            )
        return out.getvalue()

    async def _payouts(self, request: web.Request) -> web.Response:
        period = int(request.query.get("period", "0"))
        # The caller names the execution date (the dev clock's day); else the system's.
        today = request.query.get("date") or datetime.now(UTC).date().isoformat()
        body = self.outcomes(period, await request.text(), today=today)
        return web.Response(text=body, content_type="text/csv")

    async def _register(self, request: web.Request) -> web.Response:
        body = await _json(request)
        self.accounts[str(body["iban"])] = str(body["fiscalCode"])
        return web.json_response({"accounts": len(self.accounts)})

    async def _faults(self, request: web.Request) -> web.Response:
        status = (await _json(request)).get("status")
        self.fault = int(status) if status is not None else None
        return web.json_response({"status": self.fault})

    async def _stats(self, _: web.Request) -> web.Response:
        return web.json_response({"checks": self.checks, "accounts": len(self.accounts)})


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="a JSON object is required") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="a JSON object is required")
    return body
