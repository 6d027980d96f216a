"""Tags and tag expressions as Notification Hubs reads them (sources: docs/notification-hubs.md).

- A tag is 1-120 characters from letters, digits and ``_ @ # . : -``; an installation holds at
  most 60 of them.
- The service adds system tags to an installation, ``$InstallationId:{<id>}`` (literal braces)
  among them. A ``$`` word in an expression is compared with those system tags as written, so
  ``$InstallationId:<id>`` (no braces) is accepted and matches nothing.
- An expression combines tags with ``||``, ``&&``, ``!`` and parentheses; it names at most 20
  tags when its only operator is ``||``, otherwise at most 6. A malformed or longer expression
  is refused (the simulator answers 400).

An expression is evaluated on sets: each tag is the set of installations that carry it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Set
from dataclasses import dataclass

MAX_TAG_LENGTH = 120
MAX_TAGS_PER_INSTALLATION = 60
MAX_TAGS_ONLY_OR = 20
MAX_TAGS_OTHERWISE = 6

_TAG = re.compile(rf"[A-Za-z0-9_@#.:\-]{{1,{MAX_TAG_LENGTH}}}")
_WORD = re.compile(r"[^\s()!&|]+")
_TOKEN = re.compile(r"\s*(?:(\|\|)|(&&)|(!)|(\()|(\))|([^\s()!&|]+)|(\S))")


class TagExpressionError(ValueError):
    """The expression is malformed or over the documented limits."""


def installation_tag(installation_id: str) -> str:
    """The system tag the service gives every installation."""
    return "$InstallationId:{" + installation_id + "}"


def check_tag(tag: object) -> str:
    """``tag`` if it is a valid (user) tag.

    Raises:
        TagExpressionError: it is not.
    """
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise TagExpressionError(
            "a tag is 1-120 letters, digits or _ @ # . : - characters"
            if isinstance(tag, str)
            else "a tag is a string"
        )
    return tag


@dataclass(frozen=True)
class Tag:
    name: str


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Tag | Not | And | Or


@functools.lru_cache(maxsize=8192)
def parse(expression: str) -> Node:
    """The tree of ``expression``.

    Raises:
        TagExpressionError: malformed, an invalid tag, or more tags than allowed.
    """
    word = expression.strip()
    if word and _WORD.fullmatch(word):  # the common case: one tag, such as an installation's
        if not word.startswith("$"):
            check_tag(word)
        return Tag(word)
    tokens = _tokens(expression)
    parser = _Parser(tokens)
    tree = parser.expression()
    if parser.position != len(tokens):
        raise TagExpressionError(f"unexpected {tokens[parser.position][1]!r}")
    names, operators = _census(tree)
    limit = MAX_TAGS_ONLY_OR if operators <= {"||"} else MAX_TAGS_OTHERWISE
    if names > limit:
        raise TagExpressionError(
            f"{names} tags: an expression may name {MAX_TAGS_ONLY_OR} tags with only ||, "
            f"{MAX_TAGS_OTHERWISE} otherwise"
        )
    return tree


def evaluate(
    tree: Node, tagged: Callable[[str], Set[str]], everyone: Callable[[], Set[str]]
) -> set[str]:
    """The installations ``tree`` selects: ``tagged(tag)`` are those carrying ``tag``,
    ``everyone()`` all of the hub's (needed only under ``!``)."""
    if isinstance(tree, Tag):
        return set(tagged(tree.name))
    if isinstance(tree, Not):
        return set(everyone()) - evaluate(tree.operand, tagged, everyone)
    if isinstance(tree, And):
        first, *rest = (evaluate(operand, tagged, everyone) for operand in tree.operands)
        return first.intersection(*rest)
    found: set[str] = set()
    for operand in tree.operands:
        found |= evaluate(operand, tagged, everyone)
    return found


def _tokens(expression: str) -> list[tuple[str, str]]:
    kinds = ("||", "&&", "!", "(", ")", "tag", "stray")
    found: list[tuple[str, str]] = []
    position = 0
    text = expression.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only trailing blanks, removed above
            break
        kind = kinds[match.lastindex - 1] if match.lastindex else "stray"
        value = match.group(match.lastindex or 0)
        if kind == "stray":
            raise TagExpressionError(f"unexpected {value!r} (operators are ||, && and !)")
        if kind == "tag" and not value.startswith("$"):
            check_tag(value)
        found.append((kind, value))
        position = match.end()
    if not found:
        raise TagExpressionError("an empty expression")
    return found


class _Parser:
    """``or := and ('||' and)*; and := unary ('&&' unary)*; unary := '!' unary | '(' or ')'
    | tag``."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0

    def _peek(self) -> str | None:
        return self.tokens[self.position][0] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise TagExpressionError("the expression ends too early")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expression(self) -> Node:
        operands = [self._conjunction()]
        while self._peek() == "||":
            self._take()
            operands.append(self._conjunction())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _conjunction(self) -> Node:
        operands = [self._unary()]
        while self._peek() == "&&":
            self._take()
            operands.append(self._unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _unary(self) -> Node:
        kind, value = self._take()
        if kind == "!":
            return Not(self._unary())
        if kind == "(":
            inner = self.expression()
            if self._take()[0] != ")":
                raise TagExpressionError("a parenthesis is not closed")
            return inner
        if kind == "tag":
            return Tag(value)
        raise TagExpressionError(f"unexpected {value!r}")


def _census(tree: Node) -> tuple[int, set[str]]:
    """How many tags ``tree`` names, and which operators it uses."""
    if isinstance(tree, Tag):
        return 1, set()
    if isinstance(tree, Not):
        names, operators = _census(tree.operand)
        return names, operators | {"!"}
    symbol = "&&" if isinstance(tree, And) else "||"
    total, used = 0, {symbol}
    for operand in tree.operands:
        names, operators = _census(operand)
        total += names
        used |= operators
    return total, used
