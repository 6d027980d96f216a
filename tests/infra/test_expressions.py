"""The expression evaluator the IaC tests stand on: what HCL and Bicep would compute, and what
only Azure knows kept as a named unknown."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.bicep_model import BICEP_FUNCTIONS
from tests.infra.expressions import (
    HCL_FUNCTIONS,
    ExpressionError,
    Scope,
    TfSet,
    Unknown,
    evaluate,
    parse,
)


def hcl(text: str, **names: Any) -> Any:
    return evaluate(parse(text, "hcl"), Scope(lambda n: names[n], HCL_FUNCTIONS, "hcl"))


def bicep(text: str, **names: Any) -> Any:
    return evaluate(parse(text, "bicep"), Scope(lambda n: names[n], BICEP_FUNCTIONS, "bicep"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"PT${x.lock}S"', "PT60S"),
        ("x.lock * 2 + 1", 121),
        ('x.on ? "Deny" : "Allow"', "Deny"),
        ('{ for k, v in m : v => k if k != "b" }', {"1": "a"}),
        ("[for i, v in l : v * i]", [0, 20, 60]),
        ("merge({a = 1}, {b = 2}, {a = 3})", {"a": 3, "b": 2}),
        ('toset(["b", "a", "b"])', TfSet(["a", "b"])),
        ('can(regex("^[a-z]+$", "Ab"))', False),
        ("tostring(l[1] + 1)", "21"),
        ("length([for k in keys(m) : k])", 2),
    ],
)
def test_hcl(text: str, expected: Any) -> None:
    assert hcl(text, x={"lock": 60, "on": True}, m={"a": 1, "b": 2}, l=[10, 20, 30]) == expected


def test_what_only_azure_knows_stays_a_named_unknown() -> None:
    account = {"id": Unknown("azurerm_storage_account.this.id")}
    assert hcl("a.id", a=account) == Unknown("azurerm_storage_account.this.id")
    assert hcl('"${a.id}/blobServices/default"', a=account) == Unknown(
        "${azurerm_storage_account.this.id}/blobServices/default"
    )
    with pytest.raises(ExpressionError, match="known only after deployment"):
        hcl("[for x in a.id : x]", a=account)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'${base}-${index + 1}'", "cstella-dev-2"),
        ("empty(o) ? 'none' : o.k", "v"),
        ("union(o, {\n  z: 1\n})", {"k": "v", "z": 1}),
        ("[for (item, i) in items(o): '${item.key}${i}']", ["k0"]),
        ("reduce([1, 2, 3], 0, (t, n) => t + n)", 6),
        ("contains(o, 'K')", True),
        ("string(index) == '1'", True),
    ],
)
def test_bicep(text: str, expected: Any) -> None:
    assert bicep(text, base="cstella-dev", index=1, o={"k": "v"}) == expected


def test_a_function_nobody_taught_the_evaluator_fails_loudly() -> None:
    with pytest.raises(ExpressionError, match="not known"):
        hcl('templatefile("x", {})')
