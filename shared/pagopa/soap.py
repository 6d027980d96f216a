"""SOAP 1.1 envelopes (document/literal): the one body element of a request or response, read
from bytes with a parser that resolves no entity and fetches nothing, and written back.

A body that is not a SOAP 1.1 envelope gets a SOAP Fault (``soapenv:Client``) rather than a
primitive's KO: before the body is read there is no primitive to answer with.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
CONTENT_TYPE = "text/xml; charset=utf-8"
"""SOAP 1.1's media type."""
MAX_ENVELOPE_BYTES = 256 * 1024
"""Larger than any message of the primitives served (five transfers, metadata, a payer)."""

_ENVELOPE = etree.QName(SOAP_ENV, "Envelope")
_HEADER = etree.QName(SOAP_ENV, "Header")
_BODY = etree.QName(SOAP_ENV, "Body")
_FAULT = etree.QName(SOAP_ENV, "Fault")


class NotAnEnvelope(ValueError):
    """The bytes are not a SOAP 1.1 envelope with one body element."""


@dataclass(frozen=True)
class Message:
    """The body element of an envelope, by its qualified name."""

    namespace: str | None
    name: str
    element: etree._Element


_PARSERS = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's parser: building one costs more than parsing a message, and lxml parsers
    may be reused but not shared between threads (the event loop's thread parses them all)."""
    parser: etree.XMLParser | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        _PARSERS.parser = parser
    return parser


def parse(raw: bytes) -> Message:
    """The body element of the envelope ``raw``.

    Raises:
        NotAnEnvelope: too large, not XML, a DOCTYPE (entities are a classic attack on XML
            endpoints, and no SOAP message has one), not a SOAP 1.1 envelope, or a body without
            exactly one element.
    """
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise NotAnEnvelope(f"the envelope is larger than {MAX_ENVELOPE_BYTES} bytes")
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as error:
        raise NotAnEnvelope(f"not well-formed XML: {error.msg}") from None
    if root.getroottree().docinfo.doctype:
        raise NotAnEnvelope("a SOAP message has no document type declaration")
    if root.tag != _ENVELOPE.text:
        raise NotAnEnvelope("the root is not a SOAP 1.1 Envelope")
    bodies = [child for child in root if child.tag == _BODY.text]
    if len(bodies) != 1:
        raise NotAnEnvelope("the envelope has no Body, or more than one")
    elements = [child for child in bodies[0] if isinstance(child.tag, str)]
    if len(elements) != 1:
        raise NotAnEnvelope("the Body holds no element, or more than one")
    name = etree.QName(elements[0])
    return Message(name.namespace, name.localname, elements[0])


def serialise(body: etree._Element, *, prefix: str = "ns") -> bytes:
    """An envelope around ``body`` (its namespace declared once, on the envelope)."""
    namespace = etree.QName(body).namespace
    nsmap = {"soapenv": SOAP_ENV}
    if namespace:
        nsmap[prefix] = namespace
    envelope = etree.Element(_ENVELOPE, nsmap=nsmap)
    etree.SubElement(envelope, _HEADER)
    etree.SubElement(envelope, _BODY).append(body)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def soap_fault(reason: str, *, code: str = "Client") -> bytes:
    """A SOAP 1.1 Fault envelope (``code``: Client when the message is at fault, else Server)."""
    envelope = etree.Element(_ENVELOPE, nsmap={"soapenv": SOAP_ENV})
    body = etree.SubElement(envelope, _BODY)
    fault = etree.SubElement(body, _FAULT)
    etree.SubElement(fault, "faultcode").text = f"soapenv:{code}"
    etree.SubElement(fault, "faultstring").text = reason
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def fault_reason(raw: bytes) -> str | None:
    """The faultstring of a SOAP Fault envelope, or None when ``raw`` is not one."""
    try:
        message = parse(raw)
    except NotAnEnvelope:
        return None
    if message.namespace != SOAP_ENV or message.name != "Fault":
        return None
    return str(message.element.findtext("faultstring") or "")
