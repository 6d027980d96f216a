"""A raw HTTP client: the URL and the body go out byte for byte as the test wrote them.

``requests`` (through urllib3) normalises what a hostile caller would not: it resolves ``..``
segments and re-encodes some characters. ``http.client`` sends the request line as given.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    error: str | None = None
    """Why there was no answer (connection reset, timeout), with status 0."""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RawClient:
    base_url: str
    timeout: float = 30.0
    _connection: http.client.HTTPConnection | None = field(default=None, repr=False)

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            parts = urlsplit(self.base_url)
            self._connection = http.client.HTTPConnection(
                parts.hostname or "127.0.0.1", parts.port, timeout=self.timeout
            )
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def send(
        self, method: str, target: str, *, headers: dict[str, str], body: bytes | None = None
    ) -> Answer:
        """Send ``method`` ``target`` (the path and query exactly as given); one retry on a
        connection the server had already closed (keep-alive), none on a timeout."""
        for attempt in (1, 2):
            connection = self._connect()
            try:
                connection.putrequest(method, target, skip_accept_encoding=True)
                for name, value in headers.items():
                    connection.putheader(name, value)
                if body is not None:
                    connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body)
                response = connection.getresponse()
                data = response.read()
                answer = Answer(
                    response.status, {k.lower(): v for k, v in response.getheaders()}, data
                )
                if response.will_close:
                    self.close()
                return answer
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self.close()
                if attempt == 2:
                    return Answer(0, {}, b"", error=f"no answer: {e!r}")
            except TimeoutError as error:
                self.close()
                return Answer(0, {}, b"", error=f"no answer within {self.timeout}s: {error!r}")
            except (http.client.HTTPException, OSError) as error:
                self.close()
                return Answer(0, {}, b"", error=f"no answer: {error!r}")
        raise AssertionError("unreachable")
