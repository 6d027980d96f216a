"""The Notification Hubs simulator: the REST subset the app uses, behaving as the service is
documented to behave, checked by Microsoft's own SDK (tests/contract). Every behaviour below and
its source is in docs/notification-hubs.md.

REST (``https://<namespace>/<hub>/...`` on the service; ``http://127.0.0.1:<port>/<hub>/...``
here):

- every call carries a SAS token (``Authorization: SharedAccessSignature sr=&sig=&se=&skn=``)
  signed with one of the hub's rules, and an ``api-version`` the service knows
  (:data:`API_VERSIONS`; missing or unknown: 400);
- a rule holds rights: ``Listen`` (installations: create, read, update, delete), ``Send``
  (sends), ``Manage``. A bad, expired or foreign token, or a rule without the right the
  operation needs, is 401; an unknown hub is 404;
- ``PUT /{hub}/installations/{id}`` creates or overwrites (platform ``apns`` or ``fcmv1``
  in any case; FCM legacy ``gcm``/``fcm`` refused with 400; at most 60 valid tags): 200;
- ``GET`` (200, or 404), ``PATCH`` (JSON-Patch on ``/pushChannel``, ``/tags``, ``/userId``:
  200, or 404), ``DELETE`` (204, also when there was no such installation);
- ``POST /{hub}/messages/``: ``ServiceBusNotification-Format`` ``apple`` or ``fcmv1`` (any
  case; payload checked: ``aps`` for apple, ``{"message": {...}}`` with a flat string
  ``data`` map for fcmv1), to the installations its ``ServiceBusNotification-Tags``
  expression selects (:mod:`local.nhsim.tags`; none: every installation; malformed or over
  the limits: 400), or, with ``?direct``, to the ``ServiceBusNotification-DeviceHandle``.
  201 with ``Location`` (the notification id) even when nothing matches.

A notification is DELIVERED to an installation the expression selects that has a push
channel for the notification's platform (apple: ``apns``, fcmv1: ``fcmv1``); the simulator
counts deliveries per installation (and per device handle for direct sends). Tests assert
deliveries, never accepted sends: a 201 proves nothing.

Faults (:class:`Faults`) hit a chosen fraction of REST requests: ``throttle`` (429 with
Retry-After), ``quota`` (403 with Retry-After), ``unavailable`` (503), ``error`` (500),
``reset`` (the connection is reset before the request is accepted) and ``reset-after``
(accepted, then reset). Error bodies can be padded to a size, and latency added to every call.
A request for the same target before a Retry-After it was given has passed is counted as an
early retry.

Counters: TCP connections accepted, connections that carried a REST request and how many each
carried, requests in flight (now and at most), sends, deliveries, duplicate sends (same hub,
tags, format and body), installations, faults by kind, refusals by reason, distinct tokens.

Every REST request is recorded (method, path, query, header names, the values of the protocol
headers, the body's shape and the answer's status), so tests compare what two clients send.

Control API (no token): ``GET /_sim/stats``, ``POST /_sim/reset`` (``{"state": true}`` also
forgets installations, sends and deliveries), ``GET``/``POST /_sim/faults``,
``GET /_sim/requests[?hub=]``, ``GET /_sim/hubs/{hub}/installations/{id}``,
``GET /_sim/hubs/{hub}/sends``, ``GET /_sim/hubs/{hub}/delivered``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import random
import socket
import struct
import uuid
import weakref
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

from aiohttp import web

from local.nhsim.tags import (
    MAX_TAGS_PER_INSTALLATION,
    TagExpressionError,
    check_tag,
    evaluate,
    installation_tag,
    parse,
)
from shared.platform.clock import Clock, SystemClock

FAULT_KINDS = ("throttle", "quota", "unavailable", "error", "reset", "reset-after")
RIGHTS = ("Listen", "Send", "Manage")
#: The data-plane api-versions with evidence that the service accepts them.
API_VERSIONS = frozenset({"2013-07", "2015-01", "2015-04", "2016-07", "2017-04", "2020-06"})
#: Headers whose values are the protocol (recorded with their values; others by name only).
PROTOCOL_HEADERS = frozenset(
    {
        "content-type",
        "x-ms-version",
        "servicebusnotification-format",
        "servicebusnotification-tags",
        "servicebusnotification-devicehandle",
        "apns-push-type",
        "apns-priority",
    }
)
#: How many requests the log keeps (the oldest go first).
REQUEST_LOG = 50_000
_PLATFORMS = {"apns", "fcmv1"}
_RETIRED = {"gcm", "fcm"}
#: Format -> the installation platform it is handed to.
_FORMATS = {"apple": "apns", "fcmv1": "fcmv1"}
#: What the service answers a GET with, beside what was PUT.
_READ_ONLY = {"pushChannelExpired": False, "expirationTime": "9999-12-31T23:59:59.9999999Z"}


@dataclass(frozen=True)
class Rule:
    """A hub's shared access rule: its key and its rights."""

    key: str
    rights: frozenset[str] = frozenset(RIGHTS)

    @classmethod
    def from_json(cls, raw: str | Mapping[str, Any]) -> Rule:
        """A key alone is a rule with every right (like ``DefaultFullSharedAccessSignature``);
        ``{"key": ..., "rights": ["Send"]}`` names its rights."""
        if isinstance(raw, str):
            return cls(raw)
        rights = frozenset(raw.get("rights", RIGHTS))
        unknown = rights - set(RIGHTS)
        if unknown or not rights or not raw.get("key"):
            raise ValueError(f"a rule is a key and rights from {RIGHTS}")
        return cls(str(raw["key"]), rights)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "rights": sorted(self.rights)}


