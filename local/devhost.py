"""The local Functions host: serves an app's HTTP, Service Bus and timer triggers.

It reads every function from the app's decorator metadata (``app.get_functions()``), so there
is no second list of functions. What it does like Azure: routes under ``/api/``, ``authLevel``
with function and admin keys (``x-functions-key`` header or ``code`` query; a missing or wrong
key is the host's empty 401, as Azure's ``UnauthorizedResult``), 404/405, the default 100 MB
request body limit (413), Kestrel's request line and header limits (414, 431),
``AzureWebJobs.<name>.Disabled``, peek-lock Service Bus delivery (complete on success, abandon
on exception, the broker dead-letters past max delivery) with host.json's
``maxConcurrentCalls``, NCRONTAB timers, and ``POST /admin/functions/<name>`` to run a non-HTTP
function now. Local only: ``/admin/devclock`` reads, sets or advances the dev clock, and an
empty ``WALLET_NOTIFICATION_URL`` becomes this host's own wallets route.

What it refuses before a function runs is a problem document (no ``correlationId``: no function
ran), except the 401, and it never logs a request's content: a refused request's headers may
carry credentials.

Run: ``python -m local.devhost --app function_app --port 7071 [--settings local.settings.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import importlib
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from aiohttp import http_exceptions, web, web_protocol
from aiohttp.web_request import BaseRequest
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest
from azure.servicebus import ServiceBusReceivedMessage
from azure.servicebus.aio import AutoLockRenewer, ServiceBusClient
from croniter import croniter

from local import devauth
from local.devclock import DevClock
from local.process import ROOT

logger = logging.getLogger("devhost")

MAX_REQUEST_BODY = 100 * 1024 * 1024  # Azure's default http maxRequestBodySize
# Kestrel's defaults (KestrelServerLimits), which the Functions host serves HTTP with: the
# request line, all the headers together, and how many headers.
MAX_REQUEST_LINE = 8 * 1024
MAX_HEADERS_SIZE = 32 * 1024
MAX_HEADER_COUNT = 100
NOTIFICATION_URL_SETTING = "WALLET_NOTIFICATION_URL"
_EXPRESSION = re.compile(r"%([A-Za-z0-9_.:-]+)%")


def load_local_settings(path: Path) -> dict[str, str]:
    """Copy ``Values`` of a local.settings.json into the environment (set variables win)."""
    values: dict[str, str] = json.loads(path.read_text()).get("Values", {})
    for name, value in values.items():
        os.environ.setdefault(name, str(value))
    return values


def resolve(expression: str) -> str:
    """Replace ``%NAME%`` with the setting's value, as the Functions host does."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise SystemExit(f"binding expression %{name}% names a setting that is not set")
        return os.environ[name]

    return _EXPRESSION.sub(value, expression)


def timer_schedule(trigger: dict[str, Any]) -> str:
    """A timer trigger's NCRONTAB schedule, its ``%NAME%`` resolved from the environment as the
    Functions host does. A missing setting or a schedule that is not six fields stops the dev
    host before it serves anything (the Functions host refuses that function when it indexes
    the app)."""
    try:
        schedule = resolve(trigger["schedule"])
    except SystemExit as error:  # a local.settings.json copied before the setting existed
        raise SystemExit(f"{error}: local.settings.example.json has its default") from None
    if len(schedule.split()) != 6 or not croniter.is_valid(schedule, second_at_beginning=True):
        raise SystemExit(
            f"timer schedule {trigger['schedule']} is {schedule!r}, not six NCRONTAB fields "
            "(second minute hour day month day-of-week)"
        )
    return schedule


def disabled(name: str) -> bool:
    raw = os.environ.get(f"AzureWebJobs.{name}.Disabled", "")
    return raw.strip().lower() in {"1", "true"}


