"""SANP's fault codes and the fault bean of a KO.

A primitive that fails still answers HTTP 200 with ``outcome`` KO and a ``fault``: the node's
own ``PPT_*`` code, or ``PPT_ERRORE_EMESSO_DA_PAA`` carrying the EC's ``PAA_*`` code as
``originalFaultCode``. The texts (``faultString``) are ours; the codes are SANP's (sources:
docs/node-protocol.md).
"""

from __future__ import annotations

from pydantic import Field

from shared.pagopa.xml import XmlModel

NODE_ID = "NodoDeiPagamentiSPC"
"""The ``id`` of a fault the node itself raises (an EC's fault carries the EC's id)."""

# --------------------------------------------------------------- the node's (PPT_*), to PSPs
PPT_SINTASSI_EXTRAXSD = "PPT_SINTASSI_EXTRAXSD"
PPT_SINTASSI_XSD = "PPT_SINTASSI_XSD"
PPT_SEMANTICA = "PPT_SEMANTICA"
PPT_SYSTEM_ERROR = "PPT_SYSTEM_ERROR"
PPT_AUTENTICAZIONE = "PPT_AUTENTICAZIONE"
PPT_AUTORIZZAZIONE = "PPT_AUTORIZZAZIONE"
PPT_PSP_SCONOSCIUTO = "PPT_PSP_SCONOSCIUTO"
PPT_PSP_DISABILITATO = "PPT_PSP_DISABILITATO"
PPT_INTERMEDIARIO_PSP_SCONOSCIUTO = "PPT_INTERMEDIARIO_PSP_SCONOSCIUTO"
PPT_INTERMEDIARIO_PSP_DISABILITATO = "PPT_INTERMEDIARIO_PSP_DISABILITATO"
PPT_CANALE_SCONOSCIUTO = "PPT_CANALE_SCONOSCIUTO"
PPT_CANALE_DISABILITATO = "PPT_CANALE_DISABILITATO"
PPT_DOMINIO_SCONOSCIUTO = "PPT_DOMINIO_SCONOSCIUTO"
PPT_DOMINIO_DISABILITATO = "PPT_DOMINIO_DISABILITATO"
PPT_STAZIONE_INT_PA_SCONOSCIUTA = "PPT_STAZIONE_INT_PA_SCONOSCIUTA"
PPT_STAZIONE_INT_PA_DISABILITATA = "PPT_STAZIONE_INT_PA_DISABILITATA"
PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE = "PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE"
PPT_STAZIONE_INT_PA_TIMEOUT = "PPT_STAZIONE_INT_PA_TIMEOUT"
PPT_STAZIONE_INT_PA_SERVIZIO_NONATTIVO = "PPT_STAZIONE_INT_PA_SERVIZIO_NONATTIVO"
PPT_STAZIONE_INT_PA_ERRORE_RESPONSE = "PPT_STAZIONE_INT_PA_ERRORE_RESPONSE"
PPT_ERRORE_EMESSO_DA_PAA = "PPT_ERRORE_EMESSO_DA_PAA"
PPT_PAGAMENTO_SCONOSCIUTO = "PPT_PAGAMENTO_SCONOSCIUTO"
PPT_PAGAMENTO_IN_CORSO = "PPT_PAGAMENTO_IN_CORSO"
PPT_PAGAMENTO_DUPLICATO = "PPT_PAGAMENTO_DUPLICATO"
PPT_TOKEN_SCONOSCIUTO = "PPT_TOKEN_SCONOSCIUTO"
PPT_TOKEN_SCADUTO = "PPT_TOKEN_SCADUTO"
PPT_ESITO_GIA_ACQUISITO = "PPT_ESITO_GIA_ACQUISITO"

STATION_FAILURES = frozenset(
    {
        PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE,
        PPT_STAZIONE_INT_PA_TIMEOUT,
        PPT_STAZIONE_INT_PA_SERVIZIO_NONATTIVO,
    }
)
"""The node's answers when a station fails: the only faults the stand-in manager counts."""

# ------------------------------------------------------------ an EC's (PAA_*), to the node
PAA_SINTASSI_EXTRAXSD = "PAA_SINTASSI_EXTRAXSD"
PAA_SINTASSI_XSD = "PAA_SINTASSI_XSD"
PAA_SEMANTICA = "PAA_SEMANTICA"
PAA_SYSTEM_ERROR = "PAA_SYSTEM_ERROR"
PAA_ID_DOMINIO_ERRATO = "PAA_ID_DOMINIO_ERRATO"
PAA_ID_INTERMEDIARIO_ERRATO = "PAA_ID_INTERMEDIARIO_ERRATO"
PAA_STAZIONE_INT_ERRATA = "PAA_STAZIONE_INT_ERRATA"
PAA_PAGAMENTO_SCONOSCIUTO = "PAA_PAGAMENTO_SCONOSCIUTO"
PAA_PAGAMENTO_DUPLICATO = "PAA_PAGAMENTO_DUPLICATO"
PAA_PAGAMENTO_IN_CORSO = "PAA_PAGAMENTO_IN_CORSO"
PAA_PAGAMENTO_SCADUTO = "PAA_PAGAMENTO_SCADUTO"
PAA_PAGAMENTO_ANNULLATO = "PAA_PAGAMENTO_ANNULLATO"
PAA_RECEIPT_DUPLICATA = "PAA_RECEIPT_DUPLICATA"
"""paSendRT(V2): the EC holds this receipt already; delivery counts it a success."""

