"""``make token CF=<fiscal code>``: a dev citizen token signed with ``make run``'s key pair.

It follows the dev clock, so a token made after the clock was advanced is valid for the host.
"""

from __future__ import annotations

import json
import sys

from local.devclock import DevClock
from local.process import ROOT
from local.run import STATE
from local.tokens import issue_token
from shared.auth.fiscal_code import parse_fiscal_code
from shared.platform.errors import Invalid


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: make token CF=<fiscal code>", file=sys.stderr)
        return 2
    try:
        fiscal_code = parse_fiscal_code(argv[0])
    except Invalid as error:
        print(f"not a fiscal code: {error.detail}", file=sys.stderr)
        return 2
    private = STATE / "keys" / "citizen-token.key"
    if not private.exists():
        print("no dev key pair yet: run `make run` once first", file=sys.stderr)
        return 1
    settings_file = ROOT / "local.settings.json"
    if not settings_file.exists():
        settings_file = ROOT / "local.settings.example.json"
    values = json.loads(settings_file.read_text())["Values"]
    clock = DevClock(STATE / "clock.json")
    print(
        issue_token(
            private.read_text(),
            fiscal_code,
            issuer=values["CITIZEN_JWT_ISSUER"],
            audience=values["CITIZEN_JWT_AUDIENCE"],
            now=clock.now(),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
