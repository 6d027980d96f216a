"""`make run`'s program: serves the API, then stops everything on SIGTERM to its group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from local.process import ROOT
from tests.conftest import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> set[int]:
    table = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True,
                           check=True).stdout.split("\n")
    children: dict[int, list[int]] = {}
    for row in table:
        if row.strip():
            child, parent = (int(x) for x in row.split())
            children.setdefault(parent, []).append(child)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return not (state.exists() and state.read_text().split()[2] == "Z")


def test_run_serves_then_leaves_no_process_behind(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "LOCAL_STATE_DIR": str(tmp_path / "state"),
           "LOCAL_SETTINGS_FILE": str(ROOT / "local.settings.example.json")}
    proc = subprocess.Popen([sys.executable, "-m", "local.run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        def healthy() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/api/health",
                                    timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(healthy, timeout=90, interval=0.5)
        started = descendants(proc.pid)
        assert len(started) >= 4  # Cosmos, broker, Azurite, the dev host (and their children)
        assert (tmp_path / "state" / "keys" / "citizen-token.key").exists()
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        assert "Centro Stella is running." in output
        assert f"http://localhost:{port}/api" in output
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(p) for p in started):
            time.sleep(0.2)
        assert [p for p in started if alive(p)] == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