def aiohttp_route(template: str) -> list[str]:
    """aiohttp paths for a Functions route template (``{x}``, ``{x:int}``, ``{x?}``, ``{*x}``)."""
    if template.lower().startswith("admin"):
        raise SystemExit(
            f"route {template!r}: routes starting with 'admin' conflict with the "
            "host's built-in routes (Azure refuses them too)"
        )
    constraints = {
        "int": r"-?\d+",
        "alpha": r"[A-Za-z]+",
        "guid": r"[0-9a-fA-F-]{36}",
        "long": r"-?\d+",
        "bool": r"(?i:true|false)",
    }
    optional: list[str] = []

    def convert(match: re.Match[str]) -> str:
        star, name, constraint, opt = match.groups()
        if star:
            return "{" + name + ":.*}"
        if opt:
            optional.append(name)
        if constraint:
            return "{" + name + ":" + constraints.get(constraint, r"[^/]+") + "}"
        return "{" + name + "}"

    path = "/api/" + re.sub(r"\{(\*)?(\w+)(?::(\w+)(?:\([^)]*\))?)?(\?)?\}", convert, template)
    paths = [path]
    for name in optional:  # an optional last segment: serve with and without it
        paths.append(re.sub(r"/\{" + name + r"(:[^}]*)?\}$", "", path))
    return paths


@dataclass
class Function:
    name: str
    trigger: dict[str, Any]
    user: Callable[..., Any]

    @property
    def kind(self) -> str:
        return str(self.trigger["type"])

    async def invoke(self, value: Any) -> Any:
        result = self.user(**{self.trigger["name"]: value})
        if asyncio.iscoroutine(result):
            result = await result
        return result


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return value.value
    return value


def functions_of(app: func.FunctionApp) -> list[Function]:
    found = []
    for fn in app.get_functions():
        trigger = fn.get_trigger()
        assert trigger is not None, f"{fn.get_function_name()} has no trigger"
        found.append(
            Function(
                str(fn.get_function_name()), _plain(trigger.get_dict_repr()), fn.get_user_function()
            )
        )
    return found


def problem(status: int, title: str, detail: str) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return web.json_response(body, status=status, content_type="application/problem+json")


def unauthorized() -> web.Response:
    """The Functions host's answer to a missing or wrong key: 401, no body, no content type."""
    return web.Response(status=401)


def headers_too_large() -> web.Response:
    return problem(
        431,
        "Request header fields too large",
        f"the request's headers exceed {MAX_HEADER_COUNT} fields or {MAX_HEADERS_SIZE} bytes",
    )


def parser_refusal(error: http_exceptions.HttpProcessingError) -> web.Response:
    """What the host answers a request that its HTTP parser refused, without quoting it (the
    parser's message does: the start of an Authorization header, say)."""
    if isinstance(error, http_exceptions.LineTooLong) and error.args[1] == MAX_REQUEST_LINE:
        return problem(414, "URI too long", f"the request line exceeds {MAX_REQUEST_LINE} bytes")
    if isinstance(error, http_exceptions.LineTooLong) or "header" in error.message.lower():
        return headers_too_large()
    return problem(400, "Bad request", "the request is not valid HTTP/1.1")


class _Connection(web_protocol.RequestHandler):
    """aiohttp's connection handler, answering what its parser refuses as :func:`parser_refusal`
    and logging only the refusal (aiohttp's own answer is text quoting the request, and its log
    line quotes it as well)."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, http_exceptions.HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        response = parser_refusal(exc)
        logger.warning(
            "refused a request from %s: %s %s", request.remote, response.status, response.reason
        )
        response.force_close()
        return response


CONNECTION_ARGS: dict[str, Any] = {
    "max_line_size": MAX_REQUEST_LINE,
    "max_field_size": MAX_HEADERS_SIZE,
    "max_headers": MAX_HEADER_COUNT,
    "access_log": None,  # a request line may carry the function key (?code=)
}


class _Server(web.Server):
    """aiohttp's server, making :class:`_Connection` connections."""

    def __call__(self) -> web_protocol.RequestHandler:
        return _Connection(self, loop=asyncio.get_running_loop(), **CONNECTION_ARGS)


class _Runner(web.AppRunner):
    """An AppRunner serving the app through :class:`_Server`."""

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # the app started and frozen, as aiohttp does it
        return _Server(
            made.request_handler, request_factory=made.request_factory, **CONNECTION_ARGS
        )


