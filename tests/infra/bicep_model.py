"""The Bicep templates evaluated for one parameters file, resource by resource.

``main.bicep`` is parsed here (statements: parameters, variables, resources, modules, outputs)
with the expression parser shared with Terraform, and evaluated the way ARM would before it
asks Azure anything: parameters from the environment's file (else their defaults), variables,
modules instantiated with the parameters they are passed (loops and conditions expanded), and
every resource's declared body. What only Azure knows (ids, endpoints, keys) stays an
:class:`~tests.infra.expressions.Unknown` naming where it comes from.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.infra.expressions import (
    ExpressionError,
    Lambda,
    Lexer,
    Node,
    Parser,
    Scope,
    Token,
    Traversable,
    Unknown,
    evaluate,
    partial,
    to_text,
    truthy,
)

# ------------------------------------------------------------------------------------ files


@dataclass
class Declaration:
    kind: str  # param, var, resource, module, output
    name: str
    node: Node | None  # the value, body or default
    decorators: dict[str, list[Node]] = field(default_factory=dict)
    type: str = ""  # resource type@version, module path, or the parameter/output type
    existing: bool = False


@dataclass
class BicepFile:
    path: str
    target_scope: str = "resourceGroup"
    declarations: dict[str, Declaration] = field(default_factory=dict)
    outputs: dict[str, Declaration] = field(default_factory=dict)  # a namespace of their own

    def of(self, kind: str) -> dict[str, Declaration]:
        if kind == "output":
            return dict(self.outputs)
        return {n: d for n, d in self.declarations.items() if d.kind == kind}


class FileParser(Parser):
    """Bicep statements; expressions go to the shared :class:`Parser`."""

    def __init__(self, text: str, path: str) -> None:
        super().__init__(Lexer(text, "bicep").tokens(), "bicep", text)
        self.path = path
        self.newlines_matter = [True]

    def file(self) -> BicepFile:
        parsed = BicepFile(self.path)
        decorators: dict[str, list[Node]] = {}
        while True:
            self.skip_nl()
            token = self.tokens[self.i]
            if token.kind == "end":
                return parsed
            if token.kind == "op" and token.value == "@":
                self.i += 1
                name = self.ident()
                if name == "sys":
                    self.expect(".")
                    name = self.ident()
                args, _ = self.arguments()
                decorators[name] = args
                continue
            keyword = self.ident()
            if keyword == "targetScope":
                self.expect("=")
                parsed.target_scope = str(self.literal_string())
            elif keyword in ("param", "output"):
                name = self.ident()
                type_ = self.type_()
                node = None
                if self.tokens[self.i].kind == "op" and self.tokens[self.i].value == "=":
                    self.i += 1
                    node = self.expression()
                target = parsed.outputs if keyword == "output" else parsed.declarations
                target[name] = Declaration(keyword, name, node, decorators, type_)
            elif keyword == "var":
                name = self.ident()
                self.expect("=")
                parsed.declarations[name] = Declaration("var", name, self.expression(), decorators)
            elif keyword in ("resource", "module"):
                name = self.ident()
                type_ = str(self.literal_string())
                existing = False
                if self.tokens[self.i].kind == "ident" and self.tokens[self.i].value == "existing":
                    self.i += 1
                    existing = True
                self.expect("=")
                parsed.declarations[name] = Declaration(
                    keyword, name, self.body(), decorators, type_, existing
                )
            elif keyword == "metadata":
                self.ident()
                self.expect("=")
                self.expression()
            else:
                raise ExpressionError(f"{self.path}: unsupported statement {keyword!r}")
            decorators = {}

    def literal_string(self) -> str:
        token = self.next()
        if token.kind != "str" or len(token.value) != 1 or not isinstance(token.value[0], str):
            raise ExpressionError(f"{self.path}: expected a plain string at {token.pos}")
        return str(token.value[0])

    def type_(self) -> str:
        parts = []
        while True:
            token = self.tokens[self.i]
            if token.kind == "ident" or (token.kind == "op" and token.value in ("[", "]", "?")):
                parts.append(str(token.value))
                self.i += 1
            else:
                return "".join(parts)

    def body(self) -> Node:
        """A resource or module body: an object, ``if (c) {...}`` or ``[for ...: ...]``."""
        if self.at_ident("if"):
            self.next()
            self.expect("(")
            self.newlines_matter.append(False)
            condition = self.expression()
            self.newlines_matter.pop()
            self.expect(")")
            return ("if", condition, self.expression())
        return self.expression()


@functools.lru_cache(maxsize=64)
def parse_file(text: str, path: str) -> BicepFile:
    return FileParser(text, path).file()


# ------------------------------------------------------------------------------------ values

SUFFIXES = {
    "storage": "core.windows.net",
    "keyvaultDns": ".vault.azure.net",
    "sqlServerHostname": ".database.windows.net",
    "acrLoginServer": ".azurecr.io",
}


def _unknown_if_any(function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any) -> Any:
        if any(isinstance(a, Unknown) for a in args):
            shown = ", ".join(a.text if isinstance(a, Unknown) else to_text(a) for a in args)
            return Unknown(f"{function.__name__}({shown})")
        return function(*args)

    wrapped.__name__ = function.__name__
    return wrapped


def _union(*values: Any) -> Any:
    if any(isinstance(v, Unknown) for v in values):
        return Unknown("union(...)")
    if all(isinstance(v, list) for v in values):
        return list(dict.fromkeys(x for v in values for x in v))
    out: dict[str, Any] = {}
    for value in values:
        for key, item in value.items():
            if isinstance(out.get(key), dict) and isinstance(item, dict):
                out[key] = _union(out[key], item)
            else:
                out[key] = item
    return out


def _empty(value: Any) -> Any:
    if isinstance(value, Unknown):
        return Unknown(f"empty({value.text})")
    return value is None or len(value) == 0


def _contains(container: Any, item: Any) -> Any:
    if isinstance(container, Unknown) or isinstance(item, Unknown):
        return Unknown("contains(...)")
    if isinstance(container, str):
        return str(item).lower() in container.lower()
    if isinstance(container, dict):
        return any(k.lower() == str(item).lower() for k in container)
    return item in container


def _guid(*args: Any) -> Any:
    if any(isinstance(a, Unknown) for a in args):
        return Unknown("guid(" + ", ".join(map(str, args)) + ")")
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "-".join(map(str, args))))


def _unique_string(*args: Any) -> Any:
    if any(isinstance(a, Unknown) for a in args):
        return Unknown("uniqueString(" + ", ".join(map(str, args)) + ")")
    return hashlib.sha256("-".join(map(str, args)).encode()).hexdigest()[:13]


def _resource_id(scope: str) -> Callable[..., Any]:
    def make(*args: Any) -> Any:
        type_, *names = args
        segments = type_.split("/")
        path = f"{segments[0]}/" + "/".join(
            f"{t}/{n}" for t, n in zip(segments[1:], names, strict=False)
        )
        return Unknown(f"{scope}/providers/{path}")

    return make


def _fail(message: Any) -> Any:
    raise ExpressionError(f"fail(): {message}")


def _items(value: Any) -> Any:
    if isinstance(value, Unknown):
        return Unknown(f"items({value.text})")
    return [{"key": k, "value": value[k]} for k in sorted(value, key=str.lower)]


def _call(function: Any, *args: Any) -> Any:
    if not isinstance(function, Lambda):
        raise ExpressionError("expected a lambda")
    return function(*args)


BICEP_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "bool": _unknown_if_any(lambda value: value if isinstance(value, bool) else value == "true"),
    "coalesce": lambda *values: next((v for v in values if v is not None), None),
    "concat": lambda *values: (
        [x for v in values for x in v]
        if all(isinstance(v, list) for v in values)
        else "".join(to_text(v) for v in values)
    ),
    "contains": _contains,
    "empty": _empty,
    "endsWith": _unknown_if_any(lambda text, suffix: text.lower().endswith(suffix.lower())),
    "environment": lambda: {"name": "AzureCloud", "suffixes": SUFFIXES},
    "extensionResourceId": lambda scope, type_, name: Unknown(f"{scope}/providers/{type_}/{name}"),
    "fail": _fail,
    "filter": lambda values, predicate: [v for v in values if truthy(_call(predicate, v))],
    "first": lambda values: values[0] if values else None,
    "flatten": lambda values: [x for v in values for x in v],
    "format": _unknown_if_any(lambda spec, *args: spec.format(*(to_text(a) for a in args))),
    "guid": _guid,
    "int": _unknown_if_any(int),
    "items": _items,
    "join": _unknown_if_any(lambda values, sep: sep.join(to_text(v) for v in values)),
    "last": lambda values: values[-1] if values else None,
    "length": lambda value: value if isinstance(value, Unknown) else len(value),
    "map": lambda values, function: [_call(function, v) for v in values],
    "max": lambda *values: max(values[0] if len(values) == 1 else values),
    "min": lambda *values: min(values[0] if len(values) == 1 else values),
    "range": lambda start, count: list(range(start, start + count)),
    "reduce": lambda values, initial, function: functools.reduce(
        lambda total, value: _call(function, total, value), values, initial
    ),
    "replace": _unknown_if_any(lambda text, old, new: text.replace(old, new)),
    "resourceGroup": lambda: {
        "id": Unknown("resourceGroup().id"),
        "name": Unknown("resourceGroup().name"),
        "location": Unknown("resourceGroup().location"),
    },
    "resourceId": _resource_id("resourceGroup()"),
    "skip": lambda values, count: values[count:],
    "split": _unknown_if_any(lambda text, sep: text.split(sep)),
    "startsWith": _unknown_if_any(lambda text, prefix: text.lower().startswith(prefix.lower())),
    "string": _unknown_if_any(to_text),
    "subscription": lambda: {
        "id": Unknown("subscription().id"),
        "subscriptionId": Unknown("subscription().subscriptionId"),
        "tenantId": Unknown("subscription().tenantId"),
    },
    "subscriptionResourceId": _resource_id("/subscriptions/<subscription>"),
    "take": lambda values, count: values[:count],
    "tenant": lambda: {"tenantId": Unknown("tenant().tenantId")},
    "toLower": _unknown_if_any(lambda text: text.lower()),
    "toObject": lambda values, key, value=None: {
        _call(key, v): (v if value is None else _call(value, v)) for v in values
    },
    "toUpper": _unknown_if_any(lambda text: text.upper()),
    "trim": _unknown_if_any(lambda text: text.strip()),
    "union": _union,
    "uniqueString": _unique_string,
}


@dataclass(frozen=True)
class Declared:
    """One resource instance a deployment would create."""

    module: str  # "" for main.bicep, else "network", "notificationHubs[0]"...
    file: str
    symbol: str
    type: str  # ARM type, no API version
    api_version: str
    index: int | None
    body: dict[str, Any]  # every member but dependsOn, evaluated
    references: frozenset[str]  # symbols (resources, modules) the body or dependsOn names

    @property
    def address(self) -> str:
        where = f"{self.module}/" if self.module else ""
        index = "" if self.index is None else f"[{self.index}]"
        return f"{where}{self.symbol}{index}"


def symbols_in(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, tuple) and node:
        if node[0] == "var":
            found.add(node[1])
        for part in node[1:]:
            found |= symbols_in(part)
    elif isinstance(node, list):
        for part in node:
            found |= symbols_in(part)
    return found


class Resource(Traversable):
    def __init__(
        self,
        deployment: Deployment,
        declaration: Declaration,
        body: Node,
        scope: Scope,
        index: int | None,
    ) -> None:
        self.deployment = deployment
        self.declaration = declaration
        self.body = body  # an object node
        self.scope = scope
        self.index = index
        self.members = (
            {str(key[1]): value for key, value in body[1] if key[0] == "lit"}
            if body[0] == "object"
            else {}
        )
        self._cache: dict[str, Any] = {}

    @property
    def origin(self) -> str:
        """``<module path>/<symbol>[<index>]``: how Unknown texts name this resource."""
        index = "" if self.index is None else f"[{self.index}]"
        where = f"{self.deployment.where}/" if self.deployment.where else ""
        return f"{where}{self.declaration.name}{index}"

    @property
    def type(self) -> str:
        return self.declaration.type.split("@")[0]

    def member(self, name: str) -> Any:
        if name not in self._cache:
            if name not in self.members:
                self._cache[name] = Unknown(f"{self.origin}.{name}")
            else:
                self._cache[name] = partial(
                    evaluate(self.members[name], self.scope), f"{self.origin}.{name}"
                )
        return self._cache[name]

    def attribute(self, name: str) -> Any:
        if name == "name":
            return self.member("name")
        if name == "type":
            return self.declaration.type.split("@")[0]
        if name == "apiVersion":
            return self.declaration.type.split("@")[1]
        if self.declaration.existing or name == "id":
            return Unknown(f"{self.origin}.{name}")
        return self.member(name)

    def method(self, name: str, args: list[Any]) -> Any:
        return Unknown(f"{self.origin}.{name}()")

    def evaluated(self) -> dict[str, Any]:
        return {name: self.member(name) for name in self.members if name != "dependsOn"}

    def __repr__(self) -> str:
        return f"<resource {self.origin}>"


class Module(Traversable):
    def __init__(
        self,
        parent: Deployment,
        declaration: Declaration,
        body: Node,
        scope: Scope,
        index: int | None,
    ) -> None:
        self.parent = parent
        self.declaration = declaration
        self.body = body
        self.scope = scope
        self.index = index
        members = {str(key[1]): value for key, value in body[1] if key[0] == "lit"}
        self.members = members
        params = {
            str(key[1]): value
            for key, value in (members.get("params") or ("object", []))[1]
            if key[0] == "lit"
        }
        path = (Path(parent.file.path).parent / declaration.type).as_posix()
        where = f"{parent.where}." if parent.where else ""
        index_text = "" if index is None else f"[{index}]"
        self.deployment = Deployment(
            parent.loader,
            path,
            {name: (lambda n=node: evaluate(n, scope)) for name, node in params.items()},
            where=f"{where}{declaration.name}{index_text}",
        )

    def attribute(self, name: str) -> Any:
        if name == "outputs":
            return OutputMap(self.deployment)
        if name == "name":
            return evaluate(self.members["name"], self.scope)
        raise ExpressionError(f"module {self.declaration.name} has no {name}")

    def __repr__(self) -> str:
        return f"<module {self.deployment.where}>"


class OutputMap(Traversable):
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    def attribute(self, name: str) -> Any:
        return self.deployment.output(name)


class Deployment:
    """One instance of a Bicep file with its parameter values (thunks, evaluated on use)."""

    def __init__(
        self,
        loader: Callable[[str], BicepFile],
        path: str,
        params: Mapping[str, Callable[[], Any]],
        where: str = "",
    ) -> None:
        self.loader = loader
        self.file = loader(path)
        self.where = where
        self.param_thunks = dict(params)
        unknown = set(params) - set(self.file.of("param"))
        if unknown:
            raise ExpressionError(f"{path} has no parameters {sorted(unknown)}")
        self.scope = Scope(self.resolve, BICEP_FUNCTIONS, "bicep")
        self._values: dict[str, Any] = {}
        self._evaluating: set[str] = set()

    def resolve(self, name: str) -> Any:
        if name not in self._values:
            if name in self._evaluating:
                raise ExpressionError(f"{self.file.path}: {name} refers to itself")
            self._evaluating.add(name)
            try:
                self._values[name] = self._resolve(name)
            finally:
                self._evaluating.discard(name)
        return self._values[name]

    def _resolve(self, name: str) -> Any:
        declaration = self.file.declarations.get(name)
        if declaration is None:
            raise ExpressionError(f"{self.file.path}: unknown name {name!r}")
        if declaration.kind == "param":
            if name in self.param_thunks:
                return self.param_thunks[name]()
            if declaration.node is None:
                raise ExpressionError(f"{self.file.path}: parameter {name} has no value")
            return evaluate(declaration.node, self.scope)
        if declaration.kind == "var":
            return evaluate(declaration.node, self.scope)  # type: ignore[arg-type]
        if declaration.kind in ("resource", "module"):
            instances = self.instances(declaration)
            if declaration.node is not None and declaration.node[0] == "for_tuple":
                return instances
            return instances[0] if instances else None
        raise ExpressionError(f"{self.file.path}: {name} is an output")

    def instances(self, declaration: Declaration) -> list[Any]:
        node = declaration.node
        assert node is not None
        make = Resource if declaration.kind == "resource" else Module
        if node[0] == "if":
            if not truthy(evaluate(node[1], self.scope)):
                return []
            return [make(self, declaration, node[2], self.scope, None)]
        if node[0] == "for_tuple":
            _, names, collection_node, body, condition, _ = node
            collection = evaluate(collection_node, self.scope)
            out = []
            for index, item in enumerate(collection):
                inner = self.scope.child(
                    {names[0]: item, **({names[1]: index} if len(names) > 1 else {})}
                )
                if condition is not None and not truthy(evaluate(condition, inner)):
                    continue
                out.append(make(self, declaration, body, inner, index))
            return out
        return [make(self, declaration, node, self.scope, None)]

    def output(self, name: str) -> Any:
        declaration = self.file.of("output").get(name)
        if declaration is None:
            raise ExpressionError(f"{self.file.path} has no output {name}")
        return evaluate(declaration.node, self.scope)  # type: ignore[arg-type]

    def outputs(self) -> dict[str, Any]:
        return {name: self.output(name) for name in self.file.of("output")}

    def declared(self) -> Iterator[Declared]:
        """Every resource this deployment and its modules create, bodies evaluated."""
        symbols = {n for n, d in self.file.declarations.items() if d.kind in ("resource", "module")}
        for declaration in self.file.declarations.values():
            if declaration.kind not in ("resource", "module"):
                continue
            value = self.resolve(declaration.name)
            instances = value if isinstance(value, list) else [] if value is None else [value]
            for instance in instances:
                if isinstance(instance, Module):
                    yield from instance.deployment.declared()
                elif not declaration.existing:
                    type_, _, version = declaration.type.partition("@")
                    yield Declared(
                        self.where,
                        self.file.path,
                        declaration.name,
                        type_,
                        version,
                        instance.index,
                        instance.evaluated(),
                        frozenset(symbols_in(instance.body) & symbols),
                    )

    def registry(self) -> dict[str, Resource]:
        """Every resource instance, declared or ``existing``, of this deployment and its
        modules, by :attr:`Resource.origin`."""
        found: dict[str, Resource] = {}
        for declaration in self.file.declarations.values():
            if declaration.kind not in ("resource", "module"):
                continue
            value = self.resolve(declaration.name)
            for instance in value if isinstance(value, list) else [] if value is None else [value]:
                if isinstance(instance, Module):
                    found.update(instance.deployment.registry())
                else:
                    found[instance.origin] = instance
        return found

    def module_references(self) -> dict[str, frozenset[str]]:
        """Symbol -> the resources and modules its body names (implicit and dependsOn)."""
        symbols = {n for n, d in self.file.declarations.items() if d.kind in ("resource", "module")}
        return {
            name: frozenset(symbols_in(d.node) & symbols - {name})
            for name, d in self.file.declarations.items()
            if d.kind in ("resource", "module")
        }


def deployment(root: Path, parameters: Mapping[str, Any], main: str = "main.bicep") -> Deployment:
    """``main`` under ``root`` with a parameters file's ``parameters`` (``{"name": {"value":
    ...}}``)."""

    def loader(path: str) -> BicepFile:
        return parse_file((root / path).read_text(), path)

    return Deployment(
        loader, main, {name: (lambda v=entry["value"]: v) for name, entry in parameters.items()}
    )


__all__ = ["Declared", "Deployment", "Token", "deployment", "parse_file"]
