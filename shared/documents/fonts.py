"""The fonts every PDF embeds: Bitstream Vera, shipped inside reportlab (its licence permits
embedding), so no PDF depends on the reader's fonts and no system font is needed in Azure.

Registered once per process under the names :data:`REGULAR` and :data:`BOLD`.
"""

from __future__ import annotations

import threading
from pathlib import Path

import reportlab
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

__all__ = ["BOLD", "REGULAR", "register", "render_lock"]

REGULAR = "StellaSans"
BOLD = "StellaSans-Bold"
_FILES = {REGULAR: "Vera.ttf", BOLD: "VeraBd.ttf"}
_lock = threading.Lock()
_done = False
render_lock = threading.Lock()
"""Held while a canvas draws with these fonts: reportlab keeps per-document subsetting state on
the shared font objects, so two threads rendering at once could interleave it. Rendering is
CPU-bound under the GIL anyway: one at a time per process costs no throughput."""


def register() -> None:
    """Register :data:`REGULAR` and :data:`BOLD` with reportlab (idempotent, thread-safe)."""
    global _done
    with _lock:
        if _done:
            return
        folder = Path(reportlab.__file__).parent / "fonts"
        for name, file in _FILES.items():
            pdfmetrics.registerFont(TTFont(name, str(folder / file)))
        _done = True
