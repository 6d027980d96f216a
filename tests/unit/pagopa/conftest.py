from __future__ import annotations

import pytest

from tests.unit.pagopa.schema import Validate, validator


@pytest.fixture(scope="session")
def psp_schema() -> Validate:
    return validator("nodeForPsp.xsd")


@pytest.fixture(scope="session")
def ec_schema() -> Validate:
    return validator("paForNode.xsd")
