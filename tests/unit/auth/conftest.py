from __future__ import annotations

import pytest

from local.tokens import generate_key_pair


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[str, str]:
    return generate_key_pair("RS256")


@pytest.fixture(scope="module")
def rsa_pair_2() -> tuple[str, str]:
    return generate_key_pair("RS256")


@pytest.fixture(scope="module")
def ec_pair() -> tuple[str, str]:
    return generate_key_pair("ES256")
