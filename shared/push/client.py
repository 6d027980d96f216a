"""The Notification Hubs REST client: installations and sends on ONE keep-alive session per
namespace.

Why it is built this way: in December 2020 a backend called Notification Hubs without
keep-alive, so every push opened a TCP connection; the Function ran out of outbound (SNAT)
ports and every other outbound call failed with it. Here:

- every hub of a namespace shares :class:`Namespace`: the process's one ``aiohttp`` session for
  that namespace (``Clients.session("push:<namespace>")``, with an explicit connector and
  timeouts) and a semaphore that keeps in-flight requests within the connector's limit, so a
  burst waits here instead of timing out in the connector's queue;
- every response is read (success) or drained (errors, up to a bound) inside ``async with``,
  so the connection goes back to the pool, or is closed when an error body is too large;
- SAS tokens come from :class:`~shared.push.sas.SasTokens`, not signed per request.

Every request speaks the REST API as Microsoft's own SDKs do (facts and sources in
docs/notification-hubs.md): ``api-version`` and ``x-ms-version`` 2020-06 on every operation,
installations ``PUT``/``PATCH``/``DELETE /{hub}/installations/{id}``, sends
``POST /{hub}/messages/`` in the ``apple`` or ``fcmv1`` format to the tag
``$InstallationId:{<id>}`` (literal braces: :func:`~shared.push.hubs.installation_tag`).

Answers end as docs/architecture.md's queue endings say (:mod:`shared.platform.queue_work`):

==============================================  ==========================================
200 (PUT, PATCH), 204 (DELETE, also when the    ok
installation was not there), 201 (send, also
when no installation matches)
429; 403 with Retry-After (the quota);          transient: retried here with backoff and
408, 5xx; timeouts, resets, refused             jitter, honouring Retry-After; then
connections                                     TransientError (the message is redelivered),
                                                or RescheduleLater after Retry-After when the
                                                service asked for a wait longer than the cap
                                                or for one more wait after the last attempt
401 (bad or expired signature, or a rule        PermanentError (failed work with the reason)
without the right: Listen for installations,
Send for sends); 400, 413, 403 without
Retry-After, other 4xx
404 on send, PUT or DELETE                      ConfigurationError: a wrong hub path, alerted
                                                (DELETE of an absent installation is 204)
404 on PATCH                                    the installation is gone: False
==============================================  ==========================================

The device token never appears in a log line or an error reason.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import aiohttp

from shared.platform.clients import SessionSpec
from shared.platform.clock import Clock
from shared.platform.config import Settings
from shared.platform.errors import ConfigurationError, PermanentError
from shared.platform.queue_work import Sleep, retry_transient
from shared.push.hubs import HubRouter, installation_tag
from shared.push.models import HubInstallation, NativeNotification, Platform
from shared.push.sas import SasTokens, resource_uri
from shared.push.settings import PushHubSetting

logger = logging.getLogger(__name__)

#: What Microsoft's current SDKs send (.NET ``ManagementStrings.ApiVersion``, JavaScript
#: ``clientContext.ts``), as ``api-version`` and ``x-ms-version``, for every operation and
#: platform; 2023-10-01-preview is the management plane's (ARM) version, not this API's.
API_VERSION = "2020-06"
#: Installations (PUT): what the REST reference and both SDKs send.
INSTALLATION_CONTENT = "application/json"
#: Notifications: what the REST reference and both SDKs send for apple and fcmv1.
JSON_CONTENT = "application/json;charset=utf-8"
PATCH_CONTENT = "application/json-patch+json"
#: How much of an error body is read to keep its connection reusable; past it, it is closed.
MAX_DRAIN_BYTES = 1024 * 1024
#: Enough of an error body to redact a whole device token (<= 512) in the reason's 200 chars.
_KEPT_BYTES = 1024

Operation = Literal["install", "patch", "delete", "send"]
Outcome = Literal["ok", "gone", "transient", "permanent", "misconfigured"]
SessionFor = Callable[[str, SessionSpec], aiohttp.ClientSession]
JsonPatch = Mapping[str, str]


@dataclass(frozen=True)
class RetryPolicy:
    """Retries inside one invocation: ``attempts`` in all, waits capped at ``max_delay``."""

    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 5.0


class _Transient(Exception):
    """A transient answer (see :func:`classify`): retried; ``retry_after`` is the service's ask."""

    def __init__(self, reason: str, retry_after: float | None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Answer:
    """What one HTTP exchange gave: ``status`` 0 when there was no HTTP answer."""

    status: int
    retry_after: str | None = None
    detail: str = ""


def classify(operation: Operation, answer: Answer) -> Outcome:
    """How an answer to ``operation`` ends (see the module docstring)."""
    status = answer.status
    if 200 <= status < 300:
        return "ok"
    if status == 0 or status == 429 or status == 408 or status >= 500:
        return "transient"
    if status == 403 and answer.retry_after is not None:
        return "transient"  # the quota throttle
    if status == 404:
        # The service answers DELETE of an absent installation with 204, so a 404 there means
        # no hub at that path; PATCH of an absent installation is a 404 of its own.
        return "gone" if operation == "patch" else "misconfigured"
    return "permanent"


class Namespace:
    """One namespace's connection side: its shared session and the in-flight bound.

    ``session_per_call`` brings back the December 2020 client, a new session (so a new TCP
    connection) for every request, to reproduce the outage it caused (tests/netns,
    bench/outage.py). No setting turns it on: only those reproductions pass it.
    """

    def __init__(
        self,
        name: str,
        session: Callable[[], aiohttp.ClientSession],
        bound: int,
        *,
        session_per_call: bool = False,
    ) -> None:
        self.name = name
        self._session = session
        self._bound = asyncio.Semaphore(bound)
        self.bound = bound
        self.in_flight = 0
        self.max_in_flight = 0
        self._per_call = session_per_call

    async def exchange(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> Answer:
        """One request; the response is always read or released before this returns."""
        async with self._bound:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if self._per_call:
                    timeout = self._session().timeout
                    async with aiohttp.ClientSession(timeout=timeout) as session:
                        return await _request(session, method, url, headers, body)
                return await _request(self._session(), method, url, headers, body)
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                # Connection errors, resets and timeouts (aiohttp's ServerTimeoutError is a
                # ClientError and a TimeoutError); "cannot assign requested address" too.
                return Answer(0, None, _describe(error))
            finally:
                self.in_flight -= 1


async def _request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
) -> Answer:
    async with session.request(method, url, headers=dict(headers), data=body) as response:
        if response.status < 300:
            await response.read()
            return Answer(response.status)
        detail = await _drain(response)
        return Answer(response.status, response.headers.get("Retry-After"), detail)


async def _drain(response: aiohttp.ClientResponse) -> str:
    """Read an error body to the end (so the connection is reused), keeping its start."""
    kept = bytearray()
    total = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        if len(kept) < _KEPT_BYTES:
            kept.extend(chunk[: _KEPT_BYTES - len(kept)])
        total += len(chunk)
        if total > MAX_DRAIN_BYTES:
            break  # released unread: aiohttp closes this connection instead of pooling it
    return kept.decode("utf-8", errors="replace")


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:300]


