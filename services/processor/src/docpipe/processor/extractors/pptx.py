"""PowerPoint (.pptx) with python-pptx: one page per slide, its text and its notes.

A slide's text comes from every shape in reading order (groups opened, tables as rows of
`` | ``-separated cells); the speaker notes follow under "Notes:". The page number is the
slide number, so a search hit cites the slide.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from docpipe.processor.exceptions import Failure, FailureKind
from docpipe.processor.extractors.archive import check_archive
from docpipe.processor.extractors.base import Job, Output

__all__ = ["extract_pptx"]


def _shape_texts(shapes: Any) -> Iterator[str]:
    for shape in shapes:
        if getattr(shape, "shape_type", None) == 6:  # MSO_SHAPE_TYPE.GROUP
            yield from _shape_texts(shape.shapes)
        elif getattr(shape, "has_table", False):
            for row in shape.table.rows:
                cells = [" ".join(c.text.split()) for c in row.cells]
                if any(cells):
                    yield " | ".join(c for c in cells if c)
        elif getattr(shape, "has_text_frame", False):
            text = "\n".join(" ".join(p.text.split()) for p in shape.text_frame.paragraphs)
            if text.strip():
                yield text.strip()


def _slide_text(slide: Any) -> str:
    parts = list(_shape_texts(slide.shapes))
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        if notes is not None and notes.text.strip():
            parts.append("Notes: " + notes.text.strip())
    return "\n\n".join(parts)


def extract_pptx(data: bytes, job: Job, out: Output) -> None:
    check_archive(data, job, out, kind="PowerPoint")
    import pptx

    try:
        slides = list(pptx.Presentation(io.BytesIO(data)).slides)
    except Exception as exc:  # python-pptx raises KeyError, lxml errors, PackageNotFoundError…
        raise Failure(
            FailureKind.CORRUPT, "the PowerPoint file is damaged", detail=repr(exc)
        ) from None
    if len(slides) > job.limits.max_pages:
        raise Failure(
            FailureKind.TOO_MANY_PAGES,
            f"the presentation has {len(slides)} slides; the limit is {job.limits.max_pages}",
        )
    out.meta(page_count=len(slides))
    for number, slide in enumerate(slides, start=1):
        try:
            text = _slide_text(slide)
        except Exception as exc:
            raise Failure(
                FailureKind.CORRUPT, f"slide {number} is damaged", detail=repr(exc)
            ) from None
        out.page(number, text)
