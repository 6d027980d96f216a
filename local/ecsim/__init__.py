"""The local EC simulator (see :mod:`local.ecsim.simulator`), started as a child process.

::

    ec = start_ecsim(credential=station_key, clock_file=platform.clock_file, demo=True)
    ec.soap_url      # http://127.0.0.1:PORT/paForNode: the station the gateway calls (SOAP)
    ec.base_url      # http://127.0.0.1:PORT/ec/v1: the older JSON routes (tests of the books)
    ec.control_url   # http://127.0.0.1:CONTROL_PORT/control: see local.ecsim.control
    ec.stop()

The credential is given through the environment, not the command line (``ps`` shows command
lines).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from local.ecsim.models import Notice
from local.ecsim.simulator import BASE_PATH, DEMO_EC_FISCAL_CODE, DEMO_NOTICES
from local.ecsim.soap import SOAP_PATH
from local.process import Child, ChildFailed

__all__ = ["DEMO_EC_FISCAL_CODE", "DEMO_NOTICES", "EcSim", "Notice", "start_ecsim"]


class EcSim(Child):
    """The simulator's process: ``.port`` is the station's port, ``.control_port`` the
    control API's."""

    def __init__(
        self, argv: Sequence[str], *, env: dict[str, str], ready_timeout: float = 30.0
    ) -> None:
        super().__init__("ecsim", argv, env=env, ready_timeout=ready_timeout)
        self.control_port = self._announced_control_port()

    def _announced_control_port(self) -> int:
        for line in self.output.splitlines():
            if line.startswith("CONTROL "):
                return int(line.split()[1])
        self.stop()
        raise ChildFailed(f"ecsim did not announce its control port:\n{self.output}")

    @property
    def base_url(self) -> str:
        """The older JSON routes' base URL (the gateway calls :attr:`soap_url`)."""
        return f"http://127.0.0.1:{self.port}{BASE_PATH}"

    @property
    def soap_url(self) -> str:
        """The station's paForNode endpoint (SOAP)."""
        return f"http://127.0.0.1:{self.port}{SOAP_PATH}"

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}/control"

    def __enter__(self) -> EcSim:
        return self


def start_ecsim(
    *,
    credential: str,
    port: int = 0,
    control_port: int = 0,
    clock_file: Path | None = None,
    demo: bool = False,
    seed: int | None = None,
    ready_timeout: float = 30.0,
) -> EcSim:
    """Start the simulator on 127.0.0.1 (a port of 0: any free one; ``.port`` and
    ``.control_port`` are the real ones), expecting ``credential`` as the station key."""
    argv = [
        sys.executable,
        "-m",
        "local.ecsim",
        "--port",
        str(port),
        "--control-port",
        str(control_port),
    ]
    if clock_file is not None:
        argv += ["--clock-file", str(clock_file)]
    if seed is not None:
        argv += ["--seed", str(seed)]
    if demo:
        argv.append("--demo")
    env = {"ECSIM_CREDENTIAL": credential, "PYTHONUNBUFFERED": "1"}
    return EcSim(argv, env=env, ready_timeout=ready_timeout)
