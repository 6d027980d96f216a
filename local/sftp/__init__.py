"""The local SFTP server (see :mod:`local.sftp.server`), started as a child process.

::

    sftp = start_sftp(clock_file=..., users={"demoacq": "..."}, storage=..., servicebus=...)
    # an acquirer: sftp -P {sftp.port} demoacq@127.0.0.1, then put CSTAR....csv.pgp

It stands for Azure's SFTP-enabled storage account: a local user per acquirer whose home is
that acquirer's container, a file landing as a blob, and the blob-created event Event Grid
would route to the files queue. Passwords and connections reach it through the environment,
not the command line (``ps`` shows command lines).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from local.process import Child

DEV_SFTP_PASSWORD = "dev-sftp-password-not-a-secret"
"""The local SFTP password of the demo acquirer's user."""


def start_sftp(
    *,
    clock_file: Path | None,
    users: dict[str, str],
    storage: str,
    servicebus: str,
    queue: str,
    prefix: str,
    port: int = 0,
    ready_timeout: float = 30.0,
) -> Child:
    """Start the server on 127.0.0.1 (``port`` 0: any free one); ``.port`` is the real one.

    ``users``: local user (an acquirer's party id in lower case) -> password.
    """
    argv = [sys.executable, "-m", "local.sftp", "--port", str(port)]
    if clock_file is not None:
        argv += ["--clock-file", str(clock_file)]
    env = {
        "SFTP_USERS": json.dumps(users),
        "SFTP_STORAGE_CONNECTION": storage,
        "SFTP_SERVICEBUS_CONNECTION": servicebus,
        "SFTP_EVENTS_QUEUE": queue,
        "SFTP_CONTAINER_PREFIX": prefix,
        "PYTHONUNBUFFERED": "1",
    }
    return Child("sftp", argv, env=env, ready_timeout=ready_timeout)
