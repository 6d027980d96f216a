"""Child processes of the local platform: started, waited for until ready, stopped on exit.

Every emulator and simulator is started the same way: a command that prints one line
``READY <port>`` on its standard output once it listens (it binds the port itself, so a
port of 0 never races another process). The child gets its own process group, so stopping it
also stops anything it started.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, so a killed test run leaves no orphans.

    Linux only (prctl PR_SET_PDEATHSIG); elsewhere children are stopped by ``Child.stop``.
    The signal follows the thread that started the child, so start children from a thread that
    lives as long as they should (the main thread, in practice).
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ChildFailed(RuntimeError):
    """A child process exited or never said it was ready."""


class Child:
    """One running child process that announced ``READY <port>``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        ready_timeout: float = 60.0,
        cwd: Path = ROOT,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self._lines: list[str] = []
        merged = {**os.environ, **(env or {})}
        self.proc = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=merged,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
            bufsize=1,
            preexec_fn=_die_with_parent,
        )
        self.port = self._wait_ready(ready_timeout)
        threading.Thread(target=self._drain, name=f"{name}-output", daemon=True).start()

    def _wait_ready(self, timeout: float) -> int:
        assert self.proc.stdout is not None
        result: list[int] = []

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self._remember(line)
                if line.startswith("READY "):
                    result.append(int(line.split()[1]))
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not result:
            self.stop()
            tail = "".join(self._lines[-30:])
            raise ChildFailed(f"{self.name} did not become ready in {timeout:.0f}s:\n{tail}")
        return result[0]

    def _remember(self, line: str) -> None:
        self._lines.append(line)
        del self._lines[:-200]
        if os.environ.get("LOCAL_VERBOSE"):
            sys.stderr.write(f"[{self.name}] {line}")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        with contextlib.suppress(ValueError, OSError):
            for line in self.proc.stdout:
                self._remember(line)

    @property
    def output(self) -> str:
        """The last lines the child printed."""
        return "".join(self._lines)

    def pause(self) -> None:
        """Stage an outage: the process stops answering but keeps its state."""
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the whole group, then SIGKILL what is left after ``grace`` seconds."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGCONT)
            os.killpg(self.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def serve_app(app: Any, host: str, port: int) -> None:
    """Serve an aiohttp ``app`` on ``host:port`` (0: any free port), print ``READY <port>``,
    and run until SIGINT or SIGTERM (the simulators' ``__main__``)."""
    import asyncio

    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"READY {runner.addresses[0][1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
