"""Expressions of Terraform (HCL) and Bicep, parsed and evaluated, so the tests read what the IaC
declares rather than a list beside it.

Both languages share most of their expression syntax (literals, templates, traversals, calls,
operators, conditionals, for-expressions); :func:`parse` takes the dialect. Evaluation needs a
:class:`Scope` that resolves root names (``var``, ``local``, a resource, a Bicep parameter...)
and a table of functions. A value Azure only knows after deployment (an id, an endpoint, a key)
is an :class:`Unknown` carrying the expression that would produce it, so a test can still see
*what* a setting points at.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class ExpressionError(Exception):
    """The IaC uses syntax or a function these tests do not know: teach them, do not skip."""


@dataclass(frozen=True)
class Unknown:
    """A value known only after deployment; ``text`` is how the IaC computes it."""

    text: str

    def __str__(self) -> str:
        # A template's text already marks its unknown parts.
        return self.text if "${" in self.text else "${" + self.text + "}"


class TfSet(list[Any]):
    """A Terraform set (sorted, without duplicates): for_each over it keys by the value."""


class Partial(dict[str, Any]):
    """What the IaC declares of a resource's body: a key it does not declare is computed by
    Azure (an id, an endpoint), so reading it gives an Unknown rather than an error."""

    def __init__(self, values: dict[str, Any], origin: str) -> None:
        super().__init__(values)
        self.origin = origin


def partial(value: Any, origin: str) -> Any:
    """``value`` with every dict in it a :class:`Partial` rooted at ``origin``."""
    if isinstance(value, dict) and not isinstance(value, Partial):
        return Partial({k: partial(v, f"{origin}.{k}") for k, v in value.items()}, origin)
    if isinstance(value, list) and not isinstance(value, TfSet):
        return [partial(v, f"{origin}[{i}]") for i, v in enumerate(value)]
    return value


# ------------------------------------------------------------------------------------ tokens


@dataclass(frozen=True)
class Token:
    kind: str  # num, str (a template: list of parts), ident, op, nl, end
    value: Any
    pos: int


OPERATORS = (
    "...",
    "=>",
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "??",
    "?.",
    "=~",
    "!~",
    "?",
    ":",
    ".",
    ",",
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    "=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "<",
    ">",
    "!",
    "@",
)


class Lexer:
    """Tokens of one source text. HCL strings are double-quoted, Bicep's single-quoted; both
    interpolate ``${...}``. Bicep keeps newlines as tokens (they separate members)."""

    def __init__(self, text: str, dialect: str) -> None:
        self.text = text
        self.dialect = dialect
        self.quote = '"' if dialect == "hcl" else "'"

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        i, text = 0, self.text
        while i < len(text):
            c = text[i]
            if c == "\n":
                if self.dialect == "bicep":
                    out.append(Token("nl", None, i))
                i += 1
            elif c in " \t\r":
                i += 1
            elif text.startswith("//", i) or (c == "#" and self.dialect == "hcl"):
                while i < len(text) and text[i] != "\n":
                    i += 1
            elif text.startswith("/*", i):
                end = text.find("*/", i + 2)
                if end < 0:
                    raise ExpressionError(f"unterminated comment at {i}")
                i = end + 2
            elif c.isdigit():
                match = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?").match(text, i)
                assert match
                raw = match.group(0)
                value: int | float = float(raw) if ("." in raw or "e" in raw.lower()) else int(raw)
                out.append(Token("num", value, i))
                i = match.end()
            elif self.dialect == "bicep" and text.startswith("'''", i):
                end = text.find("'''", i + 3)
                if end < 0:
                    raise ExpressionError(f"unterminated ''' string at {i}")
                raw = text[i + 3 : end]
                out.append(Token("str", [raw.removeprefix("\n")], i))
                i = end + 3
            elif c == self.quote:
                parts, i = self.template(i + 1)
                out.append(Token("str", parts, i))
            elif c.isalpha() or c == "_":
                match = re.compile(
                    r"[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*"
                    if self.dialect == "hcl"
                    else r"[A-Za-z_][A-Za-z0-9_]*"
                ).match(text, i)
                assert match
                out.append(Token("ident", match.group(0), i))
                i = match.end()
            else:
                for op in OPERATORS:
                    if text.startswith(op, i):
                        out.append(Token("op", op, i))
                        i += len(op)
                        break
                else:
                    raise ExpressionError(f"unexpected {c!r} at {i} in {text[:200]!r}")
        out.append(Token("end", None, len(text)))
        return out

    def template(self, i: int) -> tuple[list[Any], int]:
        """Parts of a quoted string starting after its quote: strings and expression nodes."""
        parts: list[Any] = []
        literal: list[str] = []
        text = self.text
        escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "$": "$"}
        while True:
            if i >= len(text):
                raise ExpressionError("unterminated string")
            c = text[i]
            if c == self.quote:
                break
            if c == "\\":
                nxt = text[i + 1]
                if nxt == "u" and self.dialect == "hcl":
                    literal.append(chr(int(text[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                if nxt not in escapes:
                    raise ExpressionError(f"unknown escape \\{nxt}")
                literal.append(escapes[nxt])
                i += 2
            elif text.startswith("$${", i) and self.dialect == "hcl":
                literal.append("${")
                i += 3
            elif text.startswith("%{", i) and self.dialect == "hcl":
                raise ExpressionError("template directives (%{...}) are not supported")
            elif text.startswith("${", i):
                end = self.interpolation_end(i + 2)
                if literal:
                    parts.append("".join(literal))
                    literal = []
                parts.append(parse(text[i + 2 : end], self.dialect))
                i = end + 1
            else:
                literal.append(c)
                i += 1
        if literal or not parts:
            parts.append("".join(literal))
        return parts, i + 1

    def interpolation_end(self, i: int) -> int:
        """Index of the ``}`` closing an interpolation whose body starts at ``i``."""
        depth, text = 0, self.text
        while i < len(text):
            c = text[i]
            if c == self.quote:
                _, i = self.template(i + 1)
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                if depth == 0:
                    return i
                depth -= 1
            i += 1
        raise ExpressionError("unterminated interpolation")


# ------------------------------------------------------------------------------------ parser

# Nodes are tuples: (kind, ...). See Parser for the kinds.
Node = tuple[Any, ...]

BINARY = [
    ("??",),
    ("||",),
    ("&&",),
    ("==", "!=", "=~", "!~"),
    ("<", ">", "<=", ">="),
    ("+", "-"),
    ("*", "/", "%"),
]


class Parser:
    def __init__(self, tokens: list[Token], dialect: str, source: str) -> None:
        self.tokens = tokens
        self.i = 0
        self.dialect = dialect
        self.source = source
        self.newlines_matter = [False]  # Bicep: inside [] and {} newlines separate members

    # -- token helpers
    def peek(self, skip_nl: bool = True) -> Token:
        j = self.i
        while skip_nl and self.tokens[j].kind == "nl" and not self.newlines_matter[-1]:
            j += 1
        return self.tokens[j]

    def skip_nl(self) -> None:
        while self.tokens[self.i].kind == "nl":
            self.i += 1

    def next(self) -> Token:
        if not self.newlines_matter[-1]:
            self.skip_nl()
        token = self.tokens[self.i]
        self.i += 1
        return token

    def at(self, value: str) -> bool:
        token = self.peek()
        return token.kind == "op" and token.value == value

    def at_ident(self, value: str) -> bool:
        token = self.peek()
        return token.kind == "ident" and token.value == value

    def expect(self, value: str) -> Token:
        token = self.next()
        if token.kind != "op" or token.value != value:
            raise ExpressionError(
                f"expected {value!r} at {token.pos}, got {token.value!r} in {self.source[:300]!r}"
            )
        return token

    def ident(self) -> str:
        token = self.next()
        if token.kind != "ident":
            raise ExpressionError(f"expected a name at {token.pos}, got {token.value!r}")
        return str(token.value)

    # -- grammar
    def expression(self) -> Node:
        if self.dialect == "bicep" and self.peek().kind == "ident" and self._lambda_ahead():
            return self.lambda_()
        condition = self.binary(0)
        if self.at("?"):
            self.next()
            self.skip_nl()
            yes = self.expression()
            self.skip_nl()
            self.expect(":")
            self.skip_nl()
            no = self.expression()
            return ("cond", condition, yes, no)
        return condition

    def _lambda_ahead(self) -> bool:
        j = self.i
        while self.tokens[j].kind == "nl":
            j += 1
        nxt = self.tokens[j + 1]
        return nxt.kind == "op" and nxt.value == "=>"

    def lambda_(self) -> Node:
        name = self.ident()
        self.expect("=>")
        return ("lambda", [name], self.expression())

    def binary(self, level: int) -> Node:
        if level == len(BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek().kind == "op" and self.peek().value in BINARY[level]:
            op = self.next().value
            self.skip_nl()
            right = self.binary(level + 1)
            left = ("bin", op, left, right)
        return left

    def unary(self) -> Node:
        if self.at("!") or self.at("-"):
            op = self.next().value
            return ("unary", op, self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            token = self.tokens[self.i]  # no newline skipping: a newline ends a traversal
            if token.kind != "op":
                return node
            if token.value in (".", "?."):
                self.i += 1
                if self.tokens[self.i].kind == "op" and self.tokens[self.i].value == "*":
                    self.i += 1
                    node = ("splat", node)
                    continue
                name = self.next()
                if name.kind == "num":
                    node = ("index", node, ("lit", name.value), token.value == "?.")
                else:
                    node = ("attr", node, str(name.value), token.value == "?.")
                after = self.tokens[self.i]
                if self.dialect == "bicep" and after.kind == "op" and after.value == "(":
                    args, _ = self.arguments()  # a method: resource.listKeys()
                    node = ("method", node, args)
            elif token.value == "[":
                self.i += 1
                safe = False
                if self.tokens[self.i].kind == "op" and self.tokens[self.i].value == "?":
                    self.i += 1
                    safe = True
                if self.at("*"):
                    self.next()
                    self.expect("]")
                    node = ("splat", node)
                    continue
                self.newlines_matter.append(False)
                key = self.expression()
                self.newlines_matter.pop()
                self.expect("]")
                node = ("index", node, key, safe)
            elif token.value == "!" and self.dialect == "bicep":
                self.i += 1  # non-null assertion
            else:
                return node

    def arguments(self) -> tuple[list[Node], bool]:
        self.expect("(")
        self.newlines_matter.append(False)
        args: list[Node] = []
        expand = False
        while not self.at(")"):
            args.append(self.expression())
            if self.at("..."):
                self.next()
                expand = True
            if not self.at(")"):
                self.expect(",")
        self.expect(")")
        self.newlines_matter.pop()
        return args, expand

    def primary(self) -> Node:
        token = self.next()
        if token.kind == "num":
            return ("lit", token.value)
        if token.kind == "str":
            parts = token.value
            if len(parts) == 1 and isinstance(parts[0], str):
                return ("lit", parts[0])
            return ("tmpl", parts)
        if token.kind == "ident":
            name = token.value
            if name in ("true", "false"):
                return ("lit", name == "true")
            if name == "null":
                return ("lit", None)
            if self.tokens[self.i].kind == "op" and self.tokens[self.i].value == "(":
                args, expand = self.arguments()
                return ("call", name, args, expand)
            if (
                self.dialect == "bicep"
                and self.tokens[self.i].kind == "op"
                and self.tokens[self.i].value == "."
                and name in ("az", "sys")
            ):
                self.i += 1
                function = self.ident()
                args, expand = self.arguments()
                return ("call", function, args, expand)
            return ("var", name)
        if token.kind == "op":
            if token.value == "(":
                self.newlines_matter.append(False)
                if self.dialect == "bicep" and self._paren_lambda_ahead():
                    names = []
                    while not self.at(")"):
                        names.append(self.ident())
                        if self.at(","):
                            self.next()
                    self.expect(")")
                    self.expect("=>")
                    node: Node = ("lambda", names, self.expression())
                    self.newlines_matter.pop()
                    return node
                inner = self.expression()
                self.expect(")")
                self.newlines_matter.pop()
                return ("paren", inner)
            if token.value == "[":
                return self.tuple_()
            if token.value == "{":
                return self.object_()
        raise ExpressionError(f"unexpected {token.value!r} at {token.pos} in {self.source[:300]!r}")

    def _paren_lambda_ahead(self) -> bool:
        j = self.i
        depth = 1
        while depth:
            token = self.tokens[j]
            if token.kind == "end":
                return False
            if token.kind == "op" and token.value == "(":
                depth += 1
            elif token.kind == "op" and token.value == ")":
                depth -= 1
            j += 1
        return self.tokens[j].kind == "op" and self.tokens[j].value == "=>"

    def separators(self) -> None:
        while True:
            token = self.tokens[self.i]
            if token.kind == "nl" or (token.kind == "op" and token.value == ","):
                self.i += 1
            else:
                return

    def tuple_(self) -> Node:
        self.newlines_matter.append(self.dialect == "bicep")
        self.separators()
        if self.at_ident("for"):
            node = self.for_(tuple_=True)
            self.separators()
            self.expect("]")
            self.newlines_matter.pop()
            return node
        items: list[Node] = []
        while not self.at("]"):
            items.append(self.expression())
            self.separators()
        self.expect("]")
        self.newlines_matter.pop()
        return ("tuple", items)

    def object_(self) -> Node:
        self.newlines_matter.append(self.dialect == "bicep")
        self.separators()
        if self.dialect == "hcl" and self.at_ident("for"):
            node = self.for_(tuple_=False)
            self.separators()
            self.expect("}")
            self.newlines_matter.pop()
            return node
        members: list[tuple[Node, Node]] = []
        while not self.at("}"):
            key_token = self.peek()
            if key_token.kind == "ident":
                self.next()
                key: Node = ("lit", key_token.value)
            elif key_token.kind == "op" and key_token.value == "(":
                key = self.primary()
            else:
                key = self.primary()
            if self.at("=") or self.at(":"):
                self.next()
            else:
                raise ExpressionError(f"expected = or : after an object key at {key_token.pos}")
            members.append((key, self.expression()))
            self.separators()
        self.expect("}")
        self.newlines_matter.pop()
        return ("object", members)

    def for_(self, tuple_: bool) -> Node:
        self.next()  # for
        names: list[str] = []
        if self.dialect == "bicep" and self.at("("):
            self.next()
            while not self.at(")"):
                names.append(self.ident())
                if self.at(","):
                    self.next()
            self.next()
        else:
            names.append(self.ident())
            if self.at(","):
                self.next()
                names.append(self.ident())
        if not self.at_ident("in"):
            raise ExpressionError("expected `in` in a for expression")
        self.next()
        self.newlines_matter.append(False)
        collection = self.expression()
        self.newlines_matter.pop()
        self.expect(":")
        if self.dialect == "bicep":
            # [for x in xs: body] where body may be `if (cond) {...}`; names are (item, index).
            condition: Node | None = None
            if self.at_ident("if"):
                self.next()
                self.expect("(")
                condition = self.expression()
                self.expect(")")
            body = self.expression()
            return ("for_tuple", names, collection, body, condition, "bicep")
        if tuple_:
            body = self.expression()
            condition = self._for_if()
            return ("for_tuple", names, collection, body, condition, "hcl")
        key = self.expression()
        self.expect("=>")
        value = self.expression()
        grouping = False
        if self.at("..."):
            self.next()
            grouping = True
        condition = self._for_if()
        return ("for_object", names, collection, key, value, condition, grouping)

    def _for_if(self) -> Node | None:
        if self.at_ident("if"):
            self.next()
            return self.expression()
        return None


def parse(text: str, dialect: str) -> Node:
    """One expression of ``dialect`` ("hcl" or "bicep")."""
    parser = Parser(Lexer(text, dialect).tokens(), dialect, text)
    node = parser.expression()
    parser.skip_nl()
    if parser.peek().kind != "end":
        token = parser.peek()
        raise ExpressionError(f"unexpected {token.value!r} at {token.pos} in {text[:300]!r}")
    return node


# ------------------------------------------------------------------------------------ values


def unparse(node: Node) -> str:
    """Readable source of a node, for Unknown texts."""
    kind = node[0]
    if kind == "lit":
        return json.dumps(node[1])
    if kind == "var":
        return str(node[1])
    if kind == "attr":
        return f"{unparse(node[1])}.{node[2]}"
    if kind == "index":
        return f"{unparse(node[1])}[{unparse(node[2])}]"
    if kind == "call":
        return f"{node[1]}({', '.join(unparse(a) for a in node[2])})"
    if kind == "method":
        return f"{unparse(node[1])}({', '.join(unparse(a) for a in node[2])})"
    if kind == "bin":
        return f"{unparse(node[2])} {node[1]} {unparse(node[3])}"
    if kind == "paren":
        return f"({unparse(node[1])})"
    if kind == "tmpl":
        return "".join(p if isinstance(p, str) else "${" + unparse(p) + "}" for p in node[1])
    return kind


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


def contains_unknown(value: Any) -> bool:
    if isinstance(value, Unknown):
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False


def to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return ""
    if isinstance(value, int | float | str):
        return str(value)
    if isinstance(value, Unknown):
        return str(value)
    raise ExpressionError(f"cannot interpolate {value!r}")


class Scope:
    """Root names of an evaluation. ``names`` is consulted first (loop variables), then
    ``resolve`` (the file's variables, resources...)."""

    def __init__(
        self,
        resolve: Callable[[str], Any],
        functions: Mapping[str, Callable[..., Any]],
        dialect: str,
        names: Mapping[str, Any] | None = None,
    ) -> None:
        self.resolve = resolve
        self.functions = functions
        self.dialect = dialect
        self.names = dict(names or {})

    def child(self, names: Mapping[str, Any]) -> Scope:
        return Scope(self.resolve, self.functions, self.dialect, {**self.names, **names})

    def lookup(self, name: str) -> Any:
        if name in self.names:
            return self.names[name]
        return self.resolve(name)


class Traversable:
    """A value whose attributes are computed on demand (a resource, a module, a lazy map)."""

    def attribute(self, name: str) -> Any:
        raise NotImplementedError

    def method(self, name: str, args: list[Any]) -> Any:
        raise ExpressionError(f"{self!r} has no method {name}")


@dataclass
class Lambda:
    names: list[str]
    body: Node
    scope: Scope

    def __call__(self, *args: Any) -> Any:
        return evaluate(self.body, self.scope.child(dict(zip(self.names, args, strict=False))))


def get_attribute(value: Any, name: str, safe: bool = False) -> Any:
    if isinstance(value, Unknown):
        return Unknown(f"{value.text}.{name}")
    if isinstance(value, Traversable):
        return value.attribute(name)
    if isinstance(value, dict):
        if name in value:
            return value[name]
        if isinstance(value, Partial):
            return Unknown(f"{value.origin}.{name}")
        if safe:
            return None
        raise ExpressionError(f"no attribute {name!r} in {sorted(value)}")
    if value is None and safe:
        return None
    raise ExpressionError(f"cannot read .{name} of {value!r}")


def get_index(value: Any, key: Any, safe: bool = False) -> Any:
    if isinstance(value, Unknown):
        return Unknown(f"{value.text}[{to_text(key) if not isinstance(key, Unknown) else key}]")
    if isinstance(key, Unknown):
        return Unknown(f"{value!r}[{key.text}]")
    if isinstance(value, Traversable):
        return value.attribute(str(key))
    if isinstance(value, dict):
        if key in value:
            return value[key]
        if safe:
            return None
        raise ExpressionError(f"no key {key!r} in {sorted(value)}")
    if isinstance(value, list):
        if isinstance(key, float):
            key = int(key)
        if isinstance(key, int) and -len(value) <= key < len(value):
            return value[key]
        if safe:
            return None
        raise ExpressionError(f"index {key!r} out of {len(value)}")
    if value is None and safe:
        return None
    raise ExpressionError(f"cannot index {value!r}")


def truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ExpressionError(f"a condition must be a bool, not {value!r}")


def binary(op: str, left: Any, right: Any) -> Any:
    if op in ("==", "!="):
        if isinstance(left, Unknown) or isinstance(right, Unknown):
            return Unknown(f"{left} {op} {right}")
        same = type(left) is type(right) or (
            isinstance(left, int | float)
            and isinstance(right, int | float)
            and not isinstance(left, bool)
            and not isinstance(right, bool)
        )
        equal = same and left == right
        return equal if op == "==" else not equal
    if isinstance(left, Unknown) or isinstance(right, Unknown):
        return Unknown(f"{left} {op} {right}")
    if op == "&&":
        return truthy(left) and truthy(right)
    if op == "||":
        return truthy(left) or truthy(right)
    if op == "=~":
        return str(left).lower() == str(right).lower()
    if op == "!~":
        return str(left).lower() != str(right).lower()
    if op == "+":
        if isinstance(left, str) or isinstance(right, str):
            raise ExpressionError("+ on strings: use interpolation")
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        result = left / right
        return int(result) if result == int(result) else result
    if op == "%":
        return left % right
    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }
    if op in comparisons:
        return comparisons[op](left, right)
    raise ExpressionError(f"unknown operator {op}")


