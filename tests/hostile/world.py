"""The world the hostile suite acts in: a dev host, the credentials each security scheme of
/api/openapi.json asks for, and real objects to aim at (a citizen with a validated card and a
session in progress, positions, a bulk upload, a station, a party), built through the API.

Requests built from it are *valid*: the suite breaks one thing at a time, so that a hostile
value meets the code behind the checks that come before it.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from azure.cosmos import CosmosClient

from local import devauth
from local.platform import DEMO_EC, DEMO_IBAN, DEMO_STATION, Platform
from local.psp import DEV_HPAN_SALT
from local.psp.simulator import hpan
from local.tokens import issue_token
from shared.auth.fiscal_code import check_character
from shared.platform.config import Settings, load_settings
from tests.conftest import ADMIN_KEY, FUNCTION_KEY, Host
from tests.hostile.client import Answer, RawClient
from tests.hostile.values import encode

# The suite's own citizen: the simulators (push hubs, PSP) are shared by the whole test run.
CF = "HSTSTE85T10A562" + check_character("HSTSTE85T10A562")
PAN = "5555555555554444"
PARTY = "HOSTILE01"
# A period as a local run defines one (CASHBACK_PERIODS): wide, so any dev clock is inside.
PERIODS = (
    '[{"id": 9, "from": "2026-01-01", "to": "2099-12-31", "minTransactions": 3, '
    '"maxPerTransaction": 1500, "maxPerPeriod": 15000, "graceDays": 2}]'
)

# Who holds the subscription key an operation asks for, by the start of its path.
PARTY_KEYS = {
    "/api/aca/": "DEV_PARTY_KEY_EC",
    "/api/upload/aca/": "DEV_PARTY_KEY_EC",
    "/api/tests/creditor": "DEV_PARTY_KEY_EC",
    "/api/standin/": "DEV_PARTY_KEY_PSP",
    "/api/v1/cashback/transactions": "DEV_PARTY_KEY_ACQUIRER",
    "/api/v1/cashback/tokens": "DEV_PARTY_KEY_ACQUIRER",
    "/api/v1/cashback/acquirers/": "DEV_PARTY_KEY_ACQUIRER",
    "/api/v1/cashback/files/": "DEV_PARTY_KEY_ACQUIRER",
    "/api/v1/push/": "DEV_PARTY_KEY_SENDER",
}
# The containers an operation can write, by its tag (what a refused write must leave alone).
CONTAINERS = {
    "wallet": ("wallet_container",),
    "cashback": ("cashback_container",),
    "push": ("push_installations_container",),
    "payments": ("payments_container",),
    "notices": ("notices_container", "notice_bulks_container"),
    "stand-in": ("standin_container", "notices_container"),
    "operators": ("parties_container", "standin_container", "failed_work_container"),
    "": ("wallet_container",),
}
_SYSTEM = ("_rid", "_self", "_etag", "_attachments", "_ts", "_lsn", "outbox")


def party_key_setting(path: str) -> str:
    for prefix, setting in PARTY_KEYS.items():
        if path.startswith(prefix):
            return setting
    raise AssertionError(f"{path}: no party is known to call it (add it to PARTY_KEYS)")


@dataclass
class World:
    platform: Platform
    host: Host
    client: RawClient = field(init=False)
    ids: dict[str, str] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict)
    """The OpenAPI document the host serves."""
    _token: tuple[float, str] | None = None

    def __post_init__(self) -> None:
        self.client = RawClient(self.host.url)
        self.env = self.host.env
        self.settings: Settings = load_settings(self.env)
        self._cosmos = CosmosClient(
            self.settings.cosmos_endpoint, credential=self.settings.cosmos_key or ""
        )
        self.database = self._cosmos.get_database_client(self.settings.cosmos_database)
        self.psp_secret = json.loads(self.env["LOCAL_SECRETS"])["psp-demo-signing"]

    def close(self) -> None:
        self.client.close()

    # ---------------------------------------------------------------- time and credentials
    def now(self) -> datetime:
        state = self.host.request("GET", "/admin/devclock", key=ADMIN_KEY).json()
        return datetime.fromisoformat(state["now"])

    def citizen_token(self) -> str:
        if self._token is None or time.monotonic() - self._token[0] > 600:
            token = issue_token(
                self.platform.keys.private_pem,
                CF,
                issuer=self.env["CITIZEN_JWT_ISSUER"],
                audience=self.env["CITIZEN_JWT_AUDIENCE"],
                now=self.now(),
            )
            self._token = (time.monotonic(), token)
        return self._token[1]

    def session_token(self) -> str:
        """The token the wallet handed the gateway simulator for the pending session."""
        session = self.ids[f"session:{self.ids['pending_wallet']}"]
        shown = requests.get(
            f"{self.env['WALLET_PSP_BASE_URL']}/test/sessions/{session}", timeout=30
        ).json()
        token: str = shown["token"]
        return token

    def credentials(self, schemes: set[str], path: str, body: bytes | None) -> dict[str, str]:
        """The headers ``schemes`` (an operation's security requirement) ask for."""
        headers: dict[str, str] = {}
        if "subscriptionKey" in schemes:
            schemes = schemes - {"subscriptionKeyQuery"}  # alternatives: the header will do
        if "functionKey" in schemes:
            headers["x-functions-key"] = FUNCTION_KEY
        if "adminKey" in schemes:
            headers["x-functions-key"] = ADMIN_KEY
        if "citizenToken" in schemes:
            headers["Authorization"] = f"Bearer {self.citizen_token()}"
        if "subscriptionKey" in schemes:
            setting = party_key_setting(path)
            assert self.env.get(setting), f"{path}: the setting {setting} has no key"
            headers["Ocp-Apim-Subscription-Key"] = self.env[setting]
        if "sessionToken" in schemes:
            headers["Authorization"] = f"Bearer {self.session_token()}"
        if "signedIn" in schemes:  # the demo editor, signed in through the dev host
            headers["Cookie"] = f"{devauth.COOKIE}={devauth.session_cookie(devauth.DEMO_EDITOR)}"
        unknown = schemes - {
            "functionKey",
            "adminKey",
            "citizenToken",
            "subscriptionKey",
            "sessionToken",
            "signedIn",
        }
        assert not unknown, f"{path}: security schemes the suite cannot satisfy: {unknown}"
        return headers

    def call(
        self,
        method: str,
        target: str,
        schemes: set[str],
        body: bytes | None = None,
        *,
        path: str | None = None,
    ) -> Answer:
        headers = self.credentials(schemes, path or target, body)
        if body is not None:
            headers["Content-Type"] = "application/json"
        return self.client.send(method, target, headers=headers, body=body)

    def json_call(self, method: str, target: str, schemes: set[str], body: Any = None) -> Any:
        """A request of the world's own set-up: it must succeed."""
        answer = self.call(method, target, schemes, None if body is None else encode(body))
        if not 200 <= answer.status < 300:
            # the host's last lines say which dependency failed and why (the answer does not)
            tail = "\n".join(self.host.child.output.splitlines()[-15:])
            raise AssertionError(f"{method} {target}: {answer.status} {answer.body!r}\n{tail}")
        return answer.json() if answer.body else None

    # ---------------------------------------------------------------- state
    def snapshot(self, containers: tuple[str, ...]) -> dict[str, list[Any]]:
        """Every document of ``containers`` (setting names), without system fields."""
        found: dict[str, list[Any]] = {}
        for setting in containers:
            container = self.database.get_container_client(getattr(self.settings, setting))
            items = [
                {k: v for k, v in item.items() if k not in _SYSTEM}
                for item in container.query_items(
                    "SELECT * FROM c", enable_cross_partition_query=True
                )
            ]
            found[setting] = sorted(items, key=lambda d: json.dumps(d, sort_keys=True))
        return found

    # ---------------------------------------------------------------- objects to aim at
    def build(self, *, consumers: bool = True) -> None:
        """Create what valid requests refer to, through the API (``consumers``: the host's queue
        workers run, so the validated card reaches cashback)."""
        citizen = {"functionKey", "citizenToken"}
        ec = {"functionKey", "subscriptionKey"}
        admin = {"adminKey"}
        now = self.now()
        due = (now + timedelta(days=365)).isoformat()
        self.ids["due"] = due
        self.json_call(
            "POST",
            "/api/ops/parties",
            admin,
            {"partyId": PARTY, "name": "Hostile suite party", "role": "acquirer"},
        )
        for name in ("aca", "standin", "bulk", "bo"):  # bo: the back office's own position
            iuv = f"{uuid.uuid4().int % 10**17:017d}"
            self.ids[f"{name}_iuv"], self.ids[f"{name}_nav"] = iuv, "3" + iuv
            if name != "bulk":
                self.json_call("POST", "/api/aca/v1/paCreatePosition", ec, self.position(name))
        accepted = self.json_call("POST", "/api/aca/v1/positions/bulk", ec, [self.position("bulk")])
        self.ids["bulk"] = accepted["bulkId"]
        self.json_call(
            "PUT",
            f"/api/ops/standin/stations/{DEMO_STATION}/force",
            admin,
            {"mode": "STANDIN", "reason": "hostile suite: pay from the archive"},
        )
        activation = self.json_call("POST", "/api/standin/v1/activate", ec, self.activate_body())
        self.ids["payment_token"] = activation["paymentToken"]

        self.json_call(
            "PUT", "/api/v1/cashback/citizen", citizen, {"termsAndConditionsAccepted": True}
        )
        self.json_call(
            "PUT",
            "/api/v1/cashback/citizen/iban",
            citizen,
            {"iban": DEMO_IBAN, "ownerName": "Mario Rossi"},
        )
        self.ids["wallet"] = self.onboard(complete=True)
        self.ids["pending_wallet"] = self.onboard(complete=False)
        self.ids["hpan"] = hpan(PAN, self.env.get("DEV_HPAN_SALT") or DEV_HPAN_SALT)
        periods = self.json_call("GET", "/api/v1/cashback/periods", citizen)["periods"]
        assert periods, "CASHBACK_PERIODS defines no period"
        self.ids["period"] = str(periods[0]["id"])
        self.json_call(
            "PUT",
            "/api/v1/push/installations",
            citizen,
            {"platform": "FCMV1", "pushChannel": "hostile-suite-device-token-0001"},
        )
        if consumers:
            self.wait_for_cashback_instrument()

    def position(self, name: str) -> dict[str, Any]:
        return {
            "paFiscalCode": DEMO_EC,
            "entityType": "F",
            "entityFiscalCode": CF,
            "entityFullName": "Mario Rossi",
            "iuv": self.ids[f"{name}_iuv"],
            "amount": 7_300,
            "description": "Hostile suite",
            "expirationDate": self.ids["due"],
        }

    def activate_body(self) -> dict[str, Any]:
        return {
            "paFiscalCode": DEMO_EC,
            "noticeNumber": self.ids["standin_nav"],
            "amount": 7_300,
            "idempotencyKey": "hostile-suite-activation",
            "pspId": "DEMOPSP",
        }

    def onboard(self, *, complete: bool) -> str:
        citizen = {"functionKey", "citizenToken"}
        created = self.json_call(
            "POST",
            "/api/v1/wallets",
            citizen,
            {"paymentMethodId": "3ebea7a1-2e77-4a1b-ac1b-3aca0d67f813", "applications": ["PAGOPA"]},
        )
        wallet_id: str = created["walletId"]
        opened = self.json_call("POST", f"/api/v1/wallets/{wallet_id}/sessions", citizen, {})
        session = opened["sessionData"]["redirectUrl"].rsplit("/", 1)[-1]
        self.ids[f"session:{wallet_id}"] = session
        self.ids[f"order:{wallet_id}"] = opened["orderId"]
        psp = self.env["WALLET_PSP_BASE_URL"]
        card = {"pan": PAN, "expiryMonth": 12, "expiryYear": self.now().year + 3}
        typed = requests.post(f"{psp}/test/sessions/{session}/card", json=card, timeout=30)
        assert typed.status_code == 200, typed.text
        self.json_call(
            "POST", f"/api/v1/wallets/{wallet_id}/sessions/{opened['orderId']}/validations", citizen
        )
        if complete:
            done = requests.post(
                f"{psp}/test/sessions/{session}/3ds", json={"threeDsCode": "123456"}, timeout=30
            )
            assert done.status_code == 200, done.text
        return wallet_id

    def wait_for_cashback_instrument(self) -> None:
        """The wallet's event reaches cashback through its queue: wait for it."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            listed = self.json_call(
                "GET", "/api/v1/cashback/instruments", {"functionKey", "citizenToken"}
            )
            if any(i["walletId"] == self.ids["wallet"] for i in listed["instruments"]):
                return
            time.sleep(0.2)
        raise AssertionError("the validated card never reached cashback")


QUEUE_SETTINGS = (
    "WALLET_EVENTS_QUEUE",
    "PUSH_QUEUE",
    "CASHBACK_TRANSACTIONS_QUEUE",
    "IBAN_CHECK_QUEUE",
    "NOTICES_QUEUE",
    "STANDIN_RECEIPTS_QUEUE",
    "PAYMENTS_NOTICES_QUEUE",
    "JOURNAL_QUEUE",
    "BACKOFFICE_PRINT_QUEUE",
)


def host_env(*, consumers: bool) -> dict[str, str]:
    """A host of its own: fresh queues, the cashback period, no timers (nothing moves the state
    but the requests and, with ``consumers``, the queue workers)."""
    from tests.app import app
    from tests.conftest import fresh_queues
    from tests.functions.fakes import functions

    tag = uuid.uuid4().hex[:8]
    env = {
        **fresh_queues("hostile"),
        **{setting: f"hostile-{setting.lower()}-{tag}" for setting in QUEUE_SETTINGS},
        "CASHBACK_PERIODS": PERIODS,
    }
    for name, fn in functions(app).items():
        kind = fn.get_trigger().get_dict_repr()["type"]
        if kind == "timerTrigger" or (kind == "serviceBusTrigger" and not consumers):
            env[f"AzureWebJobs.{name}.Disabled"] = "true"
    return env
