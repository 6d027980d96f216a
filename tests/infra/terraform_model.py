"""The Terraform configuration evaluated for one environment, resource by resource.

python-hcl2 (run by dump_iac.py in the IaC tools' venv) gives each file's blocks, with every
expression as its source text; this module evaluates them the way ``terraform plan`` would
before it asks Azure anything: variables from the environment's tfvars (else their defaults),
locals, ``count``/``for_each`` expanded into instances, ``dynamic`` blocks expanded, references
between resources followed to the arguments they name. What only Azure knows (ids, endpoints,
keys) stays an :class:`~tests.infra.expressions.Unknown` naming where it comes from.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.infra.expressions import (
    HCL_FUNCTIONS,
    ExpressionError,
    Lexer,
    Node,
    Scope,
    TfSet,
    Traversable,
    Unknown,
    evaluate,
    iterate,
    parse,
)

META_ARGUMENTS = {"for_each", "count", "depends_on", "lifecycle", "provider", "provisioner"}


def unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


@functools.cache
def parse_rendered(text: str) -> Node:
    """python-hcl2's rendering of one expression: ``"..."`` is a template, ``${...}`` an
    expression."""
    if text.startswith('"'):
        return parse(text, "hcl")
    if text.startswith("${") and Lexer(text, "hcl").interpolation_end(2) == len(text) - 1:
        return parse(text[2:-1], "hcl")
    return parse('"' + text.replace('"', '\\"') + '"', "hcl")


def is_block_list(raw: Any) -> bool:
    return (
        isinstance(raw, list)
        and bool(raw)
        and all(isinstance(item, dict) and item.get("__is_block__") for item in raw)
    )


def evaluate_raw(raw: Any, scope: Scope) -> Any:
    """A value of python-hcl2's output: dicts and lists of expressions, or one expression."""
    if isinstance(raw, dict):
        out: dict[str, Any] = {}
        for key, value in raw.items():
            if key.startswith("__"):
                continue
            name = unquote(key)
            if "${" in name:
                name = str(evaluate(parse_rendered('"' + name + '"'), scope))
            out[name] = evaluate_raw(value, scope)
        return out
    if isinstance(raw, list):
        return [evaluate_raw(item, scope) for item in raw]
    if isinstance(raw, str):
        return evaluate(parse_rendered(raw), scope)
    return raw


def evaluate_body(body: Mapping[str, Any], scope: Scope) -> dict[str, Any]:
    """A block's arguments and nested blocks (lists of bodies), ``dynamic`` blocks expanded."""
    out: dict[str, Any] = {}
    for key, raw in body.items():
        if key.startswith("__") or key in META_ARGUMENTS:
            continue
        if key == "dynamic":
            for entry in raw:
                for label, spec in entry.items():
                    name = unquote(label)
                    out.setdefault(name, []).extend(expand_dynamic(name, spec, scope))
        elif is_block_list(raw):
            out[key] = [evaluate_body(item, scope) for item in raw]
        else:
            out[key] = evaluate_raw(raw, scope)
    return out


def expand_dynamic(name: str, spec: Mapping[str, Any], scope: Scope) -> list[dict[str, Any]]:
    iterator = str(evaluate_raw(spec["iterator"], scope)) if "iterator" in spec else name
    collection = evaluate_raw(spec["for_each"], scope)
    if isinstance(collection, Unknown):
        raise ExpressionError(f"dynamic {name}: for_each known only after deployment")
    blocks = []
    for key, value in iterate(collection, "hcl"):
        inner = scope.child({iterator: {"key": key, "value": value}})
        for content in spec["content"]:
            blocks.append(evaluate_body(content, inner))
    return blocks


class LazyMap(Traversable):
    """A map whose entries are computed when read (locals, a resource type's resources)."""

    def __init__(self, what: str, get: Any, names: Any) -> None:
        self.what = what
        self.get = get
        self.names = names

    def attribute(self, name: str) -> Any:
        if name not in self.names():
            raise ExpressionError(f"{self.what}.{name} is not declared")
        return self.get(name)

    def __repr__(self) -> str:
        return f"<{self.what}>"