def iterate(collection: Any, dialect: str) -> Iterator[tuple[Any, Any]]:
    """(key, value) pairs: indexes of a list, keys of a map (HCL sorts them)."""
    if isinstance(collection, TfSet):
        for item in collection:
            yield item, item
    elif isinstance(collection, list):
        yield from enumerate(collection)
    elif isinstance(collection, dict):
        for key in sorted(collection) if dialect == "hcl" else collection:
            yield key, collection[key]
    else:
        raise ExpressionError(f"cannot iterate over {collection!r}")


def evaluate(node: Node, scope: Scope) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "paren":
        return evaluate(node[1], scope)
    if kind == "tmpl":
        values = [p if isinstance(p, str) else evaluate(p, scope) for p in node[1]]
        if any(isinstance(v, Unknown) for v in values):
            return Unknown("".join(v if isinstance(v, str) else to_text(v) for v in values))
        return "".join(to_text(v) for v in values)
    if kind == "var":
        return scope.lookup(node[1])
    if kind == "attr":
        return get_attribute(evaluate(node[1], scope), node[2], node[3])
    if kind == "index":
        return get_index(evaluate(node[1], scope), evaluate(node[2], scope), node[3])
    if kind == "splat":
        value = evaluate(node[1], scope)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]
    if kind == "call":
        return call(node, scope)
    if kind == "method":
        target = node[1]
        receiver = evaluate(target[1], scope)
        args = [evaluate(a, scope) for a in node[2]]
        if isinstance(receiver, Traversable):
            return receiver.method(target[2], args)
        return Unknown(unparse(node))
    if kind == "unary":
        value = evaluate(node[2], scope)
        if isinstance(value, Unknown):
            return Unknown(f"{node[1]}{value.text}")
        return (not truthy(value)) if node[1] == "!" else -value
    if kind == "bin":
        op = node[1]
        left = evaluate(node[2], scope)
        if op == "??":
            return left if left is not None else evaluate(node[3], scope)
        if op == "&&" and left is False:
            return False
        if op == "||" and left is True:
            return True
        return binary(op, left, evaluate(node[3], scope))
    if kind == "cond":
        condition = evaluate(node[1], scope)
        if isinstance(condition, Unknown):
            return Unknown(unparse(node))
        return evaluate(node[2] if truthy(condition) else node[3], scope)
    if kind == "tuple":
        return [evaluate(item, scope) for item in node[1]]
    if kind == "object":
        result: dict[str, Any] = {}
        for key_node, value_node in node[1]:
            key = evaluate(key_node, scope)  # an unknown key keeps its text (an identity id)
            result[to_text(key)] = evaluate(value_node, scope)
        return result
    if kind == "for_tuple":
        return for_tuple(node, scope)
    if kind == "for_object":
        return for_object(node, scope)
    if kind == "lambda":
        return Lambda(node[1], node[2], scope)
    raise ExpressionError(f"unknown node {kind}")


