"""Where a hostile value can go in a JSON document, and whether the app must refuse the result.

:func:`fields` walks a JSON schema beside a valid document and lists every place a value can be
put: each property (present or not), the first item of each array, each member of a free-form
object. :class:`Oracle` says whether a document must be refused:

- what the JSON decoder refuses (shared/platform/values.py): a NUL or a lone surrogate in any
  text or member name, an integer beyond 64 bits, a non-finite number, nesting past any
  reasonable depth (the :class:`~tests.hostile.values.Raw` pieces that are not plain JSON);
- what the documented schema refuses (types, bounds, patterns, enums, required members, and the
  ``date-time`` format: an offset is required);
- a ``date-time`` whose year is outside 2000-2099.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jsonschema_rs

from tests.hostile.values import MAX_INT64, Raw

MIN_YEAR, MAX_YEAR = 2000, 2099
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Field:
    path: Path
    kind: str
    """``date-time``, ``integer``, ``number``, ``string``, ``boolean``, ``array``, ``object`` or
    ``any``: what the schema expects there."""
    required: bool
    present: bool
    holds_members: bool = False
    """Whether the value there is an object (a member can be added to it)."""

    @property
    def name(self) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path) or "."


class Schemas:
    """The components of one document, to resolve ``$ref`` and validate against."""

    def __init__(self, components: dict[str, Any]) -> None:
        self.components = copy.deepcopy(components)

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.components["schemas"][name]
        return schema

    def concrete(self, schema: dict[str, Any], value: Any = None) -> dict[str, Any]:
        """``schema`` resolved, and for ``anyOf`` the branch that fits ``value`` (else the first
        that is not null)."""
        schema = self.resolve(schema)
        branches = schema.get("anyOf") or schema.get("oneOf")
        if not branches:
            return schema
        resolved = [self.resolve(b) for b in branches]
        typed = [b for b in resolved if b.get("type") != "null"]
        for branch in typed:
            if _fits(branch, value):
                return branch
        return typed[0] if typed else resolved[0]

    def validator(self, name: str) -> Any:
        root = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": f"#/components/schemas/{name}",
            "components": self.components,
        }
        return jsonschema_rs.validator_for(root, validate_formats=True)


def _fits(schema: dict[str, Any], value: Any) -> bool:
    kind = schema.get("type")
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }.get(str(kind), False)


def kind_of(schema: dict[str, Any]) -> str:
    if schema.get("format") == "date-time":
        return "date-time"
    kind = schema.get("type")
    return kind if isinstance(kind, str) and kind != "null" else "any"


def fields(schemas: Schemas, schema: dict[str, Any], value: Any, path: Path = ()) -> list[Field]:
    """Every place of ``value`` (valid for ``schema``) where a hostile value can go."""
    found: list[Field] = []

    def walk(schema: dict[str, Any], value: Any, path: Path, required: bool, present: bool) -> None:
        concrete = schemas.concrete(schema, value)
        found.append(Field(path, kind_of(concrete), required, present, isinstance(value, dict)))
        if isinstance(value, dict):
            members = value
            properties = concrete.get("properties", {})
            needed = set(concrete.get("required", []))
            for name, sub in properties.items():
                walk(sub, members.get(name), (*path, name), name in needed, name in members)
            extra = concrete.get("additionalProperties")
            for name, item in members.items():
                if name not in properties:
                    walk(extra if isinstance(extra, dict) else {}, item, (*path, name), False, True)
        elif isinstance(value, list) and value:
            walk(concrete.get("items", {}), value[0], (*path, 0), True, True)

    walk(schema, value, path, True, True)
    return found


def put(document: Any, path: Path, value: Any) -> Any:
    """A copy of ``document`` with ``value`` at ``path`` (members on the way are created)."""
    if not path:
        return value
    copied = copy.deepcopy(document)
    target = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copied


def drop(document: Any, path: Path) -> Any:
    copied = copy.deepcopy(document)
    target = copied
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return copied


def _illegal(value: Any) -> str | None:
    """Why the JSON decoder must refuse ``value``, or None."""
    if isinstance(value, Raw):
        try:
            parsed = json.loads(value.text)
        except (ValueError, RecursionError):
            return "not JSON the decoder may accept"
        return _illegal(parsed) if not isinstance(parsed, Raw) else None
    if isinstance(value, str):
        if "\x00" in value:
            return "a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "a lone surrogate"
        return None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return "an integer beyond 64 bits" if abs(value) > MAX_INT64 else None
    if isinstance(value, float):
        return None if math.isfinite(value) else "a non-finite number"
    if isinstance(value, dict):
        for key, item in value.items():
            reason = _illegal(key) or _illegal(item)
            if reason:
                return reason
        return None
    if isinstance(value, list):
        for item in value:
            reason = _illegal(item)
            if reason:
                return reason
    return None


def _plain(value: Any) -> Any:
    """``value`` with legal :class:`Raw` pieces parsed (for the schema validator)."""
    if isinstance(value, Raw):
        return json.loads(value.text)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _depth(value: Any) -> int:
    if isinstance(value, Raw):
        text = value.text
        deepest = level = 0
        for char in text:
            if char in "[{":
                level += 1
                deepest = max(deepest, level)
            elif char in "]}":
                level -= 1
        return deepest
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


MAX_DEPTH = 100
"""Deeper than this, no document of the app's is legitimate (pydantic's own limit is 255)."""


class Oracle:
    """Whether a request body (or a message) must be refused."""

    def __init__(self, schemas: Schemas, name: str) -> None:
        self.schemas = schemas
        self.name = name
        self._validator = schemas.validator(name)
        self._root = {"$ref": f"#/components/schemas/{name}"}

    def must_refuse(self, document: Any, changed: Field | None, value: Any) -> str | None:
        """Why ``document`` must be refused; ``changed``: where ``value`` was put, if a field."""
        reason = _illegal(document)
        if reason:
            return f"the decoder refuses {reason}"
        if _depth(document) > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH}"
        plain = _plain(document)
        errors = list(self._validator.iter_errors(plain))
        if errors:
            return f"the schema refuses it: {errors[0].message[:160]}"
        if changed is not None and changed.kind == "date-time" and isinstance(value, str):
            try:
                year = datetime.fromisoformat(value).year
            except ValueError:
                return None
            if not MIN_YEAR <= year <= MAX_YEAR:
                return f"the year {year} is outside {MIN_YEAR}-{MAX_YEAR}"
        return None
