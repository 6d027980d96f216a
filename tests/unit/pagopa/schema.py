"""The project's own XSDs, to check messages against (xmlschema: a validator that shares no
code with the models)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import xmlschema
from lxml import etree

from shared.pagopa.documents import SCHEMAS

Validate = Callable[[etree._Element], list[str]]


@cache
def validator(name: str) -> Validate:
    schema = xmlschema.XMLSchema(str(SCHEMAS / name))

    def errors(element: etree._Element) -> list[str]:
        source = etree.tostring(element).decode()
        return [error.reason or str(error) for error in schema.iter_errors(source)]

    return errors