@dataclass
class Instance(Traversable):
    """One instance of a resource (or data source) block."""

    model: Terraform
    kind: str
    name: str
    key: Any
    body: Mapping[str, Any]
    scope: Scope
    data: bool = False
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        prefix = "data." if self.data else ""
        base = f"{prefix}{self.kind}.{self.name}"
        if self.key is None:
            return base
        return f'{base}["{self.key}"]' if isinstance(self.key, str) else f"{base}[{self.key}]"

    def attribute(self, name: str) -> Any:
        if name not in self._cache:
            self._cache[name] = self._attribute(name)
        return self._cache[name]

    def _attribute(self, name: str) -> Any:
        if self.data or name in META_ARGUMENTS:
            return Unknown(f"{self.address}.{name}")
        raw = self.body.get(name)
        if raw is None:
            dynamic = [
                spec
                for entry in self.body.get("dynamic", [])
                for label, spec in entry.items()
                if unquote(label) == name
            ]
            if dynamic:
                return [b for spec in dynamic for b in expand_dynamic(name, spec, self.scope)]
            return Unknown(f"{self.address}.{name}")
        if is_block_list(raw):
            return [evaluate_body(item, self.scope) for item in raw]
        return evaluate_raw(raw, self.scope)

    def arguments(self) -> dict[str, Any]:
        """Every argument and nested block, evaluated."""
        return evaluate_body(self.body, self.scope)

    def depends_on(self) -> list[str]:
        """The addresses in ``depends_on``, as written."""
        return [_address(raw) for raw in self.body.get("depends_on", [])]

    def __repr__(self) -> str:
        return f"<{self.address}>"


def _address(raw: str) -> str:
    node = parse_rendered(raw)
    parts: list[str] = []
    while node[0] == "attr":
        parts.append(node[2])
        node = node[1]
    if node[0] != "var":
        raise ExpressionError(f"depends_on entry {raw!r} is not a reference")
    parts.append(node[1])
    return ".".join(reversed(parts))


@dataclass(frozen=True)
class Declared:
    """One resource instance, as the plan would create it."""

    kind: str
    name: str
    key: Any
    arguments: dict[str, Any]
    depends_on: tuple[str, ...]

    @property
    def address(self) -> str:
        base = f"{self.kind}.{self.name}"
        if self.key is None:
            return base
        return f'{base}["{self.key}"]' if isinstance(self.key, str) else f"{base}[{self.key}]"


