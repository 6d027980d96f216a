"""The SOAP 1.1 envelope: one body element in, refused when it is anything else."""

from __future__ import annotations

import pytest
from lxml import etree

from shared.pagopa import soap

BODY = b"<ns:ping xmlns:ns='urn:x'><a>1</a></ns:ping>"


def _envelope(body: bytes, *, namespace: str = soap.SOAP_ENV) -> bytes:
    return (
        f"<e:Envelope xmlns:e='{namespace}'><e:Header/><e:Body>".encode()
        + body
        + b"</e:Body></e:Envelope>"
    )


def test_the_body_element_is_read_with_its_qualified_name() -> None:
    message = soap.parse(_envelope(BODY))
    assert (message.namespace, message.name) == ("urn:x", "ping")
    assert message.element.findtext("a") == "1"


def test_what_is_written_reads_back() -> None:
    element = etree.Element(etree.QName("urn:x", "pong"))
    etree.SubElement(element, "b").text = "è & <ok>"
    message = soap.parse(soap.serialise(element))
    assert message.name == "pong"
    assert message.element.findtext("b") == "è & <ok>"


@pytest.mark.parametrize(
    "raw",
    [
        b"not xml",
        b'{"json": true}',
        _envelope(BODY, namespace="http://www.w3.org/2003/05/soap-envelope"),  # SOAP 1.2
        _envelope(b""),
        _envelope(BODY + BODY),
        b"<e:Envelope xmlns:e='http://schemas.xmlsoap.org/soap/envelope/'/>",
        b"<?xml version='1.0'?><!DOCTYPE e [<!ENTITY x 'boom'>]>" + _envelope(b"<p>&x;</p>"),
        _envelope(b"<p>" + b"x" * soap.MAX_ENVELOPE_BYTES + b"</p>"),
    ],
    ids=["text", "json", "soap12", "empty body", "two elements", "no body", "doctype", "huge"],
)
def test_anything_else_is_not_an_envelope(raw: bytes) -> None:
    with pytest.raises(soap.NotAnEnvelope):
        soap.parse(raw)


def test_an_external_entity_is_never_fetched_or_expanded() -> None:
    raw = (
        b"<?xml version='1.0'?><!DOCTYPE e [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
        + _envelope(b"<p>&x;</p>")
    )
    with pytest.raises(soap.NotAnEnvelope):
        soap.parse(raw)


def test_a_soap_fault_carries_its_reason() -> None:
    raw = soap.soap_fault("not an envelope")
    assert soap.fault_reason(raw) == "not an envelope"
    assert soap.fault_reason(_envelope(BODY)) is None
