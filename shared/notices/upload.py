"""pagoPA's upload file (``gpd-4-aca_massive_v2``; its format is ``pagopa-gpd-upload``'s):
a ``multipart/form-data`` body whose ``file`` part is a ZIP archive holding one ``.json`` entry,
``{"paymentPositions": [...]}`` (GPD payment positions, to create or update) or
``{"paymentPositionIUPDs": [...]}`` (IUPDs, to delete). docs/aca-contract.md says where each
rule comes from.

Nothing here builds the whole list in memory: :func:`frame_file` finds where each element of the
list starts and ends (the upload is stored as it is, and each chunk of the bulk is a byte range
of it), and a worker reads one range and parses its elements one at a time
(:func:`elements`). An ACA position is one payment option with one transfer
(:func:`position_of` maps it to a ``paCreatePosition`` body).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NaiveDatetime,
    StrictBool,
    StrictInt,
    ValidationError,
)

from shared.notices.bulk_models import UploadOperation
from shared.notices.identity import iuv_of_iupd
from shared.notices.models import (
    MAX_AMOUNT,
    MAX_FILE_CONTENT_BYTES,
    MAX_POSITIONS,
    MAX_TEXT,
    MAX_UPLOAD_BYTES,
    PositionIn,
)
from shared.notices.store import Document
from shared.platform.errors import Invalid, PayloadTooLarge

ROME = ZoneInfo("Europe/Rome")
"""Where a due date written without its offset is a wall-clock time (pagoPA's, in Italy)."""
LISTS: dict[UploadOperation, str] = {"upsert": "paymentPositions", "delete": "paymentPositionIUPDs"}
_WHITESPACE = " \t\n\r"
_BOUNDARY = re.compile(r'boundary="?([^";]{1,70})"?', re.IGNORECASE)
_NAME = re.compile(rb'\bname="([^"]*)"', re.IGNORECASE)
_FILENAME = re.compile(rb'\bfilename="([^"]*)"', re.IGNORECASE)
_DECODER = json.JSONDecoder()


# ------------------------------------------------------------------ the request
def file_part(body: bytes, content_type: str | None) -> tuple[str, bytes]:
    """The ``file`` part of a ``multipart/form-data`` body (RFC 7578): its file name and bytes.

    Raises:
        Invalid: (400) not multipart, or no ``file`` part.
        PayloadTooLarge: the body is larger than an upload may be.
    """
    if len(body) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"an upload is at most {MAX_UPLOAD_BYTES} bytes: split it")
    found = _BOUNDARY.search(content_type or "")
    if not (content_type or "").lower().startswith("multipart/form-data") or found is None:
        raise Invalid("the body must be multipart/form-data with the ZIP file in its part 'file'")
    delimiter = b"--" + found.group(1).encode("latin-1")
    position = body.find(delimiter)
    while position != -1:
        start = position + len(delimiter)
        if body[start : start + 2] == b"--":
            break  # the closing delimiter
        headers_end = body.find(b"\r\n\r\n", start)
        following = body.find(b"\r\n" + delimiter, headers_end + 4 if headers_end != -1 else start)
        if headers_end == -1 or following == -1:
            break
        headers = body[start:headers_end]
        disposition = next(
            (
                line
                for line in headers.split(b"\r\n")
                if line.lower().startswith(b"content-disposition:")
            ),
            b"",
        )
        name = _NAME.search(disposition)
        if name is not None and name.group(1) == b"file":
            filename = _FILENAME.search(disposition)
            text = filename.group(1).decode("utf-8", "replace") if filename else ""
            return text, body[headers_end + 4 : following]
        position = following + 2
    raise Invalid("The zip file is missing: send it in the multipart part 'file'")


def unzip(filename: str, archive: bytes) -> bytes:
    """The one ``.json`` entry of the uploaded ZIP archive.

    Raises:
        Invalid: (400) not a ``.zip`` file, not a ZIP archive, not exactly one ``.json`` entry,
            or an entry that cannot be read.
        PayloadTooLarge: the entry is larger than :data:`MAX_FILE_CONTENT_BYTES` unzipped.
    """
    if not filename.lower().endswith(".zip"):
        raise Invalid("Only ZIP files can be uploaded (a file name ending .zip)")
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as opened:
            entries = [
                info
                for info in opened.infolist()
                if not info.is_dir() and not info.filename.startswith("__MACOSX/")
            ]
            if len(entries) != 1 or not entries[0].filename.lower().endswith(".json"):
                raise Invalid("the ZIP file must hold exactly one entry, a .json file")
            with opened.open(entries[0]) as entry:
                # the sizes in the archive's directory may lie: read one byte past the limit
                content = entry.read(MAX_FILE_CONTENT_BYTES + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, NotImplementedError, OSError):
        raise Invalid("Could not unzip file: not a ZIP archive this archive can read") from None
    except EOFError:
        raise Invalid("Could not unzip file: it is cut short") from None
    if len(content) > MAX_FILE_CONTENT_BYTES:
        raise PayloadTooLarge(
            f"the file is larger than {MAX_FILE_CONTENT_BYTES} bytes unzipped: split it"
        )
    return content


