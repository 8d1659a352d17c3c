"""One extractor per supported content type, all behind one interface (:mod:`.base`).

Only the extraction child imports these modules' parsers (PyMuPDF, python-docx, openpyxl,
python-pptx, lxml, RapidOCR); the worker process never does.
"""

from __future__ import annotations

from docpipe.common import filetypes
from docpipe.processor.extractors.base import ExtractionLimits, Extractor, Job, Output

__all__ = ["ExtractionLimits", "Extractor", "Job", "Output", "extractor_for", "preload"]


def extractor_for(content_type: str) -> Extractor:
    """The extractor of a supported content type (KeyError for any other)."""
    if content_type == filetypes.PDF:
        from docpipe.processor.extractors.pdf import extract_pdf

        return extract_pdf
    if content_type == filetypes.DOCX:
        from docpipe.processor.extractors.docx import extract_docx

        return extract_docx
    if content_type == filetypes.XLSX:
        from docpipe.processor.extractors.xlsx import extract_xlsx

        return extract_xlsx
    if content_type == filetypes.PPTX:
        from docpipe.processor.extractors.pptx import extract_pptx

        return extract_pptx
    if content_type == filetypes.HTML:
        from docpipe.processor.extractors.html import extract_html

        return extract_html
    if content_type == filetypes.CSV:
        from docpipe.processor.extractors.delimited import extract_csv

        return extract_csv
    if content_type in (filetypes.PLAIN_TEXT, filetypes.MARKDOWN):
        from docpipe.processor.extractors.text import extract_text

        return extract_text
    raise KeyError(content_type)


def preload() -> None:
    """Import every parser now (the sandbox server does, once, before forking children)."""
    from docpipe.processor.extractors.pdf import import_pymupdf, warm_up

    pymupdf = import_pymupdf()
    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    warm_up(pymupdf)
    for content_type in filetypes.SUPPORTED_CONTENT_TYPES:
        extractor_for(content_type)
    import docx  # noqa: F401
    import lxml.html  # noqa: F401
    import openpyxl  # noqa: F401
    import pptx  # noqa: F401
