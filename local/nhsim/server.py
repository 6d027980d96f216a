"""The Notification Hubs simulator: the REST subset the app uses, with SAS validation, fault
injection and connection counters.

REST (every call needs ``api-version`` and a valid SAS token, as on the service):

- ``PUT /{hub}/installations/{id}``: create or overwrite (platform ``apns`` or ``fcmv1``; the
  retired FCM legacy platforms ``gcm``/``fcm`` are refused with 400);
- ``GET``, ``PATCH`` (JSON-Patch), ``DELETE /{hub}/installations/{id}``: 404 when it is not there;
- ``POST /{hub}/messages/``: ``ServiceBusNotification-Format`` ``apple`` or ``fcmV1`` (checked:
  ``aps`` for apple; ``message`` with a flat string ``data`` map for fcmV1), recorded with its
  tags; 201 even when no installation matches, as the service does.

A token is refused with 401 when it is malformed, signed with a wrong key or key name, expired
(by the simulator's clock) or scoped to another resource. An unknown hub is 404.

Faults (:class:`Faults`) hit a chosen fraction of REST requests: ``throttle`` (429 with
Retry-After), ``quota`` (403 with Retry-After), ``unavailable`` (503), ``error`` (500),
``reset`` (the connection is reset before the request is accepted) and ``reset-after``
(accepted, then reset). Error bodies can be padded to a size, and latency added to every call.
A request for the same target before a Retry-After it was given has passed is counted as an
early retry.

Counters: TCP connections accepted, connections that carried a REST request and how many each
carried, requests in flight (now and at most), sends, duplicate sends (same hub, tags, format
and body), installations, faults by kind, refusals by reason, distinct tokens seen.

Control API (no token): ``GET /_sim/stats``, ``POST /_sim/reset`` (``{"state": true}`` also
forgets installations and sends), ``GET``/``POST /_sim/faults``,
``GET /_sim/hubs/{hub}/installations/{id}``, ``GET /_sim/hubs/{hub}/sends``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import random
import socket
import struct
import weakref
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from shared.platform.clock import Clock, SystemClock

FAULT_KINDS = ("throttle", "quota", "unavailable", "error", "reset", "reset-after")
_PLATFORMS = {"apns", "fcmv1"}
_RETIRED = {"gcm", "fcm"}
_FORMATS = {"apple": "apple", "fcmv1": "fcmV1"}


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
    hub: str
    tags: str
    format: str
    body: str
    at: str
    matched: bool


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
    """One simulated namespace with the given hubs (name -> {key name: key})."""

    def __init__(
        self,
        hubs: Mapping[str, Mapping[str, str]],
        *,
        clock: Clock | None = None,
        faults: Faults | None = None,
    ) -> None:
        if "_sim" in hubs:
            raise ValueError("_sim is the control API, not a hub name")
        self.hubs = {name: dict(keys) for name, keys in hubs.items()}
        self.clock = clock or SystemClock()
        self.installations: dict[str, dict[str, dict[str, Any]]] = {h: {} for h in self.hubs}
        self.sends: list[Send] = []
        self._seen: set[tuple[str, str, str, str]] = set()
        self._not_before: dict[tuple[str, str], datetime] = {}
        self._by_transport: weakref.WeakKeyDictionary[Any, _Connection] = (
            weakref.WeakKeyDictionary()
        )
        self.counters = _Counters()
        self.configure(faults or Faults())
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self.port = 0

    # ---------------------------------------------------------------- lifecycle
    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        control = [
            web.get("/_sim/stats", self._stats),
            web.post("/_sim/reset", self._reset),
            web.get("/_sim/faults", self._get_faults),
            web.post("/_sim/faults", self._set_faults),
            web.get("/_sim/hubs/{hub}/installations/{id}", self._peek_installation),
            web.get("/_sim/hubs/{hub}/sends", self._peek_sends),
        ]
        app.add_routes(control)
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
        self.counters = _Counters()
        self._by_transport = weakref.WeakKeyDictionary()
        self._not_before.clear()
        if state:
            self.installations = {h: {} for h in self.hubs}
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
            try:
                self._count_connection(request)
                if self.faults.latency_ms:
                    await asyncio.sleep(self.faults.latency_ms / 1000)
                hub = request.match_info["hub"]
                if hub not in self.hubs:
                    return _error(404, f"The hub {hub} does not exist.")
                refusal = self._refusal(request, hub)
                if refusal is not None:
                    c.refused[refusal] += 1
                    return _error(401, f"Unauthorized: {refusal}.")
                if not request.query.get("api-version"):
                    return _error(400, "The api-version query parameter is required.")
                body = await request.read()
                target = (hub, self._target(request))
                if self._not_before.get(target, self.clock.now()) > self.clock.now():
                    c.early_retries += 1
                fault = self._fault(area)
                if fault is not None:
                    c.faults[fault] += 1
                    answer = self._inject(request, fault, target)
                    if answer is not None:
                        return answer
                response: web.StreamResponse = await action(request, hub, body)
                if fault == "reset-after":
                    _reset_connection(request)
                return response
            finally:
                c.in_flight -= 1

        return handler

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

    def _target(self, request: web.Request) -> str:
        return str(
            request.match_info.get("id") or request.headers.get("ServiceBusNotification-Tags", "")
        )

    def _refusal(self, request: web.Request, hub: str) -> str | None:
        header = request.headers.get("Authorization", "")
        prefix = "SharedAccessSignature "
        if not header.startswith(prefix):
            return "no SharedAccessSignature token"
        fields = dict(
            part.split("=", 1) for part in header[len(prefix) :].split("&") if "=" in part
        )
        sr, sig, se, skn = (fields.get(k) for k in ("sr", "sig", "se", "skn"))
        if not (sr and sig and se and skn) or not se.isdigit():
            return "malformed token"
        key = self.hubs[hub].get(skn)
        if key is None:
            return "unknown key name"
        expected = base64.b64encode(
            hmac.new(key.encode(), f"{sr}\n{se}".encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(unquote(sig), expected):
            return "bad signature"
        if int(se) <= self.clock.now().timestamp():
            return "expired token"
        resource = unquote(sr).lower().rstrip("/")
        requested = f"{request.scheme}://{request.host}/{hub}".lower()
        if requested != resource and not requested.startswith(resource + "/"):
            return "token for another resource"
        self.counters.tokens.add(sig)
        return None

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

    # ---------------------------------------------------------------- operations
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
        document["platform"] = platform
        self.installations[hub][installation_id] = document
        return web.Response(status=200)

    async def _get(self, request: web.Request, hub: str, body: bytes) -> web.Response:
        found = self.installations[hub].get(request.match_info["id"])
        if found is None:
            return _error(404, "Installation not found.")
        return web.json_response(found)

    async def _patch(self, request: web.Request, hub: str, body: bytes) -> web.Response:
        found = self.installations[hub].get(request.match_info["id"])
        if found is None:
            return _error(404, "Installation not found.")
        try:
            operations = json.loads(body)
            for operation in operations:
                _apply_patch(found, operation)
        except (ValueError, TypeError, KeyError):
            return _error(400, "Not a valid JSON-Patch for an installation.")
        return web.Response(status=200)

    async def _delete(self, request: web.Request, hub: str, body: bytes) -> web.Response:
        if self.installations[hub].pop(request.match_info["id"], None) is None:
            return _error(404, "Installation not found.")
        return web.Response(status=204)

    async def _send(self, request: web.Request, hub: str, body: bytes) -> web.Response:
        raw_format = request.headers.get("ServiceBusNotification-Format", "")
        if raw_format.lower() in _RETIRED:
            return _error(400, "FCM legacy is retired: use the fcmV1 format.")
        fmt = _FORMATS.get(raw_format.lower())
        if fmt is None:
            return _error(400, "Unsupported ServiceBusNotification-Format.")
        tags = request.headers.get("ServiceBusNotification-Tags", "")
        try:
            payload = json.loads(body)
        except ValueError:
            return _error(400, "The notification is not JSON.")
        problem = _check_payload(fmt, payload)
        if problem:
            return _error(400, problem)
        text = body.decode()
        key = (hub, tags, fmt, text)
        if key in self._seen:
            self.counters.duplicates += 1
        self._seen.add(key)
        self.sends.append(
            Send(hub, tags, fmt, text, self.clock.now().isoformat(), self._matches(hub, tags, fmt))
        )
        return web.Response(status=201)

    def _matches(self, hub: str, tags: str, fmt: str) -> bool:
        prefix = "$InstallationId:"
        if not tags.startswith(prefix):
            return False
        found = self.installations[hub].get(tags[len(prefix) :].strip("{}"))
        wanted = "apns" if fmt == "apple" else "fcmv1"
        return found is not None and found["platform"] == wanted

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

    async def _peek_installation(self, request: web.Request) -> web.Response:
        found = self.installations.get(request.match_info["hub"], {}).get(request.match_info["id"])
        if found is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response(found)

    async def _peek_sends(self, request: web.Request) -> web.Response:
        hub = request.match_info["hub"]
        return web.json_response([asdict(s) for s in self.sends if s.hub == hub])


def _check_payload(fmt: str, payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return "The notification is not a JSON object."
    if fmt == "apple":
        return None if isinstance(payload.get("aps"), dict) else "apple needs an aps object."
    message = payload.get("message")
    if not isinstance(message, dict):
        return "fcmV1 needs the payload wrapped in a message object."
    data = message.get("data", {})
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return "fcmV1 data must be a flat string-to-string map."
    return None


def _apply_patch(installation: dict[str, Any], operation: Mapping[str, Any]) -> None:
    op, path = operation["op"], operation["path"]
    if path == "/pushChannel" and op in ("add", "replace"):
        installation["pushChannel"] = str(operation["value"])
    elif path in ("/tags", "/tags/-") and op == "add":
        installation.setdefault("tags", []).append(str(operation["value"]))
    elif path.startswith("/tags/") and op == "remove":
        installation.setdefault("tags", []).remove(path.removeprefix("/tags/"))
    else:
        raise ValueError(f"unsupported patch {op} {path}")


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
