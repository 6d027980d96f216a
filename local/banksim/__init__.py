"""The local bank-check simulator (see :mod:`local.banksim.simulator`), as a child process.
::

    bank = start_banksim()
    url = f"http://127.0.0.1:{bank.port}"   # the app's CASHBACK_BANK_CHECK_URL
"""

from __future__ import annotations

import sys

from local.process import Child


def start_banksim(*, port: int = 0, ready_timeout: float = 30.0) -> Child:
    """Start the simulator on 127.0.0.1 (``port`` 0: any free one); ``.port`` is the real one."""
    argv = [sys.executable, "-m", "local.banksim", "--port", str(port)]
    return Child("banksim", argv, env={"PYTHONUNBUFFERED": "1"}, ready_timeout=ready_timeout)
