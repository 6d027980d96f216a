"""`make run`'s program: serves the API, then stops everything on SIGTERM to its group."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from local.platform import DEMO_EC
from local.process import ROOT
from tests.conftest import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> set[int]:
    table = subprocess.run(
        ["ps", "-eo", "pid=,ppid="], capture_output=True, text=True, check=True
    ).stdout.split("\n")
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


def demo_notice_is_payable_from_the_ec_and_from_the_archive(port: int) -> None:
    """The EC simulator is the demo station, and its demo notices are in the archive too."""
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    api = f"http://127.0.0.1:{port}/api"
    headers = {
        "x-functions-key": values["LOCAL_FUNCTION_KEY"],
        "Ocp-Apim-Subscription-Key": values["DEV_PARTY_KEY_PSP"],
    }
    notice = {"paFiscalCode": "77777777777", "noticeNumber": "300000000000000101"}
    from_ec = requests.post(f"{api}/standin/v1/verify", json=notice, headers=headers, timeout=10)
    assert from_ec.status_code == 200, from_ec.text
    assert from_ec.json()["standIn"] is False
    forced = requests.put(
        f"{api}/ops/standin/stations/77777777777_01/force",
        json={"mode": "STANDIN", "reason": "demo"},
        timeout=10,
        headers={"x-functions-key": values["LOCAL_ADMIN_KEY"]},
    )
    assert forced.status_code == 200, forced.text
    from_archive = requests.post(
        f"{api}/standin/v1/verify", json=notice, headers=headers, timeout=10
    )
    assert from_archive.status_code == 200, from_archive.text
    assert from_archive.json()["standIn"] is True
    assert from_archive.json()["amount"] == from_ec.json()["amount"]


def the_demo_sender_notifies(port: int) -> None:
    """Only a party of role sender sends push notifications: make run seeds one."""
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    url = f"http://127.0.0.1:{port}/api/v1/push/notifications"
    notification = {"fiscalCode": "RSSMRA85T10A562S", "title": "Demo", "body": "Hello"}
    function_key = {"x-functions-key": values["LOCAL_FUNCTION_KEY"]}
    alone = requests.post(url, json=notification, headers=function_key, timeout=10)
    assert alone.status_code == 401, alone.text
    as_sender = {**function_key, "Ocp-Apim-Subscription-Key": values["DEV_PARTY_KEY_SENDER"]}
    sent = requests.post(url, json=notification, headers=as_sender, timeout=10)
    assert sent.status_code == 202, sent.text


def the_demo_editor_signs_in_to_the_back_office(port: int) -> None:
    """The seeded demo editor, through the dev sign-in, gets the page and its EC."""
    from local.devauth import DEMO_EDITOR

    with requests.Session() as browser:
        signed_in = browser.post(
            f"http://127.0.0.1:{port}/.auth/login/dev?post_login_redirect_uri=/api/bo",
            data={"user": DEMO_EDITOR.object_id},
            timeout=10,
        )
        assert (signed_in.status_code, signed_in.url.endswith("/api/bo")) == (200, True)
        me = browser.get(f"http://127.0.0.1:{port}/api/bo/v1/me", timeout=10).json()
        assert [(ec["fiscalCode"], ec["role"]) for ec in me["ecs"]] == [(DEMO_EC, "editor")]


def test_run_serves_then_leaves_no_process_behind(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "LOCAL_STATE_DIR": str(tmp_path / "state"),
        "LOCAL_SETTINGS_FILE": str(ROOT / "local.settings.example.json"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:

        def healthy() -> bool:
            try:
                return (
                    requests.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code
                    == 200
                )
            except requests.ConnectionError:
                return False

        wait_for(healthy, timeout=90, interval=0.5)
        demo_notice_is_payable_from_the_ec_and_from_the_archive(port)
        the_demo_sender_notifies(port)
        the_demo_editor_signs_in_to_the_back_office(port)
        started = descendants(proc.pid)
        assert len(started) >= 4  # Cosmos, broker, Azurite, the dev host (and their children)
        assert (tmp_path / "state" / "keys" / "citizen-token.key").exists()
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        assert "Centro Stella is running." in output
        assert f"http://localhost:{port}/api" in output
        assert [
            line
            for line in output.splitlines()
            if line.startswith("Back office") and f"http://localhost:{port}/api/bo" in line
        ]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(p) for p in started):
            time.sleep(0.2)
        assert [p for p in started if alive(p)] == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