PAA_CODES = frozenset(
    {
        PAA_SINTASSI_EXTRAXSD,
        PAA_SINTASSI_XSD,
        PAA_SEMANTICA,
        PAA_SYSTEM_ERROR,
        PAA_ID_DOMINIO_ERRATO,
        PAA_ID_INTERMEDIARIO_ERRATO,
        PAA_STAZIONE_INT_ERRATA,
        PAA_PAGAMENTO_SCONOSCIUTO,
        PAA_PAGAMENTO_DUPLICATO,
        PAA_PAGAMENTO_IN_CORSO,
        PAA_PAGAMENTO_SCADUTO,
        PAA_PAGAMENTO_ANNULLATO,
        PAA_RECEIPT_DUPLICATA,
    }
)

_STRINGS = {
    PPT_SINTASSI_EXTRAXSD: "The request is not a well-formed SOAP message.",
    PPT_SINTASSI_XSD: "The request does not follow the schema.",
    PPT_SEMANTICA: "The request is not consistent.",
    PPT_SYSTEM_ERROR: "The node could not complete the request.",
    PPT_AUTENTICAZIONE: "Wrong password.",
    PPT_AUTORIZZAZIONE: "The caller may not use this channel for this PSP.",
    PPT_PSP_SCONOSCIUTO: "Unknown PSP.",
    PPT_PSP_DISABILITATO: "The PSP is disabled.",
    PPT_INTERMEDIARIO_PSP_SCONOSCIUTO: "Unknown PSP broker.",
    PPT_INTERMEDIARIO_PSP_DISABILITATO: "The PSP broker is disabled.",
    PPT_CANALE_SCONOSCIUTO: "Unknown channel.",
    PPT_CANALE_DISABILITATO: "The channel is disabled.",
    PPT_DOMINIO_SCONOSCIUTO: "Unknown creditor institution.",
    PPT_DOMINIO_DISABILITATO: "The creditor institution is disabled.",
    PPT_STAZIONE_INT_PA_SCONOSCIUTA: "The creditor institution has no station for this notice.",
    PPT_STAZIONE_INT_PA_DISABILITATA: "The creditor institution's station is disabled.",
    PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE: "The creditor institution's station is unreachable.",
    PPT_STAZIONE_INT_PA_TIMEOUT: "The creditor institution's station did not answer in time.",
    PPT_STAZIONE_INT_PA_SERVIZIO_NONATTIVO: "The creditor institution's service is not active.",
    PPT_STAZIONE_INT_PA_ERRORE_RESPONSE: "The station's answer does not follow the schema.",
    PPT_ERRORE_EMESSO_DA_PAA: "The creditor institution refused the request.",
    PPT_PAGAMENTO_SCONOSCIUTO: "Unknown payment.",
    PPT_PAGAMENTO_IN_CORSO: "The notice is being paid.",
    PPT_PAGAMENTO_DUPLICATO: "The notice is paid already.",
    PPT_TOKEN_SCONOSCIUTO: "Unknown payment token.",
    PPT_TOKEN_SCADUTO: "The payment token has expired.",
    PPT_ESITO_GIA_ACQUISITO: "An outcome was recorded for this token already.",
    PAA_SINTASSI_EXTRAXSD: "The request is not a well-formed SOAP message.",
    PAA_SINTASSI_XSD: "The request does not follow the schema.",
    PAA_SEMANTICA: "The request is not consistent.",
    PAA_SYSTEM_ERROR: "The station could not complete the request.",
    PAA_ID_DOMINIO_ERRATO: "This station does not serve that creditor institution.",
    PAA_ID_INTERMEDIARIO_ERRATO: "Wrong broker.",
    PAA_STAZIONE_INT_ERRATA: "Wrong station.",
    PAA_PAGAMENTO_SCONOSCIUTO: "Unknown notice.",
    PAA_PAGAMENTO_DUPLICATO: "The notice is paid already.",
    PAA_PAGAMENTO_IN_CORSO: "The notice is being paid.",
    PAA_PAGAMENTO_SCADUTO: "The notice has expired.",
    PAA_PAGAMENTO_ANNULLATO: "The notice was cancelled.",
    PAA_RECEIPT_DUPLICATA: "The receipt was received already.",
}


def fault_string(code: str) -> str:
    return _STRINGS.get(code, "Request refused.")


class Fault(XmlModel):
    """``ctFaultBean``."""

    fault_code: str = Field(alias="faultCode", min_length=1)
    fault_string: str = Field(alias="faultString")
    id: str
    description: str | None = None
    serial: int | None = None
    original_fault_code: str | None = Field(default=None, alias="originalFaultCode")
    original_fault_string: str | None = Field(default=None, alias="originalFaultString")
    original_description: str | None = Field(default=None, alias="originalDescription")


def node_fault(code: str, description: str | None = None) -> Fault:
    """A fault the node raises itself."""
    return Fault(
        fault_code=code, fault_string=fault_string(code), id=NODE_ID, description=description
    )


def ec_fault(code: str, ec_id: str, description: str | None = None) -> Fault:
    """A fault an EC's station raises (``PAA_*``), its ``id`` the EC's."""
    return Fault(
        fault_code=code, fault_string=fault_string(code), id=ec_id, description=description
    )


def forwarded(fault: Fault) -> Fault:
    """An EC's fault as the node passes it on to a PSP (its ``id`` still the EC's)."""
    return Fault(
        fault_code=PPT_ERRORE_EMESSO_DA_PAA,
        fault_string=fault_string(PPT_ERRORE_EMESSO_DA_PAA),
        id=fault.id,
        description=fault.description,
        original_fault_code=fault.fault_code,
        original_fault_string=fault.fault_string,
        original_description=fault.description,
    )
