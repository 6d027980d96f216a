"""Settings fail fast with one readable report; errors map to problem documents."""

from __future__ import annotations

import json

import pytest

from shared.platform.config import load_settings
from shared.platform.errors import (
    ConfigurationError,
    Conflict,
    DependencyError,
    Forbidden,
    Invalid,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    Unauthorized,
)
from shared.platform.problems import problem_for
from tests.conftest import base_settings


def test_example_settings_are_complete_and_valid() -> None:
    values = base_settings()
    values["CITIZEN_JWT_PUBLIC_KEY"] = (
        "-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----"
    )
    settings = load_settings(values)
    assert settings.cosmos_database == "centro-stella"
    assert settings.local_secrets["psp-demo-signing"]
    assert settings.jwt_public_key is not None
    assert "\n" in settings.jwt_public_key


def test_every_settings_field_is_in_the_example() -> None:
    from shared.platform.config import Settings

    example = set(base_settings())
    aliases = {field.validation_alias for field in Settings.model_fields.values()}
    missing = {a for a in aliases if a not in example}
    assert missing == set()


def test_bad_settings_are_reported_together() -> None:
    values = base_settings()
    del values["COSMOS_ENDPOINT"]
    values["COSMOS_TIMEOUT_SECONDS"] = "soon"
    values["SERVICEBUS_MAX_DELIVERY_COUNT"] = "0"
    with pytest.raises(ConfigurationError) as caught:
        load_settings(values)
    report = caught.value.report
    for name in ("COSMOS_ENDPOINT", "COSMOS_TIMEOUT_SECONDS", "SERVICEBUS_MAX_DELIVERY_COUNT"):
        assert name in report


def test_a_missing_token_key_source_is_reported() -> None:
    values = base_settings()
    values["CITIZEN_JWT_PUBLIC_KEY"] = ""
    values["CITIZEN_JWKS_URL"] = ""
    with pytest.raises(ConfigurationError, match="CITIZEN_JWKS_URL"):
        load_settings(values)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (Invalid("x"), 400),
        (Invalid("x", status=422), 422),
        (Unauthorized("x"), 401),
        (Forbidden("x"), 403),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (PreconditionFailed("x"), 412),
        (PayloadTooLarge("x"), 413),
    ],
)
def test_domain_errors_keep_their_status_and_detail(error: Exception, status: int) -> None:
    problem = problem_for(error, correlation_id="c-1", instance="/api/x")
    assert problem.status == status
    assert problem.body["detail"] == "x"
    assert problem.body["correlationId"] == "c-1"


def test_a_throttled_dependency_is_503_with_retry_after() -> None:
    problem = problem_for(DependencyError("cosmos", "429", retry_after=2.2), correlation_id="c")
    assert problem.status == 503
    assert problem.headers == {"Retry-After": "3"}


def test_an_unexpected_error_is_500_without_its_details() -> None:
    problem = problem_for(RuntimeError("secret internals"), correlation_id="c-9")
    assert problem.status == 500
    assert "secret internals" not in json.dumps(problem.body)
    assert problem.body["correlationId"] == "c-9"