def loop_names(names: list[str], key: Any, value: Any, dialect: str) -> dict[str, Any]:
    if dialect == "bicep":  # (item, index)
        bound = {names[0]: value}
        if len(names) > 1:
            bound[names[1]] = key
        return bound
    if len(names) == 1:
        return {names[0]: value}
    return {names[0]: key, names[1]: value}


def for_tuple(node: Node, scope: Scope) -> list[Any]:
    _, names, collection_node, body, condition, dialect = node
    collection = evaluate(collection_node, scope)
    if isinstance(collection, Unknown):
        raise ExpressionError(f"for over a value known only after deployment: {collection}")
    out = []
    for key, value in iterate(collection, scope.dialect):
        inner = scope.child(loop_names(names, key, value, dialect))
        if condition is not None and not truthy(evaluate(condition, inner)):
            continue
        out.append(evaluate(body, inner))
    return out


def for_object(node: Node, scope: Scope) -> dict[str, Any]:
    _, names, collection_node, key_node, value_node, condition, grouping = node
    collection = evaluate(collection_node, scope)
    if isinstance(collection, Unknown):
        raise ExpressionError(f"for over a value known only after deployment: {collection}")
    out: dict[str, Any] = {}
    for key, value in iterate(collection, scope.dialect):
        inner = scope.child(loop_names(names, key, value, "hcl"))
        if condition is not None and not truthy(evaluate(condition, inner)):
            continue
        new_key = to_text(evaluate(key_node, inner))
        new_value = evaluate(value_node, inner)
        if grouping:
            out.setdefault(new_key, []).append(new_value)
        elif new_key in out:
            raise ExpressionError(f"duplicate key {new_key!r} in a for expression")
        else:
            out[new_key] = new_value
    return out


