"""The operator command: parties, failed work and dead letters, through the host's ops routes.

It talks HTTP to a running host (the dev host or Azure) with the admin key; it never touches the
stores directly::

    python -m local.ops --url http://localhost:7071 parties register party.json
    python -m local.ops parties rotate-key 77777777777 --grace-seconds 3600
    python -m local.ops failed-work list [--queue wallet-events] [--limit 20]
    python -m local.ops failed-work replay <id>
    python -m local.ops dead-letters list <queue>
    python -m local.ops dead-letters replay <queue> [--limit 10]
    python -m local.ops standin list | show <station>
    python -m local.ops standin force <station> STANDIN|NORMAL --reason "EC maintenance"
    python -m local.ops standin release <station>
    python -m local.ops bo-users put <objectId> --name "Anna Verdi" --ec 77777777777=editor
    python -m local.ops bo-users show <objectId>
    python -m local.ops bo-users remove <objectId>

``--url`` defaults to ``$CENTRO_STELLA_URL`` or http://localhost:7071; the key comes from
``--admin-key`` or ``$CENTRO_STELLA_ADMIN_KEY`` (locally: LOCAL_ADMIN_KEY of local.settings).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any


class OpsError(RuntimeError):
    pass


def call(
    url: str,
    key: str,
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    params = {k: v for k, v in (query or {}).items() if v is not None}
    full = url.rstrip("/") + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        full,
        data=data,
        method=method,
        headers={"x-functions-key": key, "Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        raise OpsError(f"{method} {path}: {error.code} {detail}") from None
    except urllib.error.URLError as error:
        raise OpsError(f"cannot reach {url}: {error.reason}") from None
    return json.loads(raw) if raw else None


def _default_key() -> str:
    key = os.environ.get("CENTRO_STELLA_ADMIN_KEY")
    if key:
        return key
    for name in ("local.settings.json", "local.settings.example.json"):
        path = Path(__file__).resolve().parent.parent / name
        if path.exists():
            return str(json.loads(path.read_text())["Values"].get("LOCAL_ADMIN_KEY", ""))
    return ""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m local.ops", description=__doc__.splitlines()[0])
    p.add_argument("--url", default=os.environ.get("CENTRO_STELLA_URL", "http://localhost:7071"))
    p.add_argument("--admin-key", default=None)
    groups = p.add_subparsers(dest="group", required=True)

    parties = groups.add_parser("parties").add_subparsers(dest="action", required=True)
    register = parties.add_parser("register", help="register or update from a JSON file")
    register.add_argument("file", type=Path)
    rotate = parties.add_parser("rotate-key", help="issue a new key (shown once)")
    rotate.add_argument("party_id")
    rotate.add_argument("--grace-seconds", type=int, default=86400)
    show = parties.add_parser("show")
    show.add_argument("party_id")

    failed = groups.add_parser("failed-work").add_subparsers(dest="action", required=True)
    listing = failed.add_parser("list")
    listing.add_argument("--queue")
    listing.add_argument("--limit", type=int, default=50)
    replay = failed.add_parser("replay")
    replay.add_argument("ids", nargs="+")

    dead = groups.add_parser("dead-letters").add_subparsers(dest="action", required=True)
    dead_list = dead.add_parser("list")
    dead_list.add_argument("queue")
    dead_list.add_argument("--limit", type=int, default=50)
    dead_replay = dead.add_parser("replay")
    dead_replay.add_argument("queue")
    dead_replay.add_argument("--limit", type=int, default=10)

    standin = groups.add_parser("standin").add_subparsers(dest="action", required=True)
    standin.add_parser("list", help="stations, their mode and the figures behind it")
    standin_show = standin.add_parser("show", help="one station with its probes and history")
    standin_show.add_argument("station")
    force = standin.add_parser("force", help="force a mode (wins until released)")
    force.add_argument("station")
    force.add_argument("mode", choices=("STANDIN", "NORMAL"))
    force.add_argument("--reason", required=True)
    release = standin.add_parser("release", help="the rules decide again")
    release.add_argument("station")
    users = groups.add_parser("bo-users").add_subparsers(dest="action", required=True)
    put_user = users.add_parser("put", help="give a back-office user its ECs and roles")
    put_user.add_argument("object_id", help="the user's Entra ID object id")
    put_user.add_argument("--name", required=True)
    put_user.add_argument(
        "--ec", action="append", required=True, help="<EC fiscal code>=viewer|editor, repeatable"
    )
    for action in ("show", "remove"):
        users.add_parser(action).add_argument("object_id")
    bo_index = groups.add_parser("bo-index").add_subparsers(dest="action", required=True)
    bo_rebuild = bo_index.add_parser(
        "rebuild", help="index the archive's positions of one EC (written before the index)"
    )
    bo_rebuild.add_argument("ec_fiscal_code")
    p.add_argument(
        "--operator",
        default=os.environ.get("USER", "operator"),
        help="recorded as who forced or released a mode",
    )
    return p


def run(args: argparse.Namespace) -> Any:
    key = args.admin_key or _default_key()
    if not key:
        raise OpsError("no admin key: pass --admin-key or set CENTRO_STELLA_ADMIN_KEY")
    url = args.url
    if args.group == "parties":
        if args.action == "register":
            return call(url, key, "POST", "/api/ops/parties", json.loads(args.file.read_text()))
        if args.action == "rotate-key":
            return call(
                url,
                key,
                "POST",
                f"/api/ops/parties/{args.party_id}/keys",
                {"graceSeconds": args.grace_seconds},
            )
        return call(url, key, "GET", f"/api/ops/parties/{args.party_id}")
    if args.group == "failed-work":
        if args.action == "list":
            return call(
                url,
                key,
                "GET",
                "/api/ops/failed-work",
                query={"queue": args.queue, "limit": args.limit},
            )
        return [call(url, key, "POST", f"/api/ops/failed-work/{item}/replay") for item in args.ids]
    if args.group == "standin":
        return _standin(url, key, args)
    if args.group == "bo-users":
        return _users(url, key, args)
    if args.group == "bo-index":
        ec = urllib.parse.quote(args.ec_fiscal_code, safe="")
        return call(url, key, "POST", f"/api/ops/bo-index/{ec}/rebuild")
    queue = urllib.parse.quote(args.queue, safe="")
    if args.action == "list":
        return call(url, key, "GET", f"/api/ops/dead-letters/{queue}", query={"limit": args.limit})
    return call(
        url, key, "POST", f"/api/ops/dead-letters/{queue}/replay", query={"limit": args.limit}
    )


def _users(url: str, key: str, args: argparse.Namespace) -> Any:
    path = f"/api/ops/bo-users/{urllib.parse.quote(args.object_id, safe='')}"
    if args.action == "show":
        return call(url, key, "GET", path)
    if args.action == "remove":
        return call(url, key, "DELETE", path)
    ecs = dict(item.partition("=")[::2] for item in args.ec)
    return call(url, key, "PUT", path, {"name": args.name, "ecs": ecs})


def _standin(url: str, key: str, args: argparse.Namespace) -> Any:
    if args.action == "list":
        return call(url, key, "GET", "/api/ops/standin/stations")
    station = urllib.parse.quote(args.station, safe="")
    path = f"/api/ops/standin/stations/{station}"
    who = {"x-operator": args.operator}
    if args.action == "force":
        return call(
            url,
            key,
            "PUT",
            f"{path}/force",
            {"mode": args.mode, "reason": args.reason},
            headers=who,
        )
    if args.action == "release":
        return call(url, key, "DELETE", f"{path}/force", headers=who)
    return call(url, key, "GET", path)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = run(args)
    except OpsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
