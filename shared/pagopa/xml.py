"""Pydantic models to and from XML elements, as document/literal SANP messages are laid out:
a model is an element whose fields are its child elements, in the XSD's sequence order (the
fields' declaration order), named by each field's alias; a list field is a repeated element; a
field marked :data:`EURO_AMOUNT` holds euro cents and is written in euros (``\\d+\\.\\d{2}``).

Children are unqualified (the schemas leave ``elementFormDefault`` unqualified), and parsing
ignores elements a model does not know, so a PSP sending an optional element we do not serve
(say, revenue stamps) is not refused for it.
"""

from __future__ import annotations

import re
import types
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Self, TypeVar, Union, get_args, get_origin

from lxml import etree
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

MAX_EUROS = Decimal("999999999.99")
_EUROS = re.compile(r"^\s*(\d+)\.(\d{2})\s*$")


class _EuroAmount:
    """Marks a field of cents that the contract writes in euros."""

    def __repr__(self) -> str:
        return "EURO_AMOUNT"


EURO_AMOUNT = _EuroAmount()


def euros_to_cents(value: object) -> object:
    """``"12.30"`` -> 1230: only the XSD's form (two decimals, no sign, no exponent); an int
    passes through as cents (a model built in code)."""
    if isinstance(value, str):
        match = _EUROS.match(value)
        if match is None:
            raise ValueError("an amount is euros with two decimals, such as 12.30")
        return int(match.group(1)) * 100 + int(match.group(2))
    return value


def cents_to_euros(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


Cents = Annotated[
    int,
    BeforeValidator(euros_to_cents),
    Field(ge=0, le=99_999_999_999, strict=True),
    EURO_AMOUNT,
]
"""An amount of the contract (``stAmount``), euro cents inside."""
PositiveCents = Annotated[
    int,
    BeforeValidator(euros_to_cents),
    Field(ge=1, le=99_999_999_999, strict=True),
    EURO_AMOUNT,
]
"""``stAmountNotZero``: at least 0.01 euros."""


def _xml_boolean(value: object) -> object:
    """xsd:boolean's four spellings only (pydantic alone would take "yes" and "on")."""
    if isinstance(value, str):
        if value.strip() not in ("true", "false", "1", "0"):
            raise ValueError("a boolean is true, false, 1 or 0")
        return value.strip() in ("true", "1")
    return value


XmlBool = Annotated[bool, BeforeValidator(_xml_boolean), Field(strict=True)]


class XmlModel(BaseModel):
    """A message or one of its complex types."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    def to_element(self, tag: str | etree.QName) -> etree._Element:
        element = etree.Element(tag)
        self._fill(element)
        return element

    def _fill(self, element: etree._Element) -> None:
        for name, child, euros, _, _ in _plan(type(self)):
            value = getattr(self, name)
            if value is None:
                continue
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, XmlModel):
                    sub = etree.SubElement(element, child)
                    item._fill(sub)
                else:
                    etree.SubElement(element, child).text = _text(item, euros=euros)

    @classmethod
    def from_element(cls, element: etree._Element) -> Self:
        """The model of ``element``'s children (pydantic's ValidationError if they do not fit)."""
        return cls.model_validate(_values(cls, element))


M = TypeVar("M", bound=XmlModel)


def _text(value: Any, *, euros: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if euros:
        return cents_to_euros(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _marked(annotation: Any) -> bool:
    """``annotation`` holds :data:`EURO_AMOUNT` (``Cents | None`` keeps it inside)."""
    if get_origin(annotation) is Annotated:
        return EURO_AMOUNT in annotation.__metadata__
    return any(_marked(arg) for arg in get_args(annotation))


def _model_of(annotation: Any) -> type[XmlModel] | None:
    """The XmlModel class inside ``annotation`` (``X``, ``X | None``, ``list[X]``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, XmlModel):
        return annotation
    origin = get_origin(annotation)
    if origin in (list, Union, types.UnionType, Annotated):
        for arg in get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return True
    return get_origin(annotation) in (Union, types.UnionType) and any(
        _is_list(arg) for arg in get_args(annotation)
    )


Step = tuple[str, str, bool, "type[XmlModel] | None", bool]
"""A field as the codec walks it: name, element name, euros, its model, repeated."""


@cache
def _plan(cls: type[XmlModel]) -> tuple[Step, ...]:
    """``cls``'s fields in order, read once per class (the annotations do not change)."""
    return tuple(
        (
            name,
            field.alias or name,
            EURO_AMOUNT in field.metadata or _marked(field.annotation),
            _model_of(field.annotation),
            _is_list(field.annotation),
        )
        for name, field in cls.model_fields.items()
    )


def _values(cls: type[XmlModel], element: etree._Element) -> dict[str, Any]:
    children: dict[str, list[etree._Element]] = {}
    for child in element:
        if isinstance(child.tag, str):  # not a comment or a processing instruction
            children.setdefault(etree.QName(child).localname, []).append(child)
    values: dict[str, Any] = {}
    for name, tag, _, model, repeated in _plan(cls):
        found = children.get(tag)
        if not found:
            continue
        items = [
            _values(model, child) if model is not None else (child.text or "") for child in found
        ]
        # A repeated element where the schema allows one stays a list: validation refuses it.
        values[name] = items if repeated or len(items) > 1 else items[0]
    return values
