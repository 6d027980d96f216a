"""pagoPA's paper payment notice: its fields as text, its QR code and Poste data matrix decoded
back from the rasterised page to their exact published content, batches streamed."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date

import pytest
from pydantic import ValidationError
from pypdf import PdfReader

from shared.documents.codes import grouped
from shared.documents.notice_pdf import (
    MAX_BATCH,
    PAGES_PER_PART,
    PaperCreditor,
    PaperDebtor,
    PaperNotice,
    write_notices,
)
from tests.unit.documents.pages import barcodes, font_descriptors, page_text

EC = "02438750586"


def notice(n: int = 1, *, postal: str | None = "1234567", amount: int = 12345) -> PaperNotice:
    return PaperNotice(
        noticeCode=f"3020000000{n:08d}",
        creditor=PaperCreditor(
            fiscalCode=EC,
            name="Comune di Demo",
            cbill="A1B2C",
            postalAccount=postal,
            posteAuthorization="AUT. 008/2026 del 01/01/2026",
        ),
        debtor=PaperDebtor(fiscalCode="RSSMRA85T10A562S", fullName="Mario Rossi"),
        amount=amount,
        dueDate=date(2026, 12, 31),
        subject=f"TARI 2026 - rata {n}",
    )


def pdf_of(notices: list[PaperNotice]) -> bytes:
    out = io.BytesIO()
    assert write_notices(notices, out) == len(notices)
    return out.getvalue()


def test_the_notice_shows_ec_debtor_amount_due_date_subject_and_grouped_code() -> None:
    text = page_text(pdf_of([notice(7)]))
    for expected in (
        "AVVISO DI PAGAMENTO",
        "Comune di Demo",
        EC,
        "Mario Rossi",
        "RSSMRA85T10A562S",
        "123,45",
        "31/12/2026",
        "TARI 2026 - rata 7",
        "3020 0000 0000 0000 07",
        "A1B2C",
        "BOLLETTINO POSTALE PA",
        "1234567",
        "P1",
    ):
        assert expected in text, expected


def test_the_qr_code_and_the_data_matrix_decode_to_their_published_content() -> None:
    printed = notice(7)
    found = barcodes(pdf_of([printed]))
    assert found["QRCode"] == f"PAGOPA|002|302000000000000007|{EC}|12345"
    matrix = found["DataMatrix"]
    assert matrix == printed.datamatrix_content
    assert len(matrix) == 256
    assert matrix.startswith(
        "codfase=NBPA;18302000000000000007120000012345671000000123453896" + "1P1" + EC
    )
    # where io-app reads a scanned data matrix: notice code, amount, EC
    assert (matrix[15:33], matrix[49:59], matrix[66:77]) == ("302000000000000007", "0000012345", EC)
    assert matrix[77:93] == "RSSMRA85T10A562S"
    assert matrix[93:133] == "Mario Rossi".ljust(40)
    assert matrix[133:243] == "TARI 2026 - rata 7".ljust(110)
    assert matrix.endswith(" " * 12 + "A")


def test_without_a_postal_account_there_is_no_poste_slip() -> None:
    pdf = pdf_of([notice(1, postal=None)])
    assert "BOLLETTINO POSTALE PA" not in page_text(pdf)
    assert set(barcodes(pdf)) == {"QRCode"}


def test_every_font_is_embedded() -> None:
    for font in font_descriptors(pdf_of([notice(1)])):
        assert "/FontFile2" in font["descriptor"], font["font"]["/BaseFont"]


def test_a_batch_is_one_pdf_with_one_page_per_notice_in_order() -> None:
    notices = [notice(n, postal=None if n % 2 else "99") for n in range(1, 2 * PAGES_PER_PART + 4)]
    pdf = pdf_of(notices)
    reader = PdfReader(io.BytesIO(pdf), strict=True)  # a cross-reference error raises
    assert len(reader.pages) == len(notices)
    for index in (0, PAGES_PER_PART, len(notices) - 1):
        assert grouped(notices[index].notice_code) in reader.pages[index].extract_text()
    last = barcodes(pdf, page=len(notices) - 1)
    assert last["QRCode"] == notices[-1].qr_content


def test_pages_reach_the_output_before_the_batch_is_read_to_its_end() -> None:
    out = io.BytesIO()
    written_when_asked: list[int] = []

    def source() -> Iterator[PaperNotice]:
        for n in range(1, 3 * PAGES_PER_PART + 1):
            written_when_asked.append(out.tell())
            yield notice(n)

    assert write_notices(source(), out) == 3 * PAGES_PER_PART
    # when the last part is read, the first two are already in the output
    assert written_when_asked[2 * PAGES_PER_PART] > 0
    assert written_when_asked[0] < written_when_asked[PAGES_PER_PART] < written_when_asked[-1]


def test_an_empty_or_oversized_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="no notice"):
        write_notices([], io.BytesIO())
    with pytest.raises(ValueError, match="at most"):
        write_notices([notice(n % 100) for n in range(MAX_BATCH + 1)], io.BytesIO())


@pytest.mark.parametrize(
    "change",
    [
        {"noticeCode": "30200000000000000"},  # 17 digits
        {"amount": 0},
        {"subject": "x" * 141},
        {"creditor": {"fiscalCode": "0243875058", "name": "Comune"}},
        {"creditor": {"fiscalCode": EC, "name": "Comune", "postalAccount": "1234567890123"}},
    ],
)
def test_a_notice_the_layout_cannot_print_is_refused(change: dict[str, object]) -> None:
    body = notice(1).model_dump(by_alias=True)
    with pytest.raises(ValidationError):
        PaperNotice.model_validate({**body, **change})
