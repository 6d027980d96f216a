"""Hostile requests for every operation of /api/openapi.json, and what their answers must be.

For each operation the suite starts from a valid request aimed at a real object (the
:class:`~tests.hostile.world.World`) and breaks ONE thing: a body field, a member removed or
added, the whole body, a path parameter, a query parameter (documented or not), or a body sent
where none is taken. Whatever it sends:

- the answer is never a 5xx, and always comes (no reset, no timeout);
- a 4xx is ``application/problem+json`` whose ``status`` is the answer's;
- what must be refused (:class:`~tests.hostile.schema.Oracle`) is refused: a 4xx, or, where a
  batch is checked line by line, the line rejected in the answer;
- a refused write changes nothing: the documents of the containers the operation writes are the
  same before and after;
- the host keeps serving: ``/api/health`` answers 200 after each operation's batch.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from local.platform import DEMO_EC, DEMO_IBAN, DEMO_STATION
from shared.auth.user_ids import user_id
from shared.cashback.acquirer_api import TransactionIn
from tests.hostile import values
from tests.hostile.client import Answer
from tests.hostile.schema import Field, Oracle, Schemas, drop, fields, put
from tests.hostile.world import CF, CONTAINERS, PARTY, World

ANONYMOUS_HEALTH = "/api/health"
# Uploads whose lines the queue's workers check, each rejected line in the upload's report
# (path of the upload -> path of its report): the door takes any line, the report must show
# every line that must be refused as rejected, and the upload must complete.
LINES_CHECKED_LATER = {"/api/aca/v1/positions/bulk": "/api/aca/v1/bulk/{bulkId}"}
STRAY_QUERY = ("x", "limit", "continuationToken", "segregationCodes", "queue", "$filter")

# A valid body for each request schema, aimed at the world's objects.
BODIES: dict[str, Callable[[World], Any]] = {
    "PositionIn": lambda w: w.position("aca"),
    "BackOfficePosition": lambda w: w.position("bo"),
    "UserIn": lambda w: {"name": "Hostile suite user", "ecs": {DEMO_EC: "viewer"}},
    "PositionUpload": lambda w: [w.position("bulk")],
    "PartyIn": lambda w: {"partyId": PARTY, "name": "Hostile suite party", "role": "acquirer"},
    "RotateKey": lambda w: {"graceSeconds": 60},
    "ChannelIn": lambda w: {
        "idBrokerPSP": "DEMOBROKERPSP",
        "idPSPs": ["DEMOPSP"],
        "password": "hostile-01",
        "enabled": True,
    },
    "ForceIn": lambda w: {"mode": "STANDIN", "reason": "hostile suite"},
    "NoticeRef": lambda w: {"paFiscalCode": DEMO_EC, "noticeNumber": w.ids["standin_nav"]},
    "ActivateIn": lambda w: w.activate_body(),
    "OutcomeIn": lambda w: {
        "paymentToken": w.ids["payment_token"],
        "outcome": "OK",
        "pspId": "DEMOPSP",
        "receiptId": "hostile-suite-receipt",
        "paymentDateTime": w.now().isoformat(),
        "paymentMethod": "CP",
        "fee": 150,
    },
    "EnrollmentIn": lambda w: {"termsAndConditionsAccepted": True},
    "IbanIn": lambda w: {"iban": DEMO_IBAN, "ownerName": "Mario Rossi"},
    "TransactionBatchIn": lambda w: {
        "transactions": [
            {
                "acquirerId": "DEMOACQ",
                "acquirerCode": "12345",
                "idTrxAcquirer": "hostile-suite-1",
                "hpan": w.ids["hpan"],
                "operationType": "00",
                "trxDate": w.now().isoformat(),
                "amount": 1_500,
                "merchantId": "M-1",
                "terminalId": "T-1",
                "circuitType": "01",
            }
        ]
    },
    "TokenListIn": lambda w: {"tokens": [{"tokenHpan": "7" * 64, "hpan": w.ids["hpan"]}]},
    "AlertsIn": lambda w: {"periodClosing": True, "addIban": True, "payoutDone": False},
    "IntegrationIn": lambda w: {
        "fiscalCode": CF,
        "period": 1,
        "amountCents": 250,
        "reason": "hostile suite",
        "complaintId": "hostile-1",
    },
    "OutcomesIn": lambda w: {
        "name": "hostile-outcomes.csv",
        "csv": "fiscalCode,period,award,amountCents,result,resultReason,cro,executionDate\n",
    },
    "InstallationIn": lambda w: {
        "platform": "FCMV1",
        "pushChannel": "hostile-suite-device-token-0001",
    },
    "NotificationIn": lambda w: {
        "fiscalCode": CF,
        "title": "Hostile suite",
        "body": "A notification",
        "data": {"kind": "test"},
    },
    "NewWallet": lambda w: {
        "paymentMethodId": "3ebea7a1-2e77-4a1b-ac1b-3aca0d67f813",
        "applications": ["PAGOPA"],
    },
    "NewSession": lambda w: {"paymentMethodType": "cards"},
    "ApplicationsUpdate": lambda w: {"applications": [{"name": "PAGOPA", "status": "ENABLED"}]},
    "GatewayNotification": lambda w: {
        "timestampOperation": w.now().isoformat(),
        "operationId": "hostile-suite-operation",
        "operationResult": "EXECUTED",
        "details": {
            "type": "CARD",
            "paymentInstrumentGatewayId": "hostile-suite-card",
            "hpan": w.ids["hpan"],
        },
    },
    # a notice nobody published: the valid request is refused by the node (no lock is taken)
    "NewTransactionIn": lambda w: {"noticeCode": "3" + "0" * 17, "ecFiscalCode": DEMO_EC},
    "AuthRequestIn": lambda w: {"walletId": w.ids["wallet"], "idempotencyKey": "hostile-key-01"},
    "Preferences": lambda w: {"newNotice": True, "paymentReceived": True},
    "Echo": lambda w: {"text": "hello", "amount": 1},
}

# Members the document leaves free-form that a contract written elsewhere defines: the
# acquirers' line format.
FREE_FORM = {
    ("TransactionBatchIn", "transactions"): {
        "type": "array",
        "items": TransactionIn.model_json_schema(by_alias=True),
    },
}


def path_value(world: World, path: str, name: str) -> str:
    """A real object for the path parameter ``name`` of ``path``."""
    if name == "id":
        if "/bulk/" in path or "/uploads/" in path:  # the demo EC's own bulk
            return world.ids["bulk"]
        if "/standin/stations/" in path:
            return DEMO_STATION
        if "/failed-work/" in path:
            return "no-such-failed-work"
        if "/standin/channels/" in path:
            return "HOSTILEBROKER_01"
    known = {
        "broker": DEMO_EC,  # an EC uploading for itself, its own broker
        "organization": DEMO_EC,
        "fileId": "0" * 32,
        "paFiscalCode": DEMO_EC,
        # the back office may invalidate its position: never the one the ACA routes read
        "nav": world.ids["bo_nav" if path.startswith("/api/bo/") else "aca_nav"],
        "ec": DEMO_EC,
        "objectId": "0b0e0000-0000-4000-8000-00000000a5a5",
        "queue": world.env["PUSH_QUEUE"],
        "partyId": PARTY,
        # the gateway's routes aim at the session still waiting for its outcome
        "walletId": world.ids["pending_wallet" if "/sessions/" in path else "wallet"],
        "orderId": world.ids[f"order:{world.ids['pending_wallet']}"],
        "periodId": world.ids["period"],
        # an acquirer's file name (cashback files); none delivered: the state is a 404
        "name": "CSTAR.99999.TRNLOG.20261201.000000.001.csv.pgp",
        "userId": user_id(json.loads(world.env["LOCAL_SECRETS"])["wallet-user-id-key"], CF),
        # a citizen's receipt (payments); the suite pays nothing, so the valid request is a 404
        "receiptId": "r-hostile-0001",
        # a transaction nobody started (the suite pays nothing): the valid request is a 404
        "transactionId": "0" * 32,
        # the back office's receipt of a notice nobody paid: a 404
        "iuv": "01" + "0" * 15,
        # the operators' rebuild of the demo EC's positions index (idempotent)
        "ecFiscalCode": DEMO_EC,
        # a print job nobody asked for: the valid request is a 404
        "job": "0" * 32,
    }
    assert name in known, f"{path}: the suite has no value for the path parameter {name}"
    return known[name]


def refused_in_body(path: str, answer: Answer) -> bool:
    """A 2xx that refuses the input in its body: a batch whose only line was rejected."""
    if path == "/api/v1/cashback/transactions" and answer.status == 202:
        body = answer.json()
        return bool(body.get("accepted") == 0 and body.get("rejected"))
    return False


def schemas_of(document: dict[str, Any]) -> Schemas:
    """The document's components, free-form members replaced by their contracts."""
    components = copy.deepcopy(document["components"])
    for (name, member), schema in FREE_FORM.items():
        components["schemas"][name]["properties"][member] = schema
    return Schemas(components)


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, path) of every operation, deletions last (they remove what others aim at)."""
    found = [(m.upper(), p) for p, item in document["paths"].items() for m in item]
    return sorted(found, key=lambda op: (op[0] == "DELETE", op[1], op[0]))


@dataclass(frozen=True)
class Mutation:
    where: str  # field, drop, extra, body, path, query, stray-query, stray-body
    target: str
    value: Any
    label: str
    field: Field | None = None
    key: str | None = None
    """The member an ``extra`` mutation adds."""

    def describe(self) -> str:
        return f"{self.where} {self.target}: {self.label}"


@dataclass
class Request:
    target: str
    body: bytes | None
    document: Any = None
    must_refuse: str | None = None
    later: str | None = None
    """Why a line the door takes must be rejected by the worker that checks it."""


@dataclass
class Report:
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    _seen: dict[tuple[str, str, int], int] = field(default_factory=dict)

    def fail(self, operation: str, mutation: Mutation, answer: Answer, problem: str) -> None:
        # The same fault through the same door once is enough to reproduce it.
        key = (mutation.where + mutation.target, problem.split(":")[0], answer.status)
        self._seen[key] = self._seen.get(key, 0) + 1
        if self._seen[key] > 1:
            return
        shown = answer.error or answer.body[:300].decode("utf-8", "replace")
        self.failures.append(
            f"{operation} | {mutation.describe()} -> {answer.status}: {problem} | {shown}"
        )


class Operation:
    """One operation of the document, its valid request and its mutations."""

    def __init__(self, world: World, document: dict[str, Any], method: str, path: str) -> None:
        self.world = world
        self.method = method
        self.path = path
        self.spec = document["paths"][path][method.lower()]
        self.schemes = {n for requirement in self.spec.get("security") or [] for n in requirement}
        parameters = self.spec.get("parameters", [])
        self.path_names = [p["name"] for p in parameters if p["in"] == "path"]
        self.query_names = [p["name"] for p in parameters if p["in"] == "query"]
        content = self.spec.get("requestBody", {}).get("content", {})
        ref = content.get("application/json", {}).get("schema", {}).get("$ref")
        self.body_schema = ref.rsplit("/", 1)[-1] if ref else None
        self.schemas = schemas_of(document)
        self.oracle = Oracle(self.schemas, self.body_schema) if self.body_schema else None
        tags = self.spec.get("tags") or [""]
        self.containers = CONTAINERS.get(tags[0], CONTAINERS[""])

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    def base_body(self) -> Any:
        assert self.body_schema in BODIES, f"{self.name}: no valid body for {self.body_schema}"
        return BODIES[self.body_schema](self.world)

    def fields(self, base: Any) -> list[Field]:
        assert self.body_schema is not None
        schema = {"$ref": f"#/components/schemas/{self.body_schema}"}
        return fields(self.schemas, schema, base)

    def strategy(self, base: Any) -> st.SearchStrategy[Mutation]:
        choices: list[st.SearchStrategy[Mutation]] = []
        if self.body_schema is not None:
            targets = self.fields(base)
            present = [f for f in targets if f.present and f.path]
            objects = [f for f in targets if f.holds_members]
            body_field = st.sampled_from(targets).flatmap(
                lambda f: values.for_schema(f.kind).map(
                    lambda pair, f=f: Mutation("field", f.name, pair[0], pair[1], f)
                )
            )
            choices += [body_field] * 6
            if present:
                choices.append(
                    st.sampled_from(present).map(
                        lambda f: Mutation("drop", f.name, None, "removed", f)
                    )
                )
            if objects:
                choices.append(
                    st.tuples(
                        st.sampled_from(objects),
                        st.sampled_from(["x", "\u0000", "\ud800", "__proto__", "id", "pk"]),
                        values.anything(),
                    ).map(
                        lambda t: Mutation(
                            "extra", f"{t[0].name}[{t[1]!r}]", t[2][0], t[2][1], t[0], t[1]
                        )
                    )
                )
            choices.append(values.bodies().map(lambda pair: Mutation("body", "", pair[0], pair[1])))
        else:
            choices.append(
                values.bodies().map(lambda pair: Mutation("stray-body", "", pair[0], pair[1]))
            )
        if self.path_names:
            path_mutation = st.tuples(st.sampled_from(self.path_names), values.path_values()).map(
                lambda t: Mutation("path", t[0], t[1][0], t[1][1])
            )
            choices += [path_mutation] * 2
        if self.query_names:
            choices.append(
                st.tuples(st.sampled_from(self.query_names), values.query_values()).map(
                    lambda t: Mutation("query", t[0], t[1][0], t[1][1])
                )
            )
        choices.append(
            st.tuples(st.sampled_from(STRAY_QUERY), values.query_values()).map(
                lambda t: Mutation("stray-query", t[0], t[1][0], t[1][1])
            )
        )
        return st.one_of(choices)

    def request(self, base: Any, mutation: Mutation) -> Request:
        params = {n: values.segment(path_value(self.world, self.path, n)) for n in self.path_names}
        query: list[tuple[str, str]] = []
        document: Any = copy.deepcopy(base)
        body: bytes | None = None
        must_refuse: str | None = None
        later: str | None = None
        if mutation.where == "path":
            params[mutation.target] = mutation.value
        elif mutation.where in ("query", "stray-query"):
            query.append((mutation.target, mutation.value))
        if self.body_schema is not None:
            if mutation.where == "field":
                assert mutation.field is not None
                document = put(base, mutation.field.path, mutation.value)
            elif mutation.where == "drop":
                assert mutation.field is not None
                document = drop(base, mutation.field.path)
            elif mutation.where == "extra":
                assert mutation.field is not None
                assert mutation.key is not None
                document = put(base, (*mutation.field.path, mutation.key), mutation.value)
            assert self.oracle is not None
            if mutation.where == "body":
                body, document = mutation.value, None
                must_refuse = _raw_refusal(self.oracle, mutation.value)
            else:
                body = values.encode(document)
                changed = mutation.field if mutation.where == "field" else None
                must_refuse = self.oracle.must_refuse(document, changed, mutation.value)
                if mutation.where == "extra" and _aca_contract(self.path):
                    must_refuse = (
                        None  # pagoPA's contract ignores unknown members, whatever they hold
                    )
            if self.path in LINES_CHECKED_LATER:
                later, must_refuse = (None if mutation.where == "body" else must_refuse), None
        elif mutation.where == "stray-body":
            body = mutation.value
        target = self.path
        for name, value in params.items():
            target = target.replace("{" + name + "}", value)
        if query:
            target += "?" + "&".join(f"{k}={v}" for k, v in query)
        return Request(target, body, document, must_refuse, later)

    # ---------------------------------------------------------------- one example
    def check(self, base: Any, mutation: Mutation, report: Report) -> None:
        request = self.request(base, mutation)
        write = self.method != "GET"
        before = self.world.snapshot(self.containers) if write else None
        answer = self.world.call(
            self.method, request.target, self.schemes, request.body, path=self.path
        )
        report.sent += 1
        problem = self.judge(answer, request)
        if problem is None and 200 <= answer.status < 300 and self.path in LINES_CHECKED_LATER:
            problem = self.follow_up(answer, request)
        if problem:
            report.fail(self.name, mutation, answer, problem)
        if write and 400 <= answer.status < 500 and before is not None:
            changed = self._changed(before, request)
            if changed:
                report.fail(self.name, mutation, answer, f"refused, yet it changed {changed}")

    def judge(self, answer: Answer, request: Request) -> str | None:
        if answer.status == 0:
            return f"no answer ({answer.error})"
        if answer.status >= 500:
            return "a server error"
        if 400 <= answer.status < 500:
            # pagoPA's ACA contract answers its ProblemJson as application/json
            # (what the host refuses before the app runs is problem+json, or its empty 401)
            wanted = {"application/problem+json"}
            if _aca_contract(self.path):
                wanted.add("application/json")
            if answer.content_type not in wanted and not (answer.status == 401 and not answer.body):
                return f"a {answer.status} that is not {wanted} ({answer.content_type!r})"
            if not answer.body:
                return None
            try:
                status = answer.json().get("status")
            except (ValueError, AttributeError):
                return "a problem+json body that is not a JSON object"
            if status != answer.status:
                return f"a problem whose status {status!r} is not the answer's"
            return None
        if 200 <= answer.status < 300:
            if request.must_refuse and not refused_in_body(self.path, answer):
                return f"accepted what must be refused ({request.must_refuse})"
            return None
        if 300 <= answer.status < 400 and str(answer.status) in self.spec.get("responses", {}):
            # a documented redirect (to a download): only for what may pass
            if request.must_refuse:
                return f"redirected what must be refused ({request.must_refuse})"
            if not answer.headers.get("location"):
                return f"a {answer.status} without a Location"
            return None
        return f"an unexpected status {answer.status}"

    def follow_up(self, answer: Answer, request: Request, timeout: float = 20.0) -> str | None:
        """The upload's report, once complete: a line that must be refused is rejected."""
        accepted = answer.json()
        target = LINES_CHECKED_LATER[self.path].format(**accepted)
        deadline = time.monotonic() + timeout
        while True:
            report = self.world.call("GET", target, self.schemes, path=self.path)
            if report.status != 200:
                return f"its report answers {report.status}"
            shown = report.json()
            if shown["status"] == "COMPLETED":
                break
            if time.monotonic() > deadline:
                return f"accepted, but its lines were still pending after {timeout:.0f}s: {shown}"
            time.sleep(0.1)
        if request.later and shown["written"]:
            return f"a line that must be refused ({request.later}) was written: {shown}"
        return None

    def _changed(self, before: dict[str, list[Any]], request: Request) -> str | None:
        after = self.world.snapshot(self.containers)
        if after == before:
            return None
        # Something else may be moving the state (a queue consumer applying an earlier
        # success): wait for stillness, then send the same request again.
        self._settle()
        before = self.world.snapshot(self.containers)
        self.world.call(self.method, request.target, self.schemes, request.body, path=self.path)
        after = self.world.snapshot(self.containers)
        if after == before:
            return None
        return _difference(before, after)

    def _settle(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        last = self.world.snapshot(self.containers)
        while time.monotonic() < deadline:
            time.sleep(0.3)
            current = self.world.snapshot(self.containers)
            if current == last:
                return
            last = current

    # ---------------------------------------------------------------- the batch
    def explicit(self, base: Any) -> list[Mutation]:
        """One value of each class for each place of the request (see
        :data:`~tests.hostile.values.REPRESENTATIVES`)."""
        found: list[Mutation] = []
        if self.body_schema is not None:
            for place in self.fields(base):
                found += [
                    Mutation("field", place.name, value, label, place)
                    for value, label in values.representatives(place.kind)
                ]
        for name in self.path_names:
            found += [Mutation("path", name, v, label) for v, label in values.PATH_REPRESENTATIVES]
        for name in self.query_names:
            found += [
                Mutation("query", name, v, label) for v, label in values.QUERY_REPRESENTATIVES
            ]
        # the host's limit of a request line, once per operation
        found.append(Mutation("stray-query", "x", values.TOO_LONG[0], values.TOO_LONG[1]))
        return found

    def run(self, examples: int) -> Report:
        """``examples`` generated requests, after the explicit ones."""
        report = Report()
        base = self.base_body() if self.body_schema else None

        def check(mutation: Mutation) -> None:
            self.check(base, mutation, report)

        test = given(mutation=self.strategy(base))(check)
        for mutation in self.explicit(base):
            test = example(mutation=mutation)(test)
        settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )(test)()
        health = self.world.client.send("GET", ANONYMOUS_HEALTH, headers={})
        if health.status != 200:
            report.failures.append(
                f"{self.name} | after {report.sent} requests /api/health answers "
                f"{health.status} {health.error or health.body[:200]!r}"
            )
        return report


def _raw_refusal(oracle: Oracle, body: bytes) -> str | None:
    """Why a raw body must be refused: not one strict JSON document, or what the oracle says
    of the document it is."""

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        document = json.loads(body, parse_constant=constant)
    except (ValueError, RecursionError):
        return "the decoder refuses what is not one JSON document"
    return oracle.must_refuse(document, None, None)


def _difference(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> str:
    for container in before:
        old = {json.dumps(d, sort_keys=True) for d in before[container]}
        new = {json.dumps(d, sort_keys=True) for d in after[container]}
        if old != new:
            added = sorted(new - old)[0][:200] if new - old else "-"
            removed = sorted(old - new)[0][:200] if old - new else "-"
            return f"{container}: now {added} was {removed}"
    return "?"


def _aca_contract(path: str) -> bool:
    """Routes of pagoPA's ACA contract, whose errors are its ProblemJson (docs/aca-contract.md)."""
    return path.startswith(("/api/aca/", "/api/upload/aca/"))
