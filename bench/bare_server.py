"""The baseline of bench/host.py: a bare aiohttp handler doing the same Cosmos point read with
the same client the app uses (platform clients), in a process of its own like the dev host."""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web

from shared.platform.clients import get_clients
from shared.platform.collector import pace_collector


async def serve(port: int) -> None:
    pace_collector()  # the worker's collector setting (functions.root sets it in the host)
    clients = get_clients()
    container = clients.container(clients.settings.parties_container)

    async def read(request: web.Request) -> web.Response:
        item_id = f"party:{request.match_info['partyId']}"
        item = await container.read_item(item_id, partition_key=item_id)
        return web.json_response({k: v for k, v in item.items() if not k.startswith("_")})

    app = web.Application()
    app.router.add_get("/read/{partyId}", read)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"READY {runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve(parser.parse_args().port))