SPECIAL_FORMS = {"can", "try"}


def call(node: Node, scope: Scope) -> Any:
    _, name, arg_nodes, expand = node
    if name == "can":
        try:
            value = evaluate(arg_nodes[0], scope)
        except (ExpressionError, ValueError, re.error):
            return False
        return True if not isinstance(value, Unknown) else Unknown(unparse(node))
    if name == "try":
        for arg in arg_nodes:
            try:
                return evaluate(arg, scope)
            except (ExpressionError, ValueError):
                continue
        raise ExpressionError("try(): every argument failed")
    args = [evaluate(a, scope) for a in arg_nodes]
    if expand:
        last = args.pop()
        args.extend(last if isinstance(last, list) else list(last.values()))
    function = scope.functions.get(name)
    if function is None:
        raise ExpressionError(f"function {name}() is not known to tests/infra: add it")
    return function(*args)


# ------------------------------------------------------------------------------------ functions


def _unknown_if_any(function: Callable[..., Any]) -> Callable[..., Any]:
    """A function whose result is unknown when any argument is."""

    def wrapped(*args: Any) -> Any:
        if any(isinstance(a, Unknown) for a in args):
            return Unknown(f"{function.__name__}({', '.join(map(str, args))})")
        return function(*args)

    wrapped.__name__ = function.__name__
    return wrapped