class Terraform:
    """The configuration of ``files`` (python-hcl2's parse of each .tf) with ``values`` (the
    environment's tfvars as python-hcl2 renders them) and ``overrides`` (plain Python values,
    standing for TF_VAR_* secrets)."""

    def __init__(
        self,
        files: Mapping[str, Any],
        values: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.files = files
        self.blocks: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        for parsed in files.values():
            for kind in ("resource", "data", "variable", "output", "locals", "provider"):
                for entry in parsed.get(kind, []):
                    if kind == "locals":
                        self.blocks.setdefault(kind, []).append(("", "", entry))
                        continue
                    for first, inner in entry.items():
                        if kind in ("resource", "data"):
                            for second, body in inner.items():
                                self.blocks.setdefault(kind, []).append(
                                    (unquote(first), unquote(second), body)
                                )
                        else:
                            self.blocks.setdefault(kind, []).append((unquote(first), "", inner))
        self.base = Scope(self._resolve, HCL_FUNCTIONS, "hcl")
        self.variables: dict[str, Any] = {}
        empty = Scope(lambda name: _no_root(name), HCL_FUNCTIONS, "hcl")
        for name, _, body in self.blocks.get("variable", []):
            if overrides and name in overrides:
                self.variables[name] = overrides[name]
            elif values and name in values:
                self.variables[name] = evaluate_raw(values[name], empty)
            elif "default" in body:
                self.variables[name] = evaluate_raw(body["default"], empty)
            else:
                raise ExpressionError(f"variable {name} has no value and no default")
        self.local_raw: dict[str, Any] = {}
        for _, _, entry in self.blocks.get("locals", []):
            for key, raw in entry.items():
                if not key.startswith("__"):
                    self.local_raw[key] = raw
        self._locals: dict[str, Any] = {}
        self._evaluating: set[str] = set()
        self.resources: dict[tuple[str, str], dict[str, Any]] = {
            (kind, name): body for kind, name, body in self.blocks.get("resource", [])
        }
        self.data: dict[tuple[str, str], dict[str, Any]] = {
            (kind, name): body for kind, name, body in self.blocks.get("data", [])
        }
        self._values: dict[tuple[str, str], Any] = {}

    # -- names
    def _resolve(self, name: str) -> Any:
        if name == "var":
            return self.variables
        if name == "local":
            return LazyMap("local", self.local, lambda: self.local_raw)
        if name == "data":
            types = {kind for kind, _ in self.data}
            return LazyMap(
                "data",
                lambda kind: LazyMap(
                    f"data.{kind}",
                    lambda n: Instance(self, kind, n, None, self.data[(kind, n)], self.base, True),
                    lambda: {n for k, n in self.data if k == kind},
                ),
                lambda: types,
            )
        if name == "path":
            return {"module": ".", "root": ".", "cwd": "."}
        if name == "terraform":
            return {"workspace": "default"}
        kinds = {kind for kind, _ in self.resources}
        if name in kinds:
            return LazyMap(
                name,
                lambda n: self.resource_value(name, n),
                lambda: {n for k, n in self.resources if k == name},
            )
        return _no_root(name)

    def local(self, name: str) -> Any:
        if name not in self._locals:
            if name in self._evaluating:
                raise ExpressionError(f"local.{name} refers to itself")
            self._evaluating.add(name)
            try:
                self._locals[name] = evaluate_raw(self.local_raw[name], self.base)
            finally:
                self._evaluating.discard(name)
        return self._locals[name]

    # -- resources
    def instances(self, kind: str, name: str) -> dict[Any, Instance]:
        """The instances of one resource block: key None, count indexes or for_each keys."""
        body = self.resources[(kind, name)]
        if "for_each" in body:
            collection = evaluate_raw(body["for_each"], self.base)
            if isinstance(collection, Unknown):
                raise ExpressionError(f"{kind}.{name}: for_each known only after deployment")
            if isinstance(collection, list) and not isinstance(collection, TfSet):
                raise ExpressionError(f"{kind}.{name}: for_each takes a map or a set, not a list")
            return {
                key: Instance(
                    self, kind, name, key, body, self.base.child({"each": {"key": key, "value": v}})
                )
                for key, v in iterate(collection, "hcl")
            }
        if "count" in body:
            count = evaluate_raw(body["count"], self.base)
            if isinstance(count, Unknown):
                raise ExpressionError(f"{kind}.{name}: count known only after deployment")
            return {
                index: Instance(
                    self, kind, name, index, body, self.base.child({"count": {"index": index}})
                )
                for index in range(int(count))
            }
        return {None: Instance(self, kind, name, None, body, self.base)}

    def resource_value(self, kind: str, name: str) -> Any:
        if (kind, name) not in self._values:
            body = self.resources[(kind, name)]
            instances = self.instances(kind, name)
            if "for_each" in body:
                value: Any = dict(instances)
            elif "count" in body:
                value = [instances[i] for i in sorted(instances)]
            else:
                value = instances[None]
            self._values[(kind, name)] = value
        return self._values[(kind, name)]

    def declared(self) -> Iterator[Declared]:
        """Every resource instance the plan would create, arguments evaluated."""
        for kind, name in self.resources:
            for key, instance in self.instances(kind, name).items():
                yield Declared(kind, name, key, instance.arguments(), tuple(instance.depends_on()))

    def outputs(self) -> dict[str, Any]:
        return {
            name: evaluate_raw(body["value"], self.base)
            for name, _, body in self.blocks.get("output", [])
        }

    def providers(self) -> dict[str, dict[str, Any]]:
        return {
            name: evaluate_body(body, self.base)
            for name, _, body in self.blocks.get("provider", [])
        }


def _no_root(name: str) -> Any:
    raise ExpressionError(f"unknown name {name!r}")
