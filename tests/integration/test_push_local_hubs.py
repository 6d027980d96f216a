"""``make run`` simulates only the push hubs whose connection the developer's environment does
not already set (``local.nhsim.simulate_hubs``, called by ``local.platform.Platform`` with what
``local/run.py`` read from the environment before the settings file)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from local import nhsim
from local.process import ROOT
from shared.push.sas import resource_uri, sign
from shared.push.settings import push_hubs

#: A real namespace's connection, as a developer would export it (never contacted here).
REAL = (
    "Endpoint=sb://my-namespace.servicebus.windows.net/;"
    "SharedAccessKeyName=DefaultFullSharedAccessSignature;SharedAccessKey=not-a-real-key"
)


def local_settings() -> dict[str, str]:
    values: dict[str, str] = json.loads((ROOT / "local.settings.example.json").read_text())[
        "Values"
    ]
    return values


def served(port: int, hub: str, key_name: str, key: str) -> int:
    """The status the simulator answers a signed send on ``hub`` with (404: no such hub)."""
    endpoint = f"http://127.0.0.1:{port}/"
    token = sign(resource_uri(endpoint, hub), key_name, key, int(time.time()) + 60)
    request = urllib.request.Request(
        f"{endpoint}{hub}/messages/?api-version=2020-06",
        data=b'{"aps": {"alert": "hi"}}',
        method="POST",
        headers={
            "Authorization": token,
            "ServiceBusNotification-Format": "apple",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_every_hub_is_simulated_when_the_environment_sets_none() -> None:
    env = local_settings()
    child, settings = nhsim.simulate_hubs(env, environ={"PATH": "/usr/bin"})
    try:
        hubs = push_hubs({**env, **settings})
        assert {hub.connection.namespace for hub in hubs} == {f"127.0.0.1:{child.port}"}
        for hub in hubs:
            key_name, key = hub.connection.key_name, hub.connection.key
            assert served(child.port, hub.name, key_name, key) == 201
    finally:
        child.stop()


def test_a_hub_whose_connection_the_environment_sets_is_left_real() -> None:
    env = local_settings()
    exported = {"PUSH_HUB_1_CONNECTION": REAL, "PUSH_HUB_1_NAME": "my-real-hub"}
    child, settings = nhsim.simulate_hubs(env, environ={**exported, "HOME": "/root"})
    try:
        first, second = push_hubs({**env, **settings})
        assert (first.name, first.connection.endpoint) == (
            "my-real-hub",
            "https://my-namespace.servicebus.windows.net/",
        )
        assert second.connection.namespace == f"127.0.0.1:{child.port}"
        key_name, key = second.connection.key_name, second.connection.key
        assert served(child.port, second.name, key_name, key) == 201
        assert served(child.port, "my-real-hub", key_name, key) == 404  # not simulated
        assert served(child.port, env["PUSH_HUB_1_NAME"], key_name, key) == 404
    finally:
        child.stop()


def test_when_every_hub_is_real_the_simulator_serves_none_but_still_answers() -> None:
    env = local_settings()
    exported = {
        "PUSH_HUB_1_CONNECTION": REAL,
        "PUSH_HUB_2_CONNECTION": REAL,
        "PUSH_HUB_1_NAME": "my-real-hub",
        "PUSH_HUB_2_NAME": "my-real-hub",
    }
    child, settings = nhsim.simulate_hubs(env, environ=exported)
    try:
        assert settings == exported
        assert nhsim.stats(child.port)["installations"] == 0  # its control API is up
        first = push_hubs(env)[0]
        key_name, key = first.connection.key_name, first.connection.key
        assert served(child.port, first.name, key_name, key) == 404
    finally:
        child.stop()