def _merge(*maps: Any) -> Any:
    if any(isinstance(m, Unknown) for m in maps):
        return Unknown("merge(...)")
    out: dict[str, Any] = {}
    for m in maps:
        if m is not None:
            out.update(m)
    return out


def _cidrhost(prefix: str, number: int) -> str:
    import ipaddress

    network = ipaddress.ip_network(prefix, strict=False)
    return str(network[number])


def _cidrsubnet(prefix: str, newbits: int, netnum: int) -> str:
    import ipaddress

    network = ipaddress.ip_network(prefix, strict=False)
    return str(list(network.subnets(prefixlen_diff=newbits))[netnum])


def _tostring(value: Any) -> Any:
    return value if isinstance(value, Unknown) else to_text(value)


def _regex(pattern: str, text: str) -> Any:
    match = re.search(pattern, text)
    if match is None:
        raise ExpressionError(f"regex {pattern!r} does not match {text!r}")
    if match.groupdict():
        return match.groupdict()
    if match.groups():
        return list(match.groups())
    return match.group(0)


def _replace(text: str, old: str, new: str) -> str:
    if len(old) > 1 and old.startswith("/") and old.endswith("/"):
        return re.sub(old[1:-1], new.replace("$", "\\"), text)
    return text.replace(old, new)