HubRules = Mapping[str, Mapping[str, "str | Mapping[str, Any] | Rule"]]


@dataclass
class Faults:
    """What to inject, and into what fraction of the REST requests."""

    fraction: float = 0.0
    kinds: tuple[str, ...] = ()
    retry_after: int = 1
    error_body_bytes: int = 0
    latency_ms: float = 0.0
    only: str | None = None  # "send", "installation" or None for every REST call
    seed: int = 0

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Faults:
        faults = cls(
            fraction=float(raw.get("fraction", 0.0)),
            kinds=tuple(raw.get("kinds", ())),
            retry_after=int(raw.get("retryAfter", 1)),
            error_body_bytes=int(raw.get("errorBodyBytes", 0)),
            latency_ms=float(raw.get("latencyMs", 0.0)),
            only=raw.get("only"),
            seed=int(raw.get("seed", 0)),
        )
        unknown = set(faults.kinds) - set(FAULT_KINDS)
        if unknown or not 0 <= faults.fraction <= 1 or (faults.fraction and not faults.kinds):
            raise ValueError(
                f"faults: kinds from {FAULT_KINDS}, fraction 0-1 (unknown: {sorted(unknown)})"
            )
        return faults

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        return {
            "fraction": raw["fraction"],
            "kinds": list(self.kinds),
            "retryAfter": self.retry_after,
            "errorBodyBytes": self.error_body_bytes,
            "latencyMs": self.latency_ms,
            "only": self.only,
            "seed": self.seed,
        }


@dataclass
class Send:
    """An accepted send, and the installations (or device handle) it was delivered to."""

    hub: str
    tags: str | None
    format: str
    body: str
    at: str
    delivered: list[str]
    direct: str | None = None


@dataclass
class _Connection:
    requests: int = 0


@dataclass
class _Counters:
    accepted: int = 0
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    duplicates: int = 0
    early_retries: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    tokens: set[str] = field(default_factory=set)
    connections: list[_Connection] = field(default_factory=list)