class DevHost:
    """One running host: an aiohttp server plus Service Bus consumers and timers."""

    def __init__(
        self,
        app: func.FunctionApp,
        *,
        clock: DevClock,
        function_key: str,
        admin_key: str,
        host_json: dict[str, Any],
    ) -> None:
        self.functions = functions_of(app)
        self.clock = clock
        self.function_key = function_key
        self.admin_key = admin_key
        service_bus = host_json.get("extensions", {}).get("serviceBus", {})
        self.max_concurrent_calls = int(service_bus.get("maxConcurrentCalls", 16))
        self.lock_renewal = _seconds(service_bus.get("maxAutoLockRenewalDuration", "00:05:00"))
        self._tasks: list[asyncio.Task[None]] = []
        self._bus_clients: dict[str, ServiceBusClient] = {}
        self._clock_changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self.runner: web.AppRunner | None = None

    # ---------------------------------------------------------------- HTTP
    def web_app(self) -> web.Application:
        app = web.Application(
            client_max_size=MAX_REQUEST_BODY, middlewares=[self._header_limit, self._errors]
        )
        for fn in self.functions:
            if fn.kind != "httpTrigger":
                continue
            methods = [str(m).upper() for m in fn.trigger.get("methods") or ["GET", "POST"]]
            for path in aiohttp_route(fn.trigger.get("route") or fn.name):
                for method in methods:
                    app.router.add_route(method, path, self._http_handler(fn))
        devauth.add_routes(app)
        app.router.add_post("/admin/functions/{name}", self._run_function)
        app.router.add_get("/admin/devclock", self._get_clock)
        app.router.add_post("/admin/devclock", self._set_clock)
        app.router.add_get("/admin/host/status", self._status)
        return app

    @web.middleware
    async def _header_limit(self, request: web.Request, handler: Any) -> web.StreamResponse:
        # The parser bounds each header; Kestrel bounds them all together.
        size = sum(len(name) + len(value) + 4 for name, value in request.raw_headers)
        if size > MAX_HEADERS_SIZE:
            logger.warning("refused a request from %s: 431 (%d header bytes)", request.remote, size)
            return headers_too_large()
        response: web.StreamResponse = await handler(request)
        return response

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except web.HTTPRequestEntityTooLarge:
            return problem(413, "Payload too large", "the request body is too large")
        except web.HTTPMethodNotAllowed as refused:
            answer = problem(405, "Method not allowed", f"{request.method} is not allowed here")
            answer.headers["Allow"] = ", ".join(sorted(refused.allowed_methods))  # RFC 9110
            return answer
        except web.HTTPNotFound:
            return problem(404, "Not found", f"no function at {request.path}")

    def _authorized(self, request: web.Request, level: str) -> bool:
        key = request.headers.get("x-functions-key") or request.query.get("code")
        if level == "anonymous":
            return True
        if level == "admin":
            return key == self.admin_key
        return key in {self.function_key, self.admin_key}

    def _http_handler(self, fn: Function) -> Callable[[web.Request], Any]:
        level = str(fn.trigger.get("authLevel", "function")).lower()

        async def handle(request: web.Request) -> web.Response:
            if not self._authorized(request, level):  # before anything else, as in Azure
                return unauthorized()
            if disabled(fn.name):
                return problem(404, "Not found", f"function {fn.name} is disabled")
            body = await request.read()
            req = func.HttpRequest(
                # What request.url gives, without building a yarl URL for every request.
                method=request.method,
                url=f"{request.scheme}://{request.host}{request.raw_path}",
                # as the platform's authentication passes them: no client-supplied principal
                headers=devauth.platform_headers(
                    request.headers, request.cookies.get(devauth.COOKIE)
                ),
                params=dict(request.query),
                route_params=dict(request.match_info),
                body=body,
            )
            try:
                response = await fn.invoke(req)
            except Exception:
                logger.exception("function %s raised", fn.name)
                return problem(500, "Internal error", "the function failed")
            headers = dict(response.headers)
            if not any(name.lower() == "content-type" for name in headers):
                # the worker turns mimetype and charset into Content-Type, as Azure does
                headers["Content-Type"] = f"{response.mimetype}; charset={response.charset}"
            return web.Response(
                body=response.get_body(), status=response.status_code, headers=headers
            )

        return handle

    async def _status(self, request: web.Request) -> web.Response:
        if not self._authorized(request, "admin"):
            return unauthorized()
        return web.json_response(
            {"state": "Running", "functions": [f.name for f in self.functions]}
        )

    async def _run_function(self, request: web.Request) -> web.Response:
        if not self._authorized(request, "admin"):
            return unauthorized()
        name = request.match_info["name"]
        fn = next((f for f in self.functions if f.name == name), None)
        if fn is None or fn.kind == "httpTrigger":
            return problem(404, "Not found", f"no non-HTTP function {name}")
        if fn.kind != "timerTrigger":
            return problem(400, "Not supported", "only timers can be run this way here")
        await self._fire(fn, past_due=False)
        return web.Response(status=202)

    async def _get_clock(self, request: web.Request) -> web.Response:
        if not self._authorized(request, "admin"):
            return unauthorized()
        return web.json_response(self._clock_state())

    def _clock_state(self) -> dict[str, Any]:
        return {"now": self.clock.now().isoformat(), "offsetMs": self.clock.offset_ms}

    async def _set_clock(self, request: web.Request) -> web.Response:
        if not self._authorized(request, "admin"):
            return unauthorized()
        try:
            body = await request.json()
            if "advanceSeconds" in body:
                self.clock.advance(float(body["advanceSeconds"]))
            elif "set" in body:
                self.clock.set(datetime.fromisoformat(body["set"]))
            elif "offsetMs" in body:
                self.clock.set_offset(int(body["offsetMs"]))
            else:
                raise ValueError("give advanceSeconds, set or offsetMs")
        except (ValueError, TypeError, KeyError) as error:
            return problem(400, "Invalid request", str(error))
        self._clock_changed.set()
        return web.json_response(self._clock_state())

    # ---------------------------------------------------------------- Service Bus
    def _bus(self, connection: str) -> ServiceBusClient:
        client = self._bus_clients.get(connection)
        if client is None:
            value = os.environ.get(connection)
            if not value:
                raise SystemExit(f"connection setting {connection} is not set")
            client = ServiceBusClient.from_connection_string(value)
            self._bus_clients[connection] = client
        return client

    async def _consume(self, fn: Function) -> None:
        queue = resolve(fn.trigger["queueName"])
        client = self._bus(fn.trigger["connection"])
        slots = asyncio.Semaphore(self.max_concurrent_calls)
        running: set[asyncio.Task[None]] = set()  # at most max_concurrent_calls
        while not self._stopping.is_set():
            try:
                async with (
                    client.get_queue_receiver(queue, prefetch_count=0) as receiver,
                    AutoLockRenewer(max_lock_renewal_duration=self.lock_renewal) as renewer,
                ):
                    while not self._stopping.is_set():
                        await slots.acquire()
                        slots.release()
                        free = self.max_concurrent_calls - len(running)
                        messages = await receiver.receive_messages(
                            max_message_count=max(1, free), max_wait_time=0.5
                        )
                        for message in messages:
                            await slots.acquire()
                            renewer.register(receiver, message)
                            task = asyncio.create_task(
                                self._deliver(fn, queue, receiver, message, slots)
                            )
                            running.add(task)
                            task.add_done_callback(running.discard)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("consumer of %s lost its receiver (%s); reconnecting", queue, error)
                await asyncio.sleep(0.5)
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    async def _deliver(
        self,
        fn: Function,
        queue: str,
        receiver: Any,
        message: ServiceBusReceivedMessage,
        slots: asyncio.Semaphore,
    ) -> None:
        try:
            try:
                await fn.invoke(to_function_message(message))
            except Exception as error:
                logger.info(
                    "function %s failed on message %s (delivery %s): %r; abandoning",
                    fn.name,
                    message.message_id,
                    (message.delivery_count or 0) + 1,
                    error,
                )
                await receiver.abandon_message(message)
            else:
                await receiver.complete_message(message)
        except Exception as error:
            logger.warning(
                "could not settle message %s of %s: %r", message.message_id, queue, error
            )
        finally:
            slots.release()

    # ---------------------------------------------------------------- timers
    async def _fire(self, fn: Function, *, past_due: bool) -> None:
        try:
            await fn.invoke(TimerRequest(past_due=past_due))
        except Exception:
            logger.exception("timer %s failed", fn.name)

    async def _timer(self, fn: Function, schedule: str) -> None:
        if fn.trigger.get("runOnStartup"):
            await self._fire(fn, past_due=False)
        due = croniter(schedule, self.clock.now(), second_at_beginning=True).get_next(datetime)
        while not self._stopping.is_set():
            self._clock_changed.clear()
            now = self.clock.now()
            if now >= due:
                if not disabled(fn.name):
                    next_due = croniter(schedule, due, second_at_beginning=True).get_next(datetime)
                    await self._fire(fn, past_due=now >= next_due)
                due = croniter(schedule, self.clock.now(), second_at_beginning=True).get_next(
                    datetime
                )
                continue
            wait = min(1.0, (due - now).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._clock_changed.wait(), timeout=max(0.01, wait))

    # ---------------------------------------------------------------- lifecycle
    async def start(self, port: int, host: str = "127.0.0.1") -> int:
        schedules = {
            fn.name: timer_schedule(fn.trigger)
            for fn in self.functions
            if fn.kind == "timerTrigger"
        }
        self.runner = _Runner(self.web_app(), **CONNECTION_ARGS)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        bound = self.runner.addresses[0][1]
        if not os.environ.get(NOTIFICATION_URL_SETTING):
            # As the infra does in Azure from the app's hostname: where the gateway posts is
            # this host's own address, set before any setting is read, never a request's Host.
            address = "127.0.0.1" if host in ("", "0.0.0.0") else host
            os.environ[NOTIFICATION_URL_SETTING] = f"http://{address}:{bound}/api/v1/wallets"
        for fn in self.functions:
            if fn.kind == "serviceBusTrigger" and not disabled(fn.name):
                self._tasks.append(asyncio.create_task(self._consume(fn)))
            elif fn.kind == "timerTrigger":
                self._tasks.append(asyncio.create_task(self._timer(fn, schedules[fn.name])))
        return int(bound)

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in self._bus_clients.values():
            await client.close()
        if self.runner is not None:
            await self.runner.cleanup()
        from functions.root import drain_root
        from shared.platform.clients import close_clients

        await drain_root()  # events the last requests handed to the outboxes' flush
        await close_clients()