class HubClient:
    """One hub's REST operations, through its namespace's shared session."""

    def __init__(
        self,
        name: str,
        endpoint: str,
        namespace: Namespace,
        tokens: SasTokens,
        *,
        policy: RetryPolicy,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.name = name
        self.url = f"{endpoint.rstrip('/')}/{name}"
        self.namespace = namespace
        self.tokens = tokens
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter

    async def create_or_update(self, installation: HubInstallation) -> None:
        """``PUT /{hub}/installations/{id}``: create or overwrite (200)."""
        await self._call(
            "install",
            "PUT",
            f"/installations/{installation.installation_id}",
            API_VERSION,
            installation.body(),
            _headers(INSTALLATION_CONTENT),
            secrets=(installation.push_channel,),
        )

    async def patch(self, installation: str, operations: Sequence[JsonPatch]) -> bool:
        """``PATCH /{hub}/installations/{id}`` (JSON-Patch); False if the installation is gone."""
        body = json.dumps([dict(operation) for operation in operations]).encode()
        values = tuple(op["value"] for op in operations if op.get("value"))
        outcome = await self._call(
            "patch",
            "PATCH",
            f"/installations/{installation}",
            API_VERSION,
            body,
            _headers(PATCH_CONTENT),
            secrets=values,
        )  # a new pushChannel among them
        return outcome == "ok"

    async def delete(self, installation: str) -> None:
        """``DELETE /{hub}/installations/{id}``: 204, whether or not it was there."""
        await self._call(
            "delete", "DELETE", f"/installations/{installation}", API_VERSION, None, _headers()
        )

    async def send(
        self, installation: str, platform: Platform, notification: NativeNotification
    ) -> None:
        """``POST /{hub}/messages/`` to the tag ``$InstallationId:{<id>}`` (201, also when no
        installation matches: a wrong tag is not an error, it reaches nobody)."""
        headers = {
            **_headers(JSON_CONTENT),
            "ServiceBusNotification-Format": notification.format,
            "ServiceBusNotification-Tags": installation_tag(installation),
            **dict(notification.headers),
        }
        await self._call("send", "POST", "/messages/", API_VERSION, notification.body, headers)

    async def _call(
        self,
        operation: Operation,
        method: str,
        path: str,
        version: str,
        body: bytes | None,
        headers: Mapping[str, str],
        *,
        secrets: tuple[str, ...] = (),
    ) -> Outcome:
        url = f"{self.url}{path}?api-version={version}"
        policy = self._policy
        tried = 0

        async def once() -> Outcome:
            nonlocal tried
            tried += 1
            answer = await self.namespace.exchange(
                method, url, {**headers, "Authorization": self.tokens.token()}, body
            )
            outcome = classify(operation, answer)
            if outcome in ("ok", "gone"):
                return outcome
            reason = self._reason(operation, answer, secrets)
            if outcome == "permanent":
                raise PermanentError(reason)
            if outcome == "misconfigured":
                logger.error(
                    "push hub %s has no such path (%s %s): check its PUSH_HUB_<n>_NAME "
                    "and connection",
                    self.name,
                    method,
                    path.split("/")[1],
                )
                raise ConfigurationError(reason)
            logger.warning(
                "push %s on hub %s: %s (attempt %d of %d)",
                operation,
                self.name,
                reason,
                tried,
                policy.attempts,
            )
            raise _Transient(reason, self._retry_after(answer.retry_after))

        return await retry_transient(
            once,
            attempts=policy.attempts,
            base_delay=policy.base_delay,
            max_delay=policy.max_delay,
            on=_Transient,
            reschedule=True,
            sleep=self._sleep,
            jitter=self._jitter,
        )

    def _reason(self, operation: Operation, answer: Answer, secrets: tuple[str, ...]) -> str:
        """Why a call failed, for logs and failed work: never a device token."""
        what = f"HTTP {answer.status}" if answer.status else "no answer"
        detail = " ".join(answer.detail.split())
        for secret in secrets:
            detail = detail.replace(secret, "<device token>")
        detail = detail[:200]
        return f"{operation} on hub {self.name}: {what}" + (f" ({detail})" if detail else "")

    def _retry_after(self, raw: str | None) -> float | None:
        """Retry-After in seconds (delta-seconds or an HTTP date), None if absent."""
        if raw is None or not raw.strip():
            return None
        text = raw.strip()
        if text.replace(".", "", 1).isdigit():
            return float(text)
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - self._clock.now()).total_seconds())


