"""The simulated station checks each paForNode request against the project's XSD with
xmlschema, a validator that shares no code with the models the stand-in writes its requests
with: a station that parsed them with those same models would confirm the client, not check it.

A real station behind a validating parser refuses an element out of order or one the schema does
not know, where the models would let it through; so does this one (``PAA_SINTASSI_XSD``).
"""

from __future__ import annotations

from functools import cache

import xmlschema
from lxml import etree

from shared.pagopa.documents import SCHEMAS

MAX_REPORTED = 3


@cache
def _schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMAS / "paForNode.xsd"))


def schema_errors(element: etree._Element) -> list[str]:
    """What the XSD finds wrong with the request element ``element`` (its first few reasons,
    each with the path of the element at fault)."""
    found = []
    for error in _schema().iter_errors(etree.tostring(element).decode()):
        found.append(f"{error.path or ''}: {error.reason or error.message}")
        if len(found) == MAX_REPORTED:
            break
    return found
