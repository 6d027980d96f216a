"""Reading PDFs back in tests: a page's text (pypdf), its fonts, and its barcodes decoded from
the page rasterised by poppler's pdftoppm (zxing-cpp reads them)."""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import zxingcpp
from PIL import Image
from pypdf import PdfReader


def page_text(pdf: bytes, page: int = 0) -> str:
    return PdfReader(io.BytesIO(pdf)).pages[page].extract_text()


def font_descriptors(pdf: bytes) -> list[dict[str, Any]]:
    """The font descriptor of every font on every page."""
    found = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = font.get("/FontDescriptor")
            found.append({"font": font, "descriptor": descriptor and descriptor.get_object()})
    return found


def barcodes(pdf: bytes, page: int = 0, dpi: int = 150) -> dict[str, str]:
    """Format name -> decoded text of each barcode on ``page``."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.pdf"
        source.write_bytes(pdf)
        number = str(page + 1)
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                str(dpi),
                "-gray",
                "-png",
                "-f",
                number,
                "-l",
                number,
                "-singlefile",
                str(source),
                str(Path(folder) / "page"),
            ],
            check=True,
            timeout=60,
        )
        image = Image.open(Path(folder) / "page.png")
        image.load()
    return {r.format.name: r.text for r in zxingcpp.read_barcodes(image)}
