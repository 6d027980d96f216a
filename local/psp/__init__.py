"""The local payment gateway simulator (see :mod:`local.psp.simulator`), started as a child process.

::

    psp = start_psp(clock_file=platform.clock_file, secret=..., salt=...)
    base_url = f"http://127.0.0.1:{psp.port}"   # the wallet's WALLET_PSP_BASE_URL

The signing secret and the hpan salt are given through the environment, not the command line
(``ps`` shows command lines). It holds no key of the app: each notification carries the bearer
token the wallet issued for that session alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

from local.process import Child

DEV_HPAN_SALT = "dev-hpan-salt-not-a-secret"
"""The platform's dev salt when local settings name none (``DEV_HPAN_SALT``)."""


def start_psp(
    *,
    clock_file: Path | None,
    secret: str,
    salt: str,
    port: int = 0,
    ready_timeout: float = 30.0,
) -> Child:
    """Start the simulator on 127.0.0.1 (``port`` 0: any free one); ``.port`` is the real one."""
    argv = [sys.executable, "-m", "local.psp", "--port", str(port)]
    if clock_file is not None:
        argv += ["--clock-file", str(clock_file)]
    env = {
        "PSP_SIGNING_SECRET": secret,
        "PSP_HPAN_SALT": salt,
        "PYTHONUNBUFFERED": "1",
    }
    return Child("psp", argv, env=env, ready_timeout=ready_timeout)


def base_url(child: Child) -> str:
    return f"http://127.0.0.1:{child.port}"
