"""The production IaC is sized by the capacity model (bench/capacity.py), and docs/capacity.md
is its output: a benchmark result, a load figure or a price that changes changes both."""

from __future__ import annotations

import re

import pytest

from bench import capacity
from tests.infra import iac


@pytest.fixture(scope="module")
def model() -> capacity.Model:
    return capacity.build()


def test_docs_capacity_is_the_models_output(model: capacity.Model) -> None:
    assert capacity.DOC.read_text() == capacity.render(model), "run python -m bench.capacity"


@pytest.mark.parametrize("flavour", ["terraform", "bicep"])
def test_production_is_sized_by_the_model(
    deployments: dict[tuple[str, str], iac.Deployed], model: capacity.Model, flavour: str
) -> None:
    values = dict(deployments[(flavour, "prod")].values)
    wanted = capacity.production_values(model)
    prefix = int(str(values.pop("functions_subnet_prefix")).split("/")[1])
    assert prefix == wanted.pop("functions_subnet_prefix_length"), "functions_subnet_prefix"
    for name, value in wanted.items():
        assert values[name] == value, f"{flavour} prod: {name}"


def test_the_model_stays_within_what_azure_allows(model: capacity.Model) -> None:
    assert model.maximum_instances <= model.quota_instances
    assert sum(model.always_ready.values()) <= model.maximum_instances
    assert 2 * model.maximum_instances + 5 <= 2 ** (32 - model.subnet_prefix)
    assert all(v % 1000 == 0 and v >= 1000 for v in model.container_max.values())
    assert model.messaging_units in (1, 2, 4, 8, 16)


def test_every_figure_says_where_it_comes_from() -> None:
    tables = (capacity.LOAD, capacity.PLATFORM, capacity.COSMOS, capacity.SIZES, capacity.PRICES)
    for table in tables:
        for name, fact in table.items():
            assert len(fact.source) > 15, name
    for name, fact in capacity.PRICES.items():
        dated = re.search(r"\d{4}-\d{2}-\d{2}", fact.source)
        assert fact.assumption or dated, f"{name}: a published price needs its date"