# ------------------------------------------------------------------ the file
@dataclass(frozen=True)
class Framed:
    """The uploaded JSON, and where each element of its list starts and ends (byte offsets)."""

    content: bytes
    spans: list[tuple[int, int]]


def frame_file(content: bytes, operation: UploadOperation) -> Framed:
    """Find the elements of the file's list (``paymentPositions`` or ``paymentPositionIUPDs``)
    without keeping them: each is parsed once to find its end, then dropped.

    Raises:
        Invalid: (400) not JSON, not an object, or without the list the operation reads.
        PayloadTooLarge: more than 50,000 elements.
    """
    # Latin-1 maps every byte to one character, so offsets in the text are offsets in the bytes
    # (the file's UTF-8 is decoded element by element, by the workers).
    text = content.decode("latin-1")
    wanted = LISTS[operation]
    spans: list[tuple[int, int]] | None = None
    try:
        at = _skip(text, 3 if text.startswith("\xef\xbb\xbf") else 0)
        _expect(text, at, "{")
        at = _skip(text, at + 1)
        while text[at : at + 1] != "}":
            key, at = _DECODER.raw_decode(text, at)
            at = _skip(text, at)
            _expect(text, at, ":")
            at = _skip(text, at + 1)
            if key == wanted and text[at : at + 1] == "[":
                spans, at = _spans(text, at)
            else:
                _, at = _DECODER.raw_decode(text, at)
            at = _skip(text, at)
            if text[at : at + 1] == ",":
                at = _skip(text, at + 1)
            else:
                _expect(text, at, "}")
        if _skip(text, at + 1) != len(text):
            raise ValueError("text after the JSON object")
    except (ValueError, RecursionError, IndexError) as error:
        raise Invalid(f"INVALID JSON: the file is not the upload's JSON: {error}") from None
    if spans is None:
        raise Invalid(f'the file has no list {wanted!r}: {{"{wanted}": [...]}}')
    if not spans:
        raise Invalid(f"the list {wanted!r} must contain at least one element")
    return Framed(content, spans)


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at


def _expect(text: str, at: int, token: str) -> None:
    if text[at : at + 1] != token:
        raise ValueError(f"expected {token!r} at byte {at}")


def _spans(text: str, at: int) -> tuple[list[tuple[int, int]], int]:
    spans: list[tuple[int, int]] = []
    at = _skip(text, at + 1)
    if text[at : at + 1] == "]":
        return spans, at + 1
    while True:
        _, end = _DECODER.raw_decode(text, at)
        spans.append((at, end))
        if len(spans) > MAX_POSITIONS:
            raise PayloadTooLarge(
                f"the file lists more than {MAX_POSITIONS} positions; at most {MAX_POSITIONS} "
                "per upload: split it"
            )
        at = _skip(text, end)
        if text[at : at + 1] == "]":
            return spans, at + 1
        _expect(text, at, ",")
        at = _skip(text, at + 1)


def elements(data: bytes) -> Iterator[bytes]:
    """The elements of a stored byte range (whole elements, with the commas between them)."""
    text = data.decode("latin-1")
    at = _skip(text, 0)
    while at < len(text):
        _, end = _DECODER.raw_decode(text, at)
        yield data[at:end]
        at = _skip(text, end)
        if text[at : at + 1] == ",":
            at = _skip(text, at + 1)


# ------------------------------------------------------------------ one position
class Transfer(BaseModel):
    """A GPD transfer: an ACA position has one, paying the whole amount to the EC."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    amount: StrictInt | None = Field(default=None, ge=1, le=MAX_AMOUNT)
    iban: str | None = Field(default=None, min_length=27, max_length=27)
    postal_iban: str | None = Field(default=None, alias="postalIban", min_length=27, max_length=27)


class PaymentOption(BaseModel):
    """A GPD payment option: an ACA position has one, not partial."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    iuv: str = Field(min_length=1, max_length=MAX_TEXT)
    nav: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT)
    amount: StrictInt = Field(ge=1, le=MAX_AMOUNT)
    description: str = Field(min_length=1, max_length=140)
    is_partial_payment: Literal[False] = Field(default=False, alias="isPartialPayment")
    due_date: AwareDatetime | NaiveDatetime = Field(alias="dueDate")
    transfer: list[Transfer] = Field(min_length=1, max_length=1)


