"""Small PDFs built with PyMuPDF for the extraction and sandbox tests."""

from __future__ import annotations

import pymupdf

__all__ = ["make_pdf", "text_bomb"]


def make_pdf(pages: list[str], **save: object) -> bytes:
    """One page per string (Traditional Chinese font); an empty string is a blank page."""
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page()
        if text:
            page.insert_text((50, 60), text, fontname="china-t", fontsize=10)
    data: bytes = doc.tobytes(**save)
    return data


def text_bomb(repeats: int) -> bytes:
    """One page whose 12 kB compressed content stream draws ``repeats`` x 10 characters."""
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "seed", fontname="helv")
    font = page.get_fonts()[0][4]
    body = b"BT /" + font.encode() + b" 8 Tf " + b"1 0 0 1 50 400 Tm (ABCDEFGHIJ) Tj " * repeats
    doc.update_stream(page.get_contents()[0], body + b"ET", compress=True)
    data: bytes = doc.tobytes(deflate=True)
    return data
