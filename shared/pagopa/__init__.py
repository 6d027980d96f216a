"""pagoPA's node protocols as data (SANP): the SOAP envelope, the message models of nodeForPsp
(what PSPs call) and paForNode (what the node calls on an EC's station), fault codes, and the
project's own XSD/WSDL of them in ``schemas/`` (sources: docs/node-protocol.md)."""
