"""The test app plus one careless function, for the dev host of tests/hostile/test_logs.py only.

The function does what a careless handler would: it logs its URL (the function key in ``code=``)
and its headers (the bearer token, the key), and fails with the token in its exception, which the
host logs with its traceback. Only the redaction filter stands between that and the log.
"""

from __future__ import annotations

import logging

import azure.functions as func

from tests.app import app

logger = logging.getLogger("tests.careless")
bp = func.Blueprint()


@bp.route(route="tests/careless", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def test_careless(req: func.HttpRequest) -> func.HttpResponse:
    logger.warning("careless request %s with headers %s", req.url, dict(req.headers))
    # careless on purpose: the datum is in the message itself, not an argument
    logger.info("careless caller " + str(req.params.get("who")))
    raise RuntimeError(f"careless failure for {req.headers.get('authorization')}")


app.register_functions(bp)