class PaymentPosition(BaseModel):
    """One element of ``paymentPositions``: the fields an ACA position reads (the others, the
    debtor's address or e-mail, metadata, are ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    iupd: str = Field(min_length=1)
    type: Literal["F", "G"]
    fiscal_code: str = Field(alias="fiscalCode", min_length=2)
    full_name: str = Field(alias="fullName", min_length=1, max_length=MAX_TEXT)
    switch_to_expired: StrictBool = Field(default=False, alias="switchToExpired")
    pay_stand_in: StrictBool = Field(default=True, alias="payStandIn")
    payment_option: list[PaymentOption] = Field(alias="paymentOption", min_length=1, max_length=1)


@dataclass(frozen=True)
class Refused(Exception):
    """An element that is not an ACA position: the status pagoPA would give, and why."""

    status: int
    reason: str
    iupd: str | None = None


def position_of(element: bytes, organization: str) -> PositionIn:
    """The ``paCreatePosition`` body of one element of ``paymentPositions``.

    Raises:
        Refused: (400) not UTF-8 JSON, not a GPD payment position an ACA position can be (one
            option, one transfer of the whole amount), or an IUPD other than ACA_<EC>_<iuv>.
    """
    try:
        data = json.loads(element.decode("utf-8"))
    except UnicodeDecodeError:
        raise Refused(400, "Bad request: the element is not UTF-8") from None
    except (ValueError, RecursionError):
        raise Refused(400, "Bad request: the element is not JSON") from None
    named = data.get("iupd") if isinstance(data, dict) else None
    iupd = named if isinstance(named, str) else None
    try:
        position = PaymentPosition.model_validate(data)
    except ValidationError as error:
        raise Refused(400, f"Bad request: {_reason(error)}", iupd) from None
    option = position.payment_option[0]
    transfer = option.transfer[0]
    if position.iupd != f"ACA_{organization}_{option.iuv}":
        raise Refused(
            400,
            f"Bad request: an ACA position's iupd is ACA_{organization}_<iuv> "
            f"(ACA_{organization}_{option.iuv})",
            position.iupd,
        )
    if transfer.amount is not None and transfer.amount != option.amount:
        raise Refused(
            400, "Bad request: the transfer's amount must be the option's amount", position.iupd
        )
    due = option.due_date if option.due_date.tzinfo else option.due_date.replace(tzinfo=ROME)
    body: dict[str, Any] = {
        "paFiscalCode": organization,
        "entityType": position.type,
        "entityFiscalCode": position.fiscal_code,
        "entityFullName": position.full_name,
        "iuv": option.iuv,
        "amount": option.amount,
        "description": option.description,
        "expirationDate": due,
        "switchToExpired": position.switch_to_expired,
        "payStandIn": position.pay_stand_in,
    }
    for name, value in (
        ("nav", option.nav),
        ("iban", transfer.iban),
        ("postalIban", transfer.postal_iban),
    ):
        if value is not None:
            body[name] = value
    try:
        return PositionIn.model_validate(body)
    except ValidationError as error:
        raise Refused(400, f"Bad request: {_reason(error)}", position.iupd) from None


def iuv_to_delete(element: bytes, organization: str) -> tuple[str, str]:
    """The IUPD an element of ``paymentPositionIUPDs`` names, and its IUV.

    Raises:
        Refused: (400) not a string, or not ACA_<EC>_<iuv>.
    """
    try:
        name = json.loads(element.decode("utf-8"))
    except (ValueError, RecursionError):
        raise Refused(400, "Bad request: the element is not a JSON string") from None
    if not isinstance(name, str):
        raise Refused(400, "Bad request: an IUPD is a string")
    iuv = iuv_of_iupd(organization, name)
    if iuv is None or len(iuv) > MAX_TEXT:
        raise Refused(400, f"Bad request: an ACA position's iupd is ACA_{organization}_<iuv>", name)
    return name, iuv


def _reason(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
    return "; ".join(parts)


def gpd_time(moment: datetime, *, milliseconds: bool) -> str:
    """A time as pagoPA's upload service writes its status (``yyyy-MM-dd HH:mm:ss``) and its
    report (``yyyy-MM-dd'T'HH:mm:ss.SSS``), in UTC."""
    if milliseconds:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def invalidation_of(stored: Document) -> PositionIn:
    """The write that invalidates a stored position (amount 0, its content otherwise)."""
    body: dict[str, Any] = {
        name: stored[name]
        for name in (
            "paFiscalCode",
            "entityType",
            "entityFiscalCode",
            "entityFullName",
            "iuv",
            "description",
            "switchToExpired",
            "payStandIn",
        )
    }
    body.update(amount=0, expirationDate=datetime.fromisoformat(stored["expirationDate"]))
    for name in ("nav", "iban", "postalIban"):
        if stored.get(name) is not None:
            body[name] = stored[name]
    return PositionIn.model_validate(body)
