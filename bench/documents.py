"""PDF documents: receipt PDFs per second on one core, and paper notice batches streamed.

- Receipts: ``render_receipt`` of distinct receipts in one thread (one core), beside a baseline
  in the same run that draws the same strings with the same embedded fonts on one reportlab
  canvas at fixed places (the library's floor for this page, without our layout).
- Notices: ``write_notices`` of a 100- and a 1,000-notice batch (every one with a postal
  account, so QR code and data matrix on each page) to a sink that only counts bytes: notices
  per second, and peak traced memory (tracemalloc, a run of its own); beside it, the same
  batches drawn on one canvas saved at the end (what reportlab does unstreamed), whose peak
  grows with the batch. Bounded means the 1,000/100 peak ratio stays near 1.

Pure CPU: no emulator. The machine is shared: read the ratios, not the absolute figures.

    python -m bench.documents [--receipts 300] [--batch 1000]
"""

from __future__ import annotations

import argparse
import io
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import BinaryIO, cast

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from shared.documents import fonts
from shared.documents.notice_pdf import (
    PaperCreditor,
    PaperDebtor,
    PaperNotice,
    draw_notice,
    write_notices,
)
from shared.documents.receipt_pdf import ReceiptContent, ReceiptParty, render_receipt


class Sink(io.RawIOBase):
    """A binary output that keeps nothing: the batch's size without holding it."""

    def __init__(self) -> None:
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size


def receipt(n: int) -> ReceiptContent:
    return ReceiptContent(
        receipt_id=f"rcpt-{n:06d}",
        transaction_id=f"tx-{n:06d}",
        notice_code=f"3020{n:014d}",
        ec_name="Comune di Demo",
        ec_fiscal_code="01234567890",
        description=f"TARI 2026, rata {n}",
        amount=1000 + n,
        fee=50,
        psp_id="DEMOPSP",
        psp_name="Demo PSP",
        method="VISA ···· 4242",
        paid_at=datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=n),
        debtor=ReceiptParty("RSSMRA80A01H501U", "Maria Rossa"),
        payer=ReceiptParty("VRDLGU75B02F205A", "Luigi Verdi"),
    )


def baseline_receipt(content: ReceiptContent) -> bytes:
    """The same strings, the same fonts, one canvas, fixed places."""
    out = io.BytesIO()
    with fonts.render_lock:
        canvas = Canvas(
            out, pagesize=A4, invariant=True, pageCompression=1, initialFontName=fonts.REGULAR
        )
        lines = [
            "Ricevuta di pagamento",
            content.payer.full_name or "",
            content.payer.fiscal_code,
            str(content.paid_at),
            content.psp_name,
            content.method,
            content.transaction_id,
            content.description,
            content.debtor.full_name or "",
            content.debtor.fiscal_code,
            content.ec_name,
            content.ec_fiscal_code,
            content.notice_code,
            str(content.amount),
            str(content.fee),
            str(content.total),
            content.receipt_id,
        ]
        y = 800.0
        for i, line in enumerate(lines):
            canvas.setFont(fonts.BOLD if i % 3 == 0 else fonts.REGULAR, 11)
            canvas.drawString(56, y, line)
            y -= 20
        canvas.showPage()
        canvas.save()
    return out.getvalue()


def per_second(render: Callable[[ReceiptContent], bytes], count: int) -> float:
    started = time.perf_counter()
    for n in range(count):
        render(receipt(n))
    return count / (time.perf_counter() - started)


def notices(count: int) -> Iterator[PaperNotice]:
    creditor = PaperCreditor(
        fiscal_code="01234567890", name="Comune di Demo", cbill="A1B2C", postal_account="1234567"
    )
    for n in range(count):
        yield PaperNotice(
            notice_code=f"3020{n:014d}",
            creditor=creditor,
            debtor=PaperDebtor(fiscal_code="RSSMRA80A01H501U", full_name=f"Maria Rossa {n}"),
            amount=10_000 + n,
            due_date=date(2026, 12, 31),
            subject=f"TARI 2026, rata {n}",
        )


def one_canvas(count: int, out: Sink) -> int:
    """The unstreamed way: every page on one canvas, saved at the end."""
    fonts.register()
    buffer = io.BytesIO()
    canvas = Canvas(
        buffer, pagesize=A4, invariant=True, pageCompression=1, initialFontName=fonts.REGULAR
    )
    for notice in notices(count):
        draw_notice(canvas, notice)
        canvas.showPage()
    canvas.save()
    out.write(buffer.getvalue())
    return count


def streamed(count: int, out: Sink) -> int:
    return write_notices(notices(count), cast(BinaryIO, out))


def timed(write: Callable[[int, Sink], int], count: int) -> tuple[float, int]:
    sink = Sink()
    started = time.perf_counter()
    write(count, sink)
    return count / (time.perf_counter() - started), sink.size


def peak(write: Callable[[int, Sink], int], count: int) -> float:
    """Peak traced memory of one batch, in MB."""
    tracemalloc.start()
    try:
        write(count, Sink())
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=300)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    fonts.register()
    render_receipt(receipt(0))  # warm: fonts parsed, modules imported
    print("machine: shared 2-core box, other work running: figures move; read the ratios")

    ours = per_second(render_receipt, args.receipts)
    floor = per_second(baseline_receipt, args.receipts)
    print(
        f"receipts: {ours:7.1f} PDFs/s on one core; baseline (same text, no layout) "
        f"{floor:7.1f}/s; ratio {ours / floor:.2f}"
    )

    small = args.batch // 10
    for name, write in (("streamed", streamed), ("one canvas", one_canvas)):
        rate_big, size_big = timed(write, args.batch)
        rate_small, _ = timed(write, small)
        peak_small, peak_big = peak(write, small), peak(write, args.batch)
        print(
            f"notices {name:>10}: {args.batch} in one PDF {rate_big:6.1f}/s "
            f"({size_big / 1e6:.1f} MB), "
            f"{small}: {rate_small:6.1f}/s; peak memory {small}: {peak_small:6.1f} MB, "
            f"{args.batch}: {peak_big:6.1f} MB, ratio {peak_big / peak_small:.2f}"
        )


if __name__ == "__main__":
    main()
