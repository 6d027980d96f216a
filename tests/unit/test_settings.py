"""Settings: their names, the example's values, timer schedules, and docs/settings.md."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from local import settings_doc
from shared.platform.config import Settings, load_settings, setting_field
from shared.platform.errors import ConfigurationError

# The settings whose names someone else fixed (the Functions host, an SDK, the deployed apps):
# every other setting is its field's name in capitals.
FIXED_NAMES = {
    "servicebus_connection": "ServiceBusConnection",
    "servicebus_namespace": "ServiceBusConnection__fullyQualifiedNamespace",
    "max_delivery_count": "SERVICEBUS_MAX_DELIVERY_COUNT",
    "storage_connection": "AzureWebJobsStorage",
    "storage_account": "AzureWebJobsStorage__accountName",
    "jwt_issuer": "CITIZEN_JWT_ISSUER",
    "jwt_audience": "CITIZEN_JWT_AUDIENCE",
    "jwt_public_key": "CITIZEN_JWT_PUBLIC_KEY",
    "jwks_url": "CITIZEN_JWKS_URL",
    "appinsights_connection_string": "APPLICATIONINSIGHTS_CONNECTION_STRING",
}

SCHEDULES = {
    "OUTBOX_SWEEP_SCHEDULE": "*/30 * * * * *",
    "NOTICES_EXPIRE_SCHEDULE": "0 */5 * * * *",
    "CASHBACK_RANK_SCHEDULE": "0 0 * * * *",
    "CASHBACK_PAYOUTS_SCHEDULE": "0 30 2 * * *",
    "STANDIN_EVALUATE_SCHEDULE": "0 */5 * * * *",
}


def example() -> dict[str, str]:
    return settings_doc.example_values()


def loaded_example(**overrides: str) -> Settings:
    # The example leaves both token key sources empty (the local platform makes a key pair).
    return load_settings(
        {**example(), "CITIZEN_JWKS_URL": "https://login.example/jwks", **overrides}
    )


def test_each_setting_is_its_field_in_capitals_but_the_names_others_fixed() -> None:
    names = {field: info.validation_alias for field, info in Settings.model_fields.items()}
    assert names == {field: FIXED_NAMES.get(field, field.upper()) for field in names}


def test_every_setting_is_named_in_the_example() -> None:
    names = {str(info.validation_alias) for info in Settings.model_fields.values()}
    assert names - set(example()) == set()


def test_every_setting_is_described() -> None:
    undescribed = [f for f, info in Settings.model_fields.items() if not info.description]
    assert undescribed == []


def test_the_example_loads_as_it_always_has() -> None:
    settings = loaded_example()
    assert {
        "cosmos_endpoint": settings.cosmos_endpoint,
        "cosmos_database": settings.cosmos_database,
        "cosmos_endpoint_discovery": settings.cosmos_endpoint_discovery,
        "cosmos_timeout_seconds": settings.cosmos_timeout_seconds,
        "servicebus_connection": settings.servicebus_connection,
        "servicebus_namespace": settings.servicebus_namespace,
        "max_delivery_count": settings.max_delivery_count,
        "storage_connection": settings.storage_connection,
        "jwt_issuer": settings.jwt_issuer,
        "jwt_audience": settings.jwt_audience,
        "jwt_public_key": settings.jwt_public_key,
        "push_queue": settings.push_queue,
        "push_sas_ttl_seconds": settings.push_sas_ttl_seconds,
        "standin_window_minutes": settings.standin_window_minutes,
        "standin_night_traffic_share": settings.standin_night_traffic_share,
        "wallet_notification_url": settings.wallet_notification_url,
        "local_secrets": sorted(settings.local_secrets),
        "appinsights_connection_string": settings.appinsights_connection_string,
    } == {
        "cosmos_endpoint": "http://127.0.0.1:8081/",
        "cosmos_database": "centro-stella",
        "cosmos_endpoint_discovery": True,
        "cosmos_timeout_seconds": 5.0,
        "servicebus_connection": "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName="
        "RootManageSharedAccessKey;SharedAccessKey=LOCAL-DEV-BROKER-KEY;"
        "UseDevelopmentEmulator=true",
        "servicebus_namespace": "",
        "max_delivery_count": 10,
        "storage_connection": "UseDevelopmentStorage=true",
        "jwt_issuer": "https://app-backend.local.dev",
        "jwt_audience": "centro-stella",
        "jwt_public_key": None,
        "push_queue": "push",
        "push_sas_ttl_seconds": 3600,
        "standin_window_minutes": 30,
        "standin_night_traffic_share": 0.10,
        "wallet_notification_url": "",
        "local_secrets": [
            "cashback-pgp-private-key",
            "psp-demo-signing",
            "station-demo-credential",
            "wallet-reference-key",
            "wallet-user-id-key",
        ],
        "appinsights_connection_string": "",
    }


def test_a_setting_whose_value_differs_from_its_default_is_read_by_its_name() -> None:
    settings = loaded_example(SERVICEBUS_MAX_DELIVERY_COUNT="7", NOTICES_QUEUE="notices-blue")
    assert (settings.max_delivery_count, settings.notices_queue) == (7, "notices-blue")


def test_timer_schedules_default_to_the_values_the_triggers_had() -> None:
    fields = Settings.model_fields
    assert {name: fields[setting_field(name)].default for name in SCHEDULES} == SCHEDULES
    assert {name: example()[name] for name in SCHEDULES} == SCHEDULES


@pytest.mark.parametrize(
    "schedule", ["0 0 9 * * MON-FRI", "0 */5 * * * *", "*/30 * * * * *", "0 30 2 1,15 * *"]
)
def test_a_six_field_schedule_is_accepted(schedule: str) -> None:
    assert loaded_example(CASHBACK_RANK_SCHEDULE=schedule).cashback_rank_schedule == schedule


@pytest.mark.parametrize(
    "schedule", ["0 0 * * *", "0 0 * * * * *", "", "every hour", "0 0 ? * * *", "0 0 * * * *;"]
)
def test_a_schedule_that_is_not_six_ncrontab_fields_is_reported(schedule: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        loaded_example(CASHBACK_RANK_SCHEDULE=schedule)
    assert "CASHBACK_RANK_SCHEDULE" in caught.value.report


def test_a_setting_name_leads_to_its_field() -> None:
    assert setting_field("PUSH_QUEUE") == "push_queue"
    assert setting_field("SERVICEBUS_MAX_DELIVERY_COUNT") == "max_delivery_count"
    with pytest.raises(KeyError, match="PUSH_QUEUES"):
        setting_field("PUSH_QUEUES")


# ------------------------------------------------------------------------ docs/settings.md


def test_the_settings_page_is_up_to_date() -> None:
    committed = settings_doc.DOC.read_text() if settings_doc.DOC.exists() else ""
    assert committed == settings_doc.render(), (
        f"docs/settings.md is stale: run `{settings_doc.COMMAND}` and commit it"
    )


def test_the_page_lists_every_setting_with_its_description_and_local_value() -> None:
    page = settings_doc.render()
    for info in Settings.model_fields.values():
        name = str(info.validation_alias)
        [row] = [line for line in page.splitlines() if line.startswith(f"| `{name}` |")]
        assert (info.description or "-") in row.replace("\\|", "|")
        local = example()[name]
        assert (f"`{local}`" if local else '`""`') in row


def test_every_name_in_the_example_is_documented() -> None:
    documented = [str(info.validation_alias) for info in Settings.model_fields.values()]
    documented += [name for name, _ in settings_doc.HUB_SETTINGS]
    documented += [name for name, _, _ in settings_doc.OTHERS]
    patterns = [
        r"\w+".join(re.escape(part) for part in re.split(r"<[^>]+>", name)) for name in documented
    ]
    page = settings_doc.render()
    assert [n for n in example() if not any(re.fullmatch(p, n) for p in patterns)] == []
    assert [n for n in documented if f"`{n}`" not in page] == []


def test_the_page_is_generated_without_the_functions_runtime() -> None:
    script = (
        "import json, sys; from local import settings_doc; settings_doc.render(); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('azure.functions'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings_doc.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout) == []