class Simulator:
    """One simulated namespace with the given hubs (name -> {rule name: key or rule})."""

    def __init__(
        self,
        hubs: HubRules,
        *,
        clock: Clock | None = None,
        faults: Faults | None = None,
    ) -> None:
        if "_sim" in hubs:
            raise ValueError("_sim is the control API, not a hub name")
        self.hubs: dict[str, dict[str, Rule]] = {
            name: {
                rule: value if isinstance(value, Rule) else Rule.from_json(value)
                for rule, value in rules.items()
            }
            for name, rules in hubs.items()
        }
        self.clock = clock or SystemClock()
        self.installations: dict[str, dict[str, dict[str, Any]]] = {h: {} for h in self.hubs}
        self._tagged: dict[str, dict[str, set[str]]] = {h: {} for h in self.hubs}
        self.delivered: dict[str, Counter[str]] = {h: Counter() for h in self.hubs}
        self.direct: dict[str, Counter[str]] = {h: Counter() for h in self.hubs}
        self.sends: list[Send] = []
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG)
        self._seen: set[tuple[str, str | None, str, str]] = set()
        self._not_before: dict[tuple[str, str], datetime] = {}
        self._by_transport: weakref.WeakKeyDictionary[Any, _Connection] = (
            weakref.WeakKeyDictionary()
        )
        self._instance = uuid.uuid4().hex[:20]
        self._ids = itertools.count(1)
        #: Tokens already verified: (hub, Authorization) -> (rule name, resource, expiry).
        self._verified: dict[tuple[str, str], tuple[str, str, int]] = {}
        self.counters = _Counters()
        self.configure(faults or Faults())
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self.port = 0

    # ---------------------------------------------------------------- lifecycle
    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.add_routes(
            [
                web.get("/_sim/stats", self._stats),
                web.post("/_sim/reset", self._reset),
                web.get("/_sim/faults", self._get_faults),
                web.post("/_sim/faults", self._set_faults),
                web.get("/_sim/requests", self._peek_requests),
                web.get("/_sim/hubs/{hub}/installations/{id}", self._peek_installation),
                web.get("/_sim/hubs/{hub}/sends", self._peek_sends),
                web.get("/_sim/hubs/{hub}/delivered", self._peek_delivered),
            ]
        )
        app.add_routes(
            [
                web.put("/{hub}/installations/{id}", self._rest(self._put, "installation")),
                web.get("/{hub}/installations/{id}", self._rest(self._get, "installation")),
                web.patch("/{hub}/installations/{id}", self._rest(self._patch, "installation")),
                web.delete("/{hub}/installations/{id}", self._rest(self._delete, "installation")),
                web.post("/{hub}/messages/", self._rest(self._send, "send")),
                web.post("/{hub}/messages", self._rest(self._send, "send")),
            ]
        )
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        server = self._runner.server
        assert server is not None

        def accept() -> Any:
            self.counters.accepted += 1
            return server()

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            accept, host, port, backlog=1024, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---------------------------------------------------------------- state and counters
    def configure(self, faults: Faults) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)

    def reset(self, *, state: bool = False) -> None:
        """Zero the counters and forget the request log; with ``state``, also forget
        installations, sends and deliveries."""
        self.counters = _Counters()
        self._by_transport = weakref.WeakKeyDictionary()
        self._not_before.clear()
        self.requests.clear()
        if state:
            self.installations = {h: {} for h in self.hubs}
            self._tagged = {h: {} for h in self.hubs}
            self.delivered = {h: Counter() for h in self.hubs}
            self.direct = {h: Counter() for h in self.hubs}
            self.sends.clear()
            self._seen.clear()

    def open_connections(self) -> int:
        server = self._runner.server if self._runner else None
        return len(server.connections) if server is not None else 0

    def stats(self) -> dict[str, Any]:
        c = self.counters
        per_connection = [conn.requests for conn in c.connections]
        return {
            "accepted": c.accepted,
            "connections": len(c.connections),
            "open": self.open_connections(),
            "requests": c.requests,
            "requestsPerConnection": per_connection,
            "maxRequestsPerConnection": max(per_connection, default=0),
            "inFlight": c.in_flight,
            "maxInFlight": c.max_in_flight,
            "sends": len(self.sends),
            "delivered": sum(sum(d.values()) for d in self.delivered.values())
            + sum(sum(d.values()) for d in self.direct.values()),
            "duplicates": c.duplicates,
            "installations": sum(len(i) for i in self.installations.values()),
            "faults": dict(c.faults),
            "refused": dict(c.refused),
            "earlyRetries": c.early_retries,
            "tokens": len(c.tokens),
        }

    # ---------------------------------------------------------------- the REST edge
    def _rest(self, action: Any, area: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            c = self.counters
            c.requests += 1
            c.in_flight += 1
            c.max_in_flight = max(c.max_in_flight, c.in_flight)
            body = b""
            status = 0
            try:
                self._count_connection(request)
                if self.faults.latency_ms:
                    await asyncio.sleep(self.faults.latency_ms / 1000)
                body = await request.read()
                response = await self._answer(request, action, area, body)
                status = response.status
                return response
            finally:
                c.in_flight -= 1
                self._record(request, body, status)

        return handler

    async def _answer(
        self, request: web.Request, action: Any, area: str, body: bytes
    ) -> web.StreamResponse:
        hub = request.match_info["hub"]
        if hub not in self.hubs:
            return _error(404, f"The hub {hub} does not exist.")
        right = "Send" if area == "send" else "Listen"
        refusal = self._refusal(request, hub, right)
        if refusal is not None:
            self.counters.refused[refusal] += 1
            return _error(401, f"Unauthorized: {refusal}.")
        version = request.query.get("api-version")
        if not version:
            return _error(400, "The api-version query parameter is required.")
        if version not in API_VERSIONS:
            return _error(
                400,
                f"The api-version '{version}' is not supported; use one of "
                f"{', '.join(sorted(API_VERSIONS))}.",
            )
        target = (hub, self._target(request))
        if self._not_before and self._not_before.get(target, self.clock.now()) > self.clock.now():
            self.counters.early_retries += 1
        fault = self._fault(area)
        if fault is not None:
            self.counters.faults[fault] += 1
            answer = self._inject(request, fault, target)
            if answer is not None:
                return answer
        response: web.StreamResponse = await action(request, hub, body)
        response.headers["TrackingId"] = f"{self._instance}-{next(self._ids)}"
        if fault == "reset-after":
            _reset_connection(request)
        return response

    def _count_connection(self, request: web.Request) -> None:
        transport = request.transport
        if transport is None:
            return
        record = self._by_transport.get(transport)
        if record is None:
            record = _Connection()
            self._by_transport[transport] = record
            self.counters.connections.append(record)
        record.requests += 1

    def _record(self, request: web.Request, body: bytes, status: int) -> None:
        headers = request.headers
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "hub": request.match_info.get("hub"),
                "query": {key: request.query.getall(key)[0] for key in request.query},
                "headers": sorted({name.lower() for name in headers}),
                "protocol": {
                    name.lower(): value
                    for name, value in headers.items()
                    if name.lower() in PROTOCOL_HEADERS
                },
                "body": body,  # its shape is worked out when the log is read
                "status": status,
            }
        )

    def _target(self, request: web.Request) -> str:
        return str(
            request.match_info.get("id") or request.headers.get("ServiceBusNotification-Tags", "")
        )

    def _refusal(self, request: web.Request, hub: str, right: str) -> str | None:
        header = request.headers.get("Authorization", "")
        verified = self._verified.get((hub, header))
        if verified is None:
            refusal, verified = self._verify(header, hub)
            if verified is None:
                return refusal
            if len(self._verified) > 10_000:  # clients renew tokens: forget old ones
                self._verified.clear()
            self._verified[(hub, header)] = verified
        name, resource, expiry = verified
        if expiry <= self.clock.now().timestamp():
            return "expired token"
        requested = f"{request.scheme}://{request.host}/{hub}".lower()
        if requested != resource and not requested.startswith(resource + "/"):
            return "token for another resource"
        if right not in self.hubs[hub][name].rights:
            return f"the rule has no {right} right"
        self.counters.tokens.add(header)
        return None

    def _verify(self, header: str, hub: str) -> tuple[str, tuple[str, str, int] | None]:
        """Check a token's form, rule and signature: (refusal, None) or ("", what it grants)."""
        prefix = "SharedAccessSignature "
        if not header.startswith(prefix):
            return "no SharedAccessSignature token", None
        fields = dict(
            part.split("=", 1) for part in header[len(prefix) :].split("&") if "=" in part
        )
        sr, sig, se, skn = (fields.get(k) for k in ("sr", "sig", "se", "skn"))
        if not (sr and sig and se and skn) or not se.isdigit():
            return "malformed token", None
        name = unquote(skn)
        rule = self.hubs[hub].get(name)
        if rule is None:
            return "unknown key name", None
        expected = base64.b64encode(
            hmac.new(rule.key.encode(), f"{sr}\n{se}".encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(unquote(sig), expected):
            return "bad signature", None
        return "", (name, unquote(sr).lower().rstrip("/"), int(se))

    def _fault(self, area: str) -> str | None:
        faults = self.faults
        if not faults.fraction or (faults.only and faults.only != area):
            return None
        if self._random.random() >= faults.fraction:
            return None
        return self._random.choice(faults.kinds)

    def _inject(
        self, request: web.Request, fault: str, target: tuple[str, str]
    ) -> web.StreamResponse | None:
        faults = self.faults
        if fault == "reset":
            _reset_connection(request)
            return web.Response(status=500)  # never written: the connection is gone
        if fault == "reset-after":
            return None
        status = {"throttle": 429, "quota": 403, "unavailable": 503, "error": 500}[fault]
        headers = {}
        if fault in ("throttle", "quota"):
            headers["Retry-After"] = str(faults.retry_after)
            when = self.clock.now().timestamp() + faults.retry_after
            self._not_before[target] = datetime.fromtimestamp(when, self.clock.now().tzinfo)
        return _error(status, f"Injected {fault}.", headers=headers, pad_to=faults.error_body_bytes)

    # ---------------------------------------------------------------- installations
    async def _put(self, request: web.Request, hub: str, body: bytes) -> web.Response:
        installation_id = request.match_info["id"]
        try:
            document = json.loads(body)
        except ValueError:
            return _error(400, "The body is not JSON.")
        if not isinstance(document, dict):
            return _error(400, "An installation is a JSON object.")
        platform = str(document.get("platform", "")).lower()
        if platform in _RETIRED:
            return _error(400, "FCM legacy is retired: use the FCMV1 platform.")
        if platform not in _PLATFORMS:
            return _error(400, "Unsupported platform.")
        if document.get("installationId") != installation_id:
            return _error(400, "installationId does not match the URI.")
        if not isinstance(document.get("pushChannel"), str) or not document["pushChannel"]:
            return _error(400, "pushChannel is required.")
        try:
            tags = _checked_tags(document.get("tags", []))
        except TagExpressionError as error:
            return _error(400, f"Invalid tags: {error}.")
        document["platform"] = platform
        if "tags" in document:
            document["tags"] = tags
        self._forget(hub, installation_id)
        self.installations[hub][installation_id] = document
        self._index(hub, installation_id)
        return web.Response(status=200)

    async def _get(self, request: web.Request, hub: str, body: bytes) -> web.Response:
        found = self.installations[hub].get(request.match_info["id"])
        if found is None:
            return _error(404, "Installation not found.")
        return web.json_response({**found, **_READ_ONLY})

    async def _patch(self, request: web.Request, hub: str, body: bytes) -> web.Response:
        installation_id = request.match_info["id"]
        found = self.installations[hub].get(installation_id)
        if found is None:
            return _error(404, "Installation not found.")
        patched = json.loads(json.dumps(found))
        try:
            operations = json.loads(body)
            if not isinstance(operations, list) or not operations:
                raise ValueError("a JSON-Patch is a non-empty array")
            for operation in operations:
                _apply_patch(patched, operation)
            if "tags" in patched:
                patched["tags"] = _checked_tags(patched["tags"])
        except (ValueError, TypeError, KeyError) as error:
            return _error(400, f"Not a valid JSON-Patch for an installation: {error}.")
        if not patched.get("pushChannel"):
            return _error(400, "pushChannel is required.")
        self._forget(hub, installation_id)
        self.installations[hub][installation_id] = patched
        self._index(hub, installation_id)
        return web.Response(status=200)

    async def _delete(self, request: web.Request, hub: str, body: bytes) -> web.Response:
        installation_id = request.match_info["id"]
        self._forget(hub, installation_id)
        self.installations[hub].pop(installation_id, None)
        return web.Response(status=204)

    def _index(self, hub: str, installation_id: str) -> None:
        for tag in self.installations[hub][installation_id].get("tags", []):
            self._tagged[hub].setdefault(tag, set()).add(installation_id)

    def _forget(self, hub: str, installation_id: str) -> None:
        old = self.installations[hub].get(installation_id)
        for tag in old.get("tags", []) if old else []:
            holders = self._tagged[hub].get(tag)
            if holders is not None:
                holders.discard(installation_id)
                if not holders:
                    del self._tagged[hub][tag]

    # ---------------------------------------------------------------- sends
    async def _send(self, request: web.Request, hub: str, body: bytes) -> web.Response:
        raw_format = request.headers.get("ServiceBusNotification-Format", "").lower()
        if raw_format in _RETIRED:
            return _error(400, "FCM legacy is retired: use the fcmv1 format.")
        if raw_format not in _FORMATS:
            return _error(400, "Unsupported ServiceBusNotification-Format.")
        try:
            payload = json.loads(body)
        except ValueError:
            return _error(400, "The notification is not JSON.")
        problem = _check_payload(raw_format, payload)
        if problem:
            return _error(400, problem)
        handle: str | None = None
        tags = request.headers.get("ServiceBusNotification-Tags")
        if "direct" in request.query:
            handle = request.headers.get("ServiceBusNotification-DeviceHandle", "")
            if not handle:
                return _error(400, "A direct send needs ServiceBusNotification-DeviceHandle.")
            delivered = [handle]
            self.direct[hub][handle] += 1
        else:
            try:
                selected = self._select(hub, tags)
            except TagExpressionError as error:
                return _error(400, f"Invalid tag expression: {error}.")
            wanted = _FORMATS[raw_format]
            delivered = sorted(
                installation
                for installation in selected
                if self.installations[hub][installation]["platform"] == wanted
            )
            self.delivered[hub].update(delivered)
        text = body.decode()
        key = (hub, tags, raw_format, text)
        if key in self._seen:
            self.counters.duplicates += 1
        self._seen.add(key)
        self.sends.append(
            Send(hub, tags, raw_format, text, self.clock.now().isoformat(), delivered, handle)
        )
        notification = f"{self._instance}{next(self._ids):012d}"
        location = (
            f"{request.scheme}://{request.host}/{hub}/messages/{notification}"
            f"?api-version={request.query['api-version']}"
        )
        return web.Response(status=201, headers={"Location": location})

    def _select(self, hub: str, expression: str | None) -> set[str]:
        """The installations of ``hub`` that ``expression`` selects (every one without)."""
        installations = self.installations[hub]
        if expression is None or not expression.strip():
            return set(installations)
        tagged = self._tagged[hub]

        def carrying(tag: str) -> set[str]:
            if tag.startswith("$"):
                return {i for i in _system_owner(tag) if i in installations}
            return tagged.get(tag, set())

        return evaluate(parse(expression), carrying, lambda: installations.keys())

    # ---------------------------------------------------------------- control API
    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _reset(self, request: web.Request) -> web.Response:
        raw = await request.json() if request.can_read_body else {}
        self.reset(state=bool(raw.get("state")))
        return web.json_response(self.stats())

    async def _get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.to_json())

    async def _set_faults(self, request: web.Request) -> web.Response:
        try:
            self.configure(Faults.from_json(await request.json()))
        except (ValueError, TypeError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(self.faults.to_json())

    def logged(self, hub: str | None = None) -> list[dict[str, Any]]:
        """The request log (on ``hub``), oldest first, bodies as their shapes."""
        return [
            {**r, "body": body_shape(r["body"])}
            for r in self.requests
            if hub is None or r["hub"] == hub
        ]

    async def _peek_requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.logged(request.query.get("hub")))

    async def _peek_installation(self, request: web.Request) -> web.Response:
        found = self.installations.get(request.match_info["hub"], {}).get(request.match_info["id"])
        if found is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response(found)

    async def _peek_sends(self, request: web.Request) -> web.Response:
        hub = request.match_info["hub"]
        return web.json_response([asdict(s) for s in self.sends if s.hub == hub])

    async def _peek_delivered(self, request: web.Request) -> web.Response:
        hub = request.match_info["hub"]
        if hub not in self.hubs:
            return web.json_response({"error": "no such hub"}, status=404)
        return web.json_response(
            {"installations": dict(self.delivered[hub]), "direct": dict(self.direct[hub])}
        )


def _system_owner(tag: str) -> list[str]:
    """The installation a system tag names: ``$InstallationId:{<id>}`` exactly, else none."""
    prefix = "$InstallationId:{"
    if tag.startswith(prefix) and tag.endswith("}"):
        installation = tag[len(prefix) : -1]
        if installation_tag(installation) == tag:
            return [installation]
    return []


def _checked_tags(raw: Any) -> list[str]:
    if not isinstance(raw, list):
        raise TagExpressionError("tags is an array of strings")
    if len(raw) > MAX_TAGS_PER_INSTALLATION:
        raise TagExpressionError(f"more than {MAX_TAGS_PER_INSTALLATION} tags")
    return list(dict.fromkeys(check_tag(tag) for tag in raw))


def _check_payload(fmt: str, payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return "The notification is not a JSON object."
    if fmt == "apple":
        return None if isinstance(payload.get("aps"), dict) else "apple needs an aps object."
    message = payload.get("message")
    if not isinstance(message, dict):
        return "fcmv1 needs the payload wrapped in a message object."
    data = message.get("data", {})
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return "fcmv1 data must be a flat string-to-string map."
    return None


def _apply_patch(installation: dict[str, Any], operation: Mapping[str, Any]) -> None:
    op, path = operation["op"], operation["path"]
    if path in ("/pushChannel", "/userId") and op in ("add", "replace"):
        installation[path[1:]] = str(operation["value"])
    elif path == "/userId" and op == "remove":
        installation.pop("userId", None)
    elif path in ("/tags", "/tags/-") and op == "add":
        value = operation["value"]
        added = value if isinstance(value, list) else [value]
        installation["tags"] = [*installation.get("tags", []), *added]
    elif path == "/tags" and op == "replace":
        value = operation["value"]
        installation["tags"] = list(value) if isinstance(value, list) else [value]
    elif path.startswith("/tags/") and op == "remove":
        installation.setdefault("tags", []).remove(path.removeprefix("/tags/"))
        if not installation["tags"]:
            del installation["tags"]  # the last tag removed takes the property with it
    else:
        raise ValueError(f"unsupported patch {op} {path}")


def body_shape(body: bytes) -> Any:
    """What a body looks like without its values: a JSON tree of keys (``{"message":
    {"notification": {"title": "string"}}}``), ``{"xml": [element names]}``, or None."""
    if not body.strip():
        return None
    try:
        return _json_shape(json.loads(body))
    except ValueError:
        pass
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return {"bytes": len(body)}
    return {"xml": [element.tag for element in root.iter()]}


def _json_shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_shape(item) for item in value]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "string"


def _error(
    status: int, detail: str, *, headers: Mapping[str, str] | None = None, pad_to: int = 0
) -> web.Response:
    text = f"<Error><Code>{status}</Code><Detail>{detail}</Detail></Error>"
    if pad_to > len(text):
        text += "<!--" + "x" * (pad_to - len(text) - 7) + "-->"
    return web.Response(
        status=status, text=text, content_type="application/xml", headers=dict(headers or {})
    )


def _reset_connection(request: web.Request) -> None:
    """Abort with RST (SO_LINGER 0), as a load balancer dropping the connection would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