def _headers(content_type: str | None = None) -> dict[str, str]:
    """The headers every request carries (the SAS token is added per attempt)."""
    headers = {"x-ms-version": API_VERSION}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


class PushDispatcher:
    """Every hub, each installation routed to its own (see :mod:`shared.push.hubs`)."""

    def __init__(self, router: HubRouter[HubClient], namespaces: Mapping[str, Namespace]) -> None:
        self.router = router
        self.namespaces = dict(namespaces)

    def hub_for(self, installation: str) -> HubClient:
        return self.router.hub_for(installation)

    async def create_or_update(self, installation: HubInstallation) -> None:
        await self.hub_for(installation.installation_id).create_or_update(installation)

    async def delete(self, installation: str) -> None:
        await self.hub_for(installation).delete(installation)

    async def send(
        self, installation: str, platform: Platform, notification: NativeNotification
    ) -> None:
        await self.hub_for(installation).send(installation, platform, notification)


def session_spec(settings: Settings) -> SessionSpec:
    """The connector and timeouts of every push session, from the settings."""
    return SessionSpec(
        limit=settings.push_connector_limit,
        limit_per_host=settings.push_connector_limit_per_host,
        keepalive_timeout=settings.push_keepalive_seconds,
        total_timeout=settings.push_timeout_seconds,
        connect_timeout=settings.push_connect_timeout_seconds,
    )


def build_dispatcher(
    settings: Settings,
    hubs: Sequence[PushHubSetting],
    session_for: SessionFor,
    clock: Clock,
    *,
    sleep: Sleep = asyncio.sleep,
    session_per_call: bool = False,
) -> PushDispatcher:
    """One :class:`HubClient` per hub, one :class:`Namespace` (session) per namespace;
    ``session_per_call`` only for the outage reproductions (see :class:`Namespace`)."""
    spec = session_spec(settings)
    bound = min(spec.limit, spec.limit_per_host)
    policy = RetryPolicy(
        settings.push_retry_attempts,
        settings.push_retry_base_seconds,
        settings.push_retry_cap_seconds,
    )
    namespaces: dict[str, Namespace] = {}

    def session(name: str) -> Callable[[], aiohttp.ClientSession]:
        return lambda: session_for(name, spec)

    def make(hub: PushHubSetting) -> HubClient:
        key = hub.connection.namespace
        if key not in namespaces:
            namespaces[key] = Namespace(
                key, session(f"push:{key}"), bound, session_per_call=session_per_call
            )
        tokens = SasTokens(
            resource_uri(hub.connection.endpoint, hub.name),
            hub.connection.key_name,
            hub.connection.key,
            clock=clock,
            ttl=settings.push_sas_ttl_seconds,
            renew_before=settings.push_sas_renew_seconds,
        )
        return HubClient(
            hub.name,
            hub.connection.endpoint,
            namespaces[key],
            tokens,
            policy=policy,
            clock=clock,
            sleep=sleep,
        )

    return PushDispatcher(HubRouter.build(hubs, make), namespaces)
