"""The 2020 behaviour, kept only to prove and measure what it costs: a client that opens a new
``aiohttp`` session (so a new TCP connection) for every notification and signs a token for every
call. The outage test (``tests/netns``) and ``bench/push.py`` run it against the simulator;
nothing deployed may do this.
"""

from __future__ import annotations

import time

import aiohttp

from shared.push.sas import resource_uri, sign


class SessionPerCallSender:
    """Sends ``apple`` notifications to ``$InstallationId:{id}``, one session per call."""

    def __init__(
        self, endpoint: str, hub: str, key_name: str, key: str, timeout: float = 10.0
    ) -> None:
        self._url = f"{endpoint.rstrip('/')}/{hub}/messages/?api-version=2015-01"
        self._uri = resource_uri(endpoint, hub)
        self._key_name = key_name
        self._key = key
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def send(self, installation_id: str, body: bytes) -> int:
        token = sign(self._uri, self._key_name, self._key, int(time.time()) + 3600)
        headers = {
            "Authorization": token,
            "Content-Type": "application/json;charset=utf-8",
            "ServiceBusNotification-Format": "apple",
            "ServiceBusNotification-Tags": f"$InstallationId:{installation_id}",
        }
        async with (
            aiohttp.ClientSession(timeout=self._timeout) as session,
            session.post(self._url, data=body, headers=headers) as response,
        ):
            await response.read()
            return response.status
