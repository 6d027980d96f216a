"""``make run``: the emulators, the demo data and the dev host, until Ctrl-C.

Everything it starts runs in its own process group and is stopped on SIGINT or SIGTERM, so
nothing is left behind. The emulators keep their data in memory: a restart starts clean.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from pathlib import Path

from local.devhost import load_local_settings
from local.platform import Platform, demo_channel, seed_demo_notices
from local.process import ROOT, Child
from local.psp.simulator import THREE_DS_CODE
from shared.push.settings import push_hubs

STATE = Path(os.environ.get("LOCAL_STATE_DIR", ROOT / ".local" / "run"))


def main() -> None:
    settings_file = Path(os.environ.get("LOCAL_SETTINGS_FILE", ROOT / "local.settings.json"))
    # Push hubs the developer exported are real hubs: read before the file fills the gaps.
    real_hubs = {k: v for k, v in os.environ.items() if k.startswith("PUSH_HUB_")}
    values = load_local_settings(settings_file)
    port = int(os.environ.get("PORT", "7071"))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("Starting the emulators...", flush=True)
    platform = Platform(STATE, dict(values), real_hubs=real_hubs)
    host: Child | None = None
    try:
        settings = platform.provision()
        asyncio.run(seed_demo_notices(settings))
        env = {**platform.env, "PYTHONUNBUFFERED": "1"}
        host = Child(
            "devhost",
            [
                sys.executable,
                "-m",
                "local.devhost",
                "--app",
                "function_app",
                "--port",
                str(port),
                "--clock-file",
                str(platform.clock_file),
            ],
            env=env,
        )
        os.environ["LOCAL_VERBOSE"] = "1"
        banner(port, platform, values)
        while not stop.is_set() and host.alive():
            stop.wait(0.5)
        if not host.alive():
            print(f"The dev host exited:\n{host.output}", file=sys.stderr)
    finally:
        print("Stopping...", flush=True)
        if host is not None:
            host.stop()
        platform.stop()


def banner(port: int, platform: Platform, values: dict[str, str]) -> None:
    api = f"http://localhost:{port}/api"
    key = values.get("LOCAL_FUNCTION_KEY", "")
    channel = demo_channel(platform.env)
    print(
        f"""
Centro Stella is running.
  API          {api}/   (function key: x-functions-key: {key})
  health       {api}/health
  OpenAPI      {api}/openapi.json
  Cosmos DB    {platform.env["COSMOS_ENDPOINT"]}
  Service Bus  {platform.env["ServiceBusConnection"]}
  gateway      {platform.env["WALLET_PSP_BASE_URL"]}  (wallet onboarding: open the redirectUrl
               of POST {api}/v1/wallets/<walletId>/sessions, then the iframeUrl of its
               validations; 3-D Secure test code {THREE_DS_CODE}; docs/wallet.md)
  EC (demo)    {platform.ecsim.soap_url}  (the demo station, paForNode; outages through
               {platform.ecsim.control_url}: see the README's EC simulator section)
  node (SOAP)  {api}/node/v1/nodeForPsp   WSDL {api}/node/v1/nodeForPsp?wsdl
               (idPSP {channel.id_psp}, idBrokerPSP {channel.id_broker_psp},
               idChannel {channel.id_channel}, password {channel.password})
  dev clock    {Path(platform.clock_file)}  (POST http://localhost:{port}/admin/devclock)
  push hubs    {hubs_line(platform)}
Back office  http://localhost:{port}/api/bo  (dev sign-in: an editor or a viewer of the demo EC)
A citizen token:  make token CF=RSSMRA85T10A562S
Stop with Ctrl-C.
""",
        flush=True,
    )


def hubs_line(platform: Platform) -> str:
    """Each push hub, its digits and where it is (``simulated`` or its real endpoint)."""
    simulator = f"127.0.0.1:{platform.nhsim.port}"
    return "; ".join(
        f"{hub.name} (digits {''.join(sorted(hub.digits))}): "
        + ("simulated" if hub.connection.namespace == simulator else hub.connection.endpoint)
        for hub in push_hubs(platform.env)
    )


if __name__ == "__main__":
    main()
