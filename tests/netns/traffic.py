"""The requests the outage stage's clients make (``tests/netns/app_outage.py``): through the
dev host, to the Cosmos emulator, and on the app's own Service Bus sender."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from local.tokens import issue_token
from shared.platform.clients import Clients
from shared.platform.config import load_settings
from shared.platform.messaging import Outgoing, ServiceBusSender

if TYPE_CHECKING:
    from tests.netns.stage import Stage

FUNCTION_KEY = "outage-function-key"
ADMIN_KEY = "outage-admin-key"
PAN = "4242424242424242"
CARD_METHOD = "3ebea7a1-2e77-4a1b-ac1b-3aca0d67f813"
"""Cards, in the payment-methods registry (shared/wallet/payment_methods.json)."""


class Traffic:
    """The requests the clients make, through the dev host and the app's own sender."""

    def __init__(self, stage: Stage, session: aiohttp.ClientSession) -> None:
        self.stage = stage
        self.session = session
        self.env = stage.env
        self.keys = stage.platform.keys
        self.wallet_citizen = ""
        self.wallet_id = ""
        self.sender_key = stage.env.get("DEV_PARTY_KEY_SENDER")
        self.now = datetime.now().astimezone()
        self._wallet_headers: dict[str, str] = {}

    def headers(self, citizen: str | None = None) -> dict[str, str]:
        headers = {"x-functions-key": FUNCTION_KEY}
        if citizen is not None:
            headers["Authorization"] = f"Bearer {self.token(citizen)}"
        return headers

    def token(self, citizen: str) -> str:
        return issue_token(
            self.keys.private_pem,
            citizen,
            issuer=self.env["CITIZEN_JWT_ISSUER"],
            audience=self.env["CITIZEN_JWT_AUDIENCE"],
            now=self.now,
        )

    async def read_clock(self) -> None:
        async with self.session.get(
            f"{self.stage.url}/admin/devclock", headers={"x-functions-key": ADMIN_KEY}
        ) as response:
            self.now = datetime.fromisoformat((await response.json())["now"])

    async def register(self, citizens: list[str]) -> None:
        bound = asyncio.Semaphore(16)

        async def one(n: int, citizen: str) -> None:
            async with (
                bound,
                self.session.put(
                    f"{self.stage.url}/api/v1/push/installations",
                    headers=self.headers(citizen),
                    json={"platform": "APNS", "pushChannel": f"{n:064x}"},
                ) as response,
            ):
                text = await response.text()
                if response.status != 202:
                    raise RuntimeError(f"register: {response.status} {text[:300]}")

        await asyncio.gather(*(one(n, c) for n, c in enumerate(citizens)))

    async def onboard(self, citizen: str) -> None:
        """One card through the wallet's four steps and the gateway simulator's test API,
        until the wallet shows it VALIDATED."""
        self.wallet_citizen = citizen
        headers = self.headers(citizen)
        base = f"{self.stage.url}/api/v1/wallets"

        async def post(url: str, body: Any, status: int) -> Any:
            async with self.session.post(url, headers=headers, json=body) as response:
                answer = await response.json()
                if response.status != status:
                    raise RuntimeError(f"onboarding: {response.status} {answer}")
                return answer

        created = await post(
            base, {"paymentMethodId": CARD_METHOD, "applications": ["PAGOPA"]}, 201
        )
        self.wallet_id = created["walletId"]
        opened = await post(f"{base}/{self.wallet_id}/sessions", {}, 200)
        session = urlsplit(opened["sessionData"]["redirectUrl"]).path.rsplit("/", 1)[-1]
        psp = self.env["WALLET_PSP_BASE_URL"]
        card = {"pan": PAN, "expiryMonth": 12, "expiryYear": self.now.year + 3}
        async with self.session.post(f"{psp}/test/sessions/{session}/card", json=card) as typed:
            if typed.status != 200:
                raise RuntimeError(f"gateway: {typed.status} {await typed.text()}")
        await post(f"{base}/{self.wallet_id}/sessions/{opened['orderId']}/validations", None, 200)
        async with self.session.post(
            f"{psp}/test/sessions/{session}/3ds", json={"threeDsCode": "123456"}
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"gateway: {response.status} {await response.text()}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            async with self.session.get(f"{base}/{self.wallet_id}", headers=headers) as response:
                if response.status == 200 and (await response.json())["status"] == "VALIDATED":
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError("the onboarded card was never VALIDATED")

    async def wallet(self, i: int) -> None:
        """A list or a read of the onboarded card, alternately (Cosmos behind each)."""
        path = "/api/v1/wallets"
        if i % 2:
            path += f"/{self.wallet_id}"
        headers = self._wallet_headers

        async def call() -> bool:
            async with self.session.get(f"{self.stage.url}{path}", headers=headers) as response:
                await response.read()
                return response.status == 200

        await self.stage.timed("wallet", call)

    async def host_bare(self, i: int) -> None:
        """A path with no function behind it: the dev host's 404, answered by the event loop
        that also runs the wallet's and the queue's functions, with no work of its own; its
        time is mostly the wait for that loop."""

        async def call() -> bool:
            async with self.session.get(f"{self.stage.url}/api/outage/nothing-here") as response:
                await response.read()
                return response.status == 404

        await self.stage.timed("hostBare", call)

    async def cosmos_bare(self, i: int) -> None:
        """The Cosmos emulator's counters: a round trip to its process with no query behind."""
        url = f"http://127.0.0.1:{self.stage.platform.cosmos.port}/_emulator/stats"

        async def call() -> bool:
            async with self.session.get(url) as response:
                await response.read()
                return response.status == 200

        await self.stage.timed("cosmosBare", call)

    def wallet_headers(self) -> None:
        """One token for the wallet traffic (signing one per request would be the load)."""
        self._wallet_headers = self.headers(self.wallet_citizen)

    async def bus_route(self, i: int) -> None:
        """A route whose handling sends to a queue: a write and its event on the app's shared
        sender (``published`` false when the send failed and the event waits in its outbox)."""

        async def call() -> bool:
            async with self.session.post(
                f"{self.stage.url}/api/tests/outbox", headers=self.headers()
            ) as response:
                body = await response.json()
                return response.status == 201 and bool(body.get("published"))

        await self.stage.timed("busRoute", call)

    async def bus_fresh(self, i: int) -> None:
        """The app's own sender on fresh clients: a Service Bus send that needs a new
        connection, as a worker that starts or reconnects makes one."""
        values = {**self.env, "SERVICEBUS_TIMEOUT_SECONDS": "15"}
        settings = load_settings(values)

        async def call() -> bool:
            clients = Clients(settings)
            try:
                await ServiceBusSender(clients).send(
                    self.env["TEST_QUEUE_OUT"],
                    [Outgoing.json(f"fresh-{uuid.uuid4()}", {"probe": i})],
                )
            finally:
                await clients.close()
            return True

        await self.stage.timed("busNewConnection", call)

    async def notify(self, citizens: list[str], pushes: int) -> int:
        """Request ``pushes`` notifications, each request to up to len(citizens) of them;
        returns how many the app accepted."""
        requests = math.ceil(pushes / len(citizens))
        accepted = 0
        bound = asyncio.Semaphore(4)
        headers = self.headers()
        if self.sender_key:  # the sender role, where the push API asks for it
            headers["Ocp-Apim-Subscription-Key"] = self.sender_key

        async def one(r: int) -> None:
            nonlocal accepted
            recipients = citizens[: min(len(citizens), pushes - r * len(citizens))]
            body = {
                "fiscalCodes": recipients,
                "title": "Cashback",
                "body": "Your refund is on its way",
                "notificationId": f"storm-{r}",
            }
            async with (
                bound,
                self.session.post(
                    f"{self.stage.url}/api/v1/push/notifications", headers=headers, json=body
                ) as response,
            ):
                answer = await response.json()
                if response.status == 202:
                    accepted += int(answer["recipients"])

        await asyncio.gather(*(one(r) for r in range(requests)))
        return accepted