def _format(spec: str, *args: Any) -> str:
    values = iter(args)
    return re.sub(r"%[sd]", lambda _: to_text(next(values)), spec.replace("%%", "\x00")).replace(
        "\x00", "%"
    )


def _toset(values: Sequence[Any]) -> TfSet:
    return TfSet(sorted(set(values), key=to_text))


HCL_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": _unknown_if_any(abs),
    "alltrue": lambda values: all(truthy(v) for v in values),
    "anytrue": lambda values: any(truthy(v) for v in values),
    "ceil": _unknown_if_any(math.ceil),
    "cidrhost": _unknown_if_any(_cidrhost),
    "cidrsubnet": _unknown_if_any(_cidrsubnet),
    "coalesce": lambda *values: next(v for v in values if v not in (None, "")),
    "compact": lambda values: [v for v in values if v not in (None, "")],
    "concat": lambda *lists: [item for values in lists for item in values],
    "contains": lambda values, value: value in values,
    "distinct": lambda values: list(dict.fromkeys(values)),
    "endswith": _unknown_if_any(lambda text, suffix: text.endswith(suffix)),
    "flatten": lambda values: [x for v in values for x in (v if isinstance(v, list) else [v])],
    "floor": _unknown_if_any(math.floor),
    "format": _unknown_if_any(_format),
    "join": _unknown_if_any(lambda sep, values: sep.join(to_text(v) for v in values)),
    "jsonencode": lambda value: json.dumps(value, separators=(",", ":")),
    "keys": lambda value: sorted(value) if isinstance(value, dict) else Unknown("keys(...)"),
    "length": lambda value: len(value) if not isinstance(value, Unknown) else value,
    "lookup": lambda values, key, *default: values.get(key, *default) if default else values[key],
    "lower": _unknown_if_any(lambda text: text.lower()),
    "max": lambda *values: max(values),
    "merge": _merge,
    "min": lambda *values: min(values),
    "nonsensitive": lambda value: value,
    "one": lambda values: values[0] if values else None,
    "pow": _unknown_if_any(lambda base, exponent: base**exponent),
    "range": lambda *args: list(range(*args)),
    "regex": _unknown_if_any(_regex),
    "regexall": _unknown_if_any(lambda pattern, text: re.findall(pattern, text)),
    "replace": _unknown_if_any(_replace),
    "sensitive": lambda value: value,
    "sha256": _unknown_if_any(lambda text: hashlib.sha256(text.encode()).hexdigest()),
    "sort": lambda values: sorted(values),
    "split": _unknown_if_any(lambda sep, text: text.split(sep)),
    "startswith": _unknown_if_any(lambda text, prefix: text.startswith(prefix)),
    "substr": _unknown_if_any(lambda text, offset, length: text[offset : offset + length]),
    "sum": lambda values: sum(values),
    "tobool": lambda value: value,
    "tolist": lambda values: list(values),
    "tomap": lambda value: dict(value),
    "tonumber": _unknown_if_any(lambda value: float(value) if "." in str(value) else int(value)),
    "toset": _toset,
    "tostring": _tostring,
    "trimspace": _unknown_if_any(lambda text: text.strip()),
    "upper": _unknown_if_any(lambda text: text.upper()),
    "values": lambda value: [value[k] for k in sorted(value)],
    "zipmap": lambda keys, values: dict(zip(keys, values, strict=True)),
}
