"""The December 2020 outage, reproduced inside private network namespaces."""

from __future__ import annotations

import os
import shutil
import subprocess


def namespace_problem() -> str | None:
    """Why a private network namespace cannot be made here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root to make a private network namespace (unshare -n)"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs the unshare and ip commands (util-linux, iproute2)"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"unshare -n is not permitted here: {probe.stderr.strip()}"
    return None
