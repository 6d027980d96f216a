"""STANDIN_EXCLUDED_STATIONS: the stations the manager never puts in stand-in (pagoPA's
EXCLUDED_STATIONS), read as a comma-separated list and checked at start-up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from local import settings_doc
from shared.platform.config import Settings, load_settings
from shared.platform.errors import ConfigurationError


def loaded(**overrides: str) -> Settings:
    return load_settings(
        {
            **settings_doc.example_values(),
            "CITIZEN_JWKS_URL": "https://login.example/jwks",
            **overrides,
        }
    )


def test_the_example_excludes_no_station() -> None:
    assert loaded().standin_excluded_stations == frozenset()


def test_a_comma_separated_list_is_a_set_of_station_ids_with_spaces_trimmed() -> None:
    settings = loaded(STANDIN_EXCLUDED_STATIONS=" 77777777777_01, 80000000001_02 ,77777777777_01")
    assert settings.standin_excluded_stations == {"77777777777_01", "80000000001_02"}


@pytest.mark.parametrize(
    "value",
    ["77777777777_01,,80000000001_02", "77777777777_01,", "station 01", "_01", "a" * 65],
)
def test_a_list_with_an_empty_item_or_no_party_id_is_reported(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        loaded(STANDIN_EXCLUDED_STATIONS=value)
    assert "STANDIN_EXCLUDED_STATIONS" in caught.value.report


def test_the_environment_is_read_as_a_comma_separated_list_not_json() -> None:
    # The dev host and Azure both hand settings over as environment variables: the env source
    # must not try to decode the list as JSON.
    script = (
        "from shared.platform.config import Settings;"
        "print(','.join(sorted(Settings().standin_excluded_stations)))"
    )
    env = {
        **os.environ,
        **settings_doc.example_values(),
        "CITIZEN_JWKS_URL": "https://login.example/jwks",
        "STANDIN_EXCLUDED_STATIONS": "80000000001_02,77777777777_01",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "77777777777_01,80000000001_02"
