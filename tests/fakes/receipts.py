"""In-memory fakes of the receipts' PDF storage and renderer, and a sample receipt."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.documents.receipt_pdf import ReceiptContent, render_receipt
from shared.payments.receipt_model import Person, Receipt

PAYER_CF = "VRDLGU75B02F205A"
DEBTOR_CF = "RSSMRA80A01H501U"
PAID_AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


class MemoryReceiptPdfs:
    """The receipts' Blob container in memory, keeping the first PDF stored under a name."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    async def get(self, name: str) -> bytes | None:
        return self.blobs.get(name)

    async def put_once(self, name: str, data: bytes) -> None:
        self.blobs.setdefault(name, data)


class CountingRenderer:
    """The real renderer, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, content: ReceiptContent) -> bytes:
        self.calls += 1
        return render_receipt(content)


def sample_receipt(
    n: int = 1, *, payer: str | None = None, debtor: str | None = None, amount: int = 1234
) -> Receipt:
    """A receipt of ``amount`` cents with a 0,50 € fee, filed under the given user ids."""
    return Receipt(
        receiptId=f"r-{n:04d}",
        transactionId=f"t-{n:04d}",
        paymentToken=f"tok{n:04d}",
        noticeCode=f"3{n:017d}",
        ecFiscalCode="01234567890",
        ecName="Comune di Demo",
        description=f"TARI 2026, rata {n}",
        amount=amount,
        fee=50,
        pspId="DEMOPSP",
        pspName="Demo PSP",
        method="VISA ···· 4242",
        paidAt=PAID_AT.replace(minute=n % 60),
        standIn=False,
        debtor=Person(fiscalCode=DEBTOR_CF, fullName="Rossa Maria", userId=debtor),
        payer=Person(fiscalCode=PAYER_CF, fullName="Verdi Luigi", userId=payer),
    )
