"""Hub partitioning: the digits cover 0-f exactly once, or the settings are refused; every
installation lands on exactly one hub."""

from __future__ import annotations

import hashlib
import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.auth.fiscal_code import parse_fiscal_code
from shared.platform.errors import ConfigurationError, Invalid
from shared.push.hubs import HubRouter, hub_digit, installation_id, installation_tag
from shared.push.settings import HEX_DIGITS, PushHubSetting, parse_digits, push_hubs
from tests.unit.push.factories import fiscal_code

CONNECTION = (
    "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Full;"
    "SharedAccessKey=c2VjcmV0LWtleQ=="
)


def spec(digits: list[str]) -> str:
    """Digits as the settings write them: ranges of consecutive digits, comma-separated."""
    ordered = sorted(digits, key=HEX_DIGITS.index)
    runs: list[list[str]] = []
    for digit in ordered:
        if runs and HEX_DIGITS.index(digit) == HEX_DIGITS.index(runs[-1][-1]) + 1:
            runs[-1].append(digit)
        else:
            runs.append([digit])
    return ",".join(run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


def settings(groups: list[list[str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for index, group in enumerate(groups, start=1):
        values[f"PUSH_HUB_{index}_CONNECTION"] = CONNECTION
        values[f"PUSH_HUB_{index}_NAME"] = f"hub-{index}"
        values[f"PUSH_HUB_{index}_DIGITS"] = spec(group)
    return values


@st.composite
def partitions(draw: st.DrawFn) -> list[list[str]]:
    """The 16 digits dealt into 1-16 non-empty groups."""
    digits = draw(st.permutations(list(HEX_DIGITS)))
    cuts = sorted(draw(st.sets(st.integers(1, 15), max_size=15)))
    bounds = [0, *cuts, 16]
    return [list(digits[a:b]) for a, b in itertools.pairwise(bounds)]


INSTALLATION_IDS = st.binary(min_size=1, max_size=40).map(lambda b: hashlib.sha256(b).hexdigest())


@given(partitions(), st.lists(INSTALLATION_IDS, min_size=1, max_size=20))
def test_every_installation_lands_on_exactly_one_hub(
    groups: list[list[str]], ids: list[str]
) -> None:
    hubs = push_hubs(settings(groups))
    assert sorted(d for hub in hubs for d in hub.digits) == sorted(HEX_DIGITS)
    router = HubRouter.build(hubs, lambda hub: hub)
    for installation in ids:
        owners = [hub for hub in hubs if installation[0] in hub.digits]
        assert len(owners) == 1
        assert router.hub_for(installation) is owners[0]


@given(partitions(), st.data())
def test_a_gap_is_refused_naming_the_digit(groups: list[list[str]], data: st.DataObject) -> None:
    group = data.draw(st.sampled_from(groups))
    missing = data.draw(st.sampled_from(group))
    holed = [[d for d in g if d != missing] for g in groups]
    values = settings([g for g in holed if g])
    with pytest.raises(ConfigurationError) as caught:
        push_hubs(values)
    assert f"no hub takes digit(s) {missing}" in caught.value.report


@given(partitions().filter(lambda groups: len(groups) >= 2), st.data())
def test_an_overlap_is_refused_naming_both_hubs(
    groups: list[list[str]], data: st.DataObject
) -> None:
    first, second = data.draw(
        st.lists(st.integers(0, len(groups) - 1), min_size=2, max_size=2, unique=True)
    )
    shared = data.draw(st.sampled_from(groups[second]))
    overlapping = [list(g) for g in groups]
    overlapping[first].append(shared)
    with pytest.raises(ConfigurationError) as caught:
        push_hubs(settings(overlapping))
    a, b = sorted((first + 1, second + 1))
    assert f"digit(s) {shared} taken by PUSH_HUB_{a} and PUSH_HUB_{b}" in caught.value.report


@pytest.mark.parametrize(
    ("raw", "digits"),
    [("0-f", HEX_DIGITS), ("0-3", "0123"), ("A-C", "abc"), ("0-3, 8,a-b", "01238ab"), ("7", "7")],
)
def test_digit_specs(raw: str, digits: str) -> None:
    assert parse_digits(raw) == frozenset(digits)


@pytest.mark.parametrize("raw", ["", " ", "g", "3-1", "0-3,2", "0--3", "10", "0-3;4"])
def test_malformed_digit_specs_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_digits(raw)


def test_missing_hub_settings_are_reported_together() -> None:
    values = settings([list(HEX_DIGITS)])
    values["PUSH_HUB_2_NAME"] = "half-configured"
    with pytest.raises(ConfigurationError) as caught:
        push_hubs(values)
    assert "PUSH_HUB_2_CONNECTION, PUSH_HUB_2_DIGITS not set" in caught.value.report
    with pytest.raises(ConfigurationError, match="No push hub is configured"):
        push_hubs({"COSMOS_DATABASE": "x"})


@pytest.mark.parametrize(
    ("connection", "problem"),
    [
        ("Endpoint=sb://ns/;SharedAccessKeyName=Full", "lacks SharedAccessKey"),
        ("@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/nh)", "Key Vault"),
        ("Endpoint=ftp://ns/;SharedAccessKeyName=Full;SharedAccessKey=abc", "not sb://"),
        ("just-a-key", "not a connection string"),
    ],
)
def test_bad_connections_are_reported_without_the_key(connection: str, problem: str) -> None:
    values = settings([list(HEX_DIGITS)])
    values["PUSH_HUB_1_CONNECTION"] = connection
    with pytest.raises(ConfigurationError) as caught:
        push_hubs(values)
    assert problem in caught.value.report
    assert "abc" not in caught.value.report


def test_endpoints_become_rest_base_urls() -> None:
    values = settings([list("01234567"), list("89abcdef")])
    values["PUSH_HUB_2_CONNECTION"] = (
        "Endpoint=http://127.0.0.1:7090/;SharedAccessKeyName=Dev;SharedAccessKey=k"
    )
    first, second = push_hubs(values)
    assert first.connection.endpoint == "https://ns.servicebus.windows.net/"
    assert first.connection.namespace == "ns.servicebus.windows.net"
    assert second.connection.endpoint == "http://127.0.0.1:7090/"
    assert second.connection.namespace == "127.0.0.1:7090"
    assert "c2VjcmV0LWtleQ==" not in repr(first)


def test_installation_id_is_the_sha256_of_the_upper_case_fiscal_code() -> None:
    code = fiscal_code(42)
    expected = hashlib.sha256(code.encode()).hexdigest()
    assert installation_id(code) == expected
    assert installation_id(code.lower()) == expected
    with pytest.raises(Invalid):
        installation_id("NOTAFISCALCODE00")
    assert parse_fiscal_code(code) == code


def test_the_hub_digit_is_the_first_digit_of_the_installation_id_itself() -> None:
    for n in range(64):
        code = fiscal_code(n)
        assert hub_digit(installation_id(code)) == hashlib.sha256(code.encode()).hexdigest()[0]


def test_citizens_land_on_the_hub_ios_partition_gives_them() -> None:
    """IO's four hubs take the fiscal-code hashes matching ^[0-3], ^[4-7], ^[8-b], ^[c-f]; the
    same split written as PUSH_HUB_<n>_DIGITS puts every citizen on the same hub."""
    io = {"^[0-3]": "0-3", "^[4-7]": "4-7", "^[8-b]": "8-b", "^[c-f]": "c-f"}
    values: dict[str, str] = {}
    for index, digits in enumerate(io.values(), start=1):
        values.update(
            {
                f"PUSH_HUB_{index}_CONNECTION": CONNECTION,
                f"PUSH_HUB_{index}_NAME": f"io-hub-{index}",
                f"PUSH_HUB_{index}_DIGITS": digits,
            }
        )
    router = HubRouter.build(push_hubs(values), lambda hub: hub.name)
    for n in range(200):
        code = fiscal_code(n)
        sha = hashlib.sha256(code.encode()).hexdigest()
        [index] = [i for i, regex in enumerate(io, start=1) if re.match(regex, sha)]
        assert router.hub_for(installation_id(code)) == f"io-hub-{index}"


@pytest.mark.parametrize("installation", ["", "G" + "0" * 63, "A" + "0" * 63, " 0"])
def test_an_id_that_is_not_a_hex_digest_has_no_hub(installation: str) -> None:
    with pytest.raises(ValueError, match="hex digit"):
        hub_digit(installation)


def test_the_installation_tag_has_literal_braces() -> None:
    assert installation_tag("ab12") == "$InstallationId:{ab12}"


def test_a_router_needs_every_digit() -> None:
    hub = PushHubSetting(
        1, "h", push_hubs(settings([list(HEX_DIGITS)]))[0].connection, frozenset("0123")
    )
    with pytest.raises(ConfigurationError, match="no hub takes digit"):
        HubRouter.build([hub], lambda h: h)
