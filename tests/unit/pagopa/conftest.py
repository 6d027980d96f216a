"""The project's own XSDs, loaded once, to check every message against (xmlschema: a
validator that shares no code with the models)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import xmlschema
from lxml import etree

from shared.pagopa.documents import SCHEMAS

Validate = Callable[[etree._Element], list[str]]


def _validator(name: str) -> Validate:
    schema = xmlschema.XMLSchema(str(SCHEMAS / name))

    def errors(element: etree._Element) -> list[str]:
        return [
            error.reason or str(error)
            for error in schema.iter_errors(etree.tostring(element).decode())
        ]

    return errors


@pytest.fixture(scope="session")
def psp_schema() -> Validate:
    return _validator("nodeForPsp.xsd")


@pytest.fixture(scope="session")
def ec_schema() -> Validate:
    return _validator("paForNode.xsd")