def to_function_message(message: ServiceBusReceivedMessage) -> ServiceBusMessage:
    """The type a Service Bus trigger receives in Azure, built from the SDK's message."""
    properties = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in (message.application_properties or {}).items()
    }
    return ServiceBusMessage(
        body=b"".join(message.body),
        message_id=message.message_id or "",
        # The AMQP header counts earlier failed deliveries; the Functions host (the .NET SDK)
        # reports 1 on the first delivery, so a function sees 1, 2, 3... as in Azure.
        delivery_count=(message.delivery_count or 0) + 1,
        content_type=message.content_type,
        correlation_id=message.correlation_id,
        enqueued_time_utc=message.enqueued_time_utc,
        enqueued_sequence_number=message.enqueued_sequence_number,
        sequence_number=message.sequence_number,
        locked_until=message.locked_until_utc,
        lock_token=str(message.lock_token),
        scheduled_enqueue_time_utc=(message.scheduled_enqueue_time_utc),
        subject=message.subject,
        label=message.subject,
        application_properties=properties,
        user_properties=dict(properties),
        dead_letter_reason=message.dead_letter_reason,
        dead_letter_error_description=(message.dead_letter_error_description),
        time_to_live=message.time_to_live,
        session_id=message.session_id,
        reply_to=message.reply_to,
        to=message.to,
    )


