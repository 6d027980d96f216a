"""A composition root on in-memory fakes, for calling triggers directly (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import azure.functions as func

from functions.root import Root
from local.tokens import generate_key_pair, issue_token
from shared.auth.citizen import CitizenTokenVerifier
from shared.auth.keys import PemKeys
from shared.parties.service import PartyRegistry
from shared.platform.clients import Clients
from shared.platform.clock import FixedClock
from shared.platform.config import load_settings
from tests.conftest import base_settings
from tests.fakes.parties import MemoryPartyStore
from tests.fakes.platform import MemoryFailedWork, MemorySender

NOW = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
PRIVATE_PEM, PUBLIC_PEM = generate_key_pair()


class FakeRoot(Root):
    """Root whose adapters are fakes; nothing here opens a connection."""

    def __init__(self) -> None:
        values = {**base_settings(), "CITIZEN_JWT_PUBLIC_KEY": PUBLIC_PEM}
        super().__init__(Clients(load_settings(values)), FixedClock(NOW))
        self.party_store = MemoryPartyStore()
        self._registry = PartyRegistry(self.party_store, cache_seconds=0)

    @cached_property
    def sender(self) -> MemorySender:  # type: ignore[override]
        return MemorySender()

    @cached_property
    def failed_work(self) -> MemoryFailedWork:  # type: ignore[override]
        return MemoryFailedWork()

    def parties(self) -> PartyRegistry:
        return self._registry

    def citizen_tokens(self) -> CitizenTokenVerifier:
        s = self.settings
        return CitizenTokenVerifier(
            PemKeys(PUBLIC_PEM), issuer=s.jwt_issuer, audience=s.jwt_audience
        )

    def token(self, fiscal_code: str) -> str:
        s = self.settings
        return issue_token(
            PRIVATE_PEM, fiscal_code, issuer=s.jwt_issuer, audience=s.jwt_audience, now=NOW
        )


_FUNCTIONS: dict[int, dict[str, Any]] = {}


def functions(app: func.FunctionApp) -> dict[str, Any]:
    """Name -> function of ``app``, built once (``get_functions()`` may be called only once)."""
    if id(app) not in _FUNCTIONS:
        _FUNCTIONS[id(app)] = {str(fn.get_function_name()): fn for fn in app.get_functions()}
    return _FUNCTIONS[id(app)]


def consumers_of(app: func.FunctionApp, setting: str) -> list[str]:
    """The app's queue functions bound to ``%setting%`` (to disable them in a host)."""
    return [
        name
        for name, fn in functions(app).items()
        if fn.get_trigger().get_dict_repr().get("queueName") == f"%{setting}%"
    ]


def trigger(app: func.FunctionApp, name: str) -> Any:
    return functions(app)[name].get_user_function()


def request(
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> func.HttpRequest:
    return func.HttpRequest(
        method=method,
        url=f"http://localhost/api/{path}",
        headers=headers or {},
        params=params or {},
        route_params=route_params or {},
        body=body,
    )