def _seconds(value: str) -> float:
    hours, minutes, seconds = (float(part) for part in value.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def setup_logging() -> None:
    from shared.platform.redaction import RedactionFilter
    from shared.platform.telemetry import CorrelationFilter

    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(CorrelationFilter())
    handler.addFilter(RedactionFilter())  # before anything logs: no token or key in the output
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s: %(message)s")
    )
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), handlers=[handler])
    logging.getLogger("azure").setLevel(logging.WARNING)
    logging.getLogger("uamqp").setLevel(logging.WARNING)


async def serve(args: argparse.Namespace) -> None:
    from shared.platform.clock import use_clock

    clock = DevClock(Path(args.clock_file) if args.clock_file else None)
    use_clock(clock)
    module = importlib.import_module(args.app)
    host_json = json.loads((ROOT / "host.json").read_text())
    host = DevHost(
        module.app,
        clock=clock,
        host_json=host_json,
        function_key=os.environ.get("LOCAL_FUNCTION_KEY", ""),
        admin_key=os.environ.get("LOCAL_ADMIN_KEY", ""),
    )
    if not host.function_key or not host.admin_key:
        raise SystemExit("LOCAL_FUNCTION_KEY and LOCAL_ADMIN_KEY must be set")
    port = await host.start(args.port, args.host)
    print(f"READY {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await host.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", default="function_app", help="module with `app`")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--settings", default=None, help="a local.settings.json to load")
    parser.add_argument("--clock-file", default=os.environ.get("LOCAL_CLOCK_FILE"))
    args = parser.parse_args(argv)
    if args.settings:
        load_local_settings(Path(args.settings))
    setup_logging()
    from shared.platform.telemetry import configure

    configure(connection_string=os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"))
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
