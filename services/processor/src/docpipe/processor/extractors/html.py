"""HTML with lxml: the readable text, without scripts, styles or navigation.

The page is decoded in the charset the detector found (BOM, then ``<meta charset>``, then
UTF-8, then a Big5 guess with a warning) and parsed by libxml2's forgiving HTML parser.
Dropped with their content: ``script``, ``style``, ``noscript``, ``template``, embedded
objects and forms, and the navigation boilerplate (``nav``, ``header``, ``footer``,
``aside``, and elements whose ARIA role says the same or that are hidden). When the page
marks its main content (``<main>``, or a single ``<article>``) only that is read. Block
elements become line breaks; the title comes first.
"""

from __future__ import annotations

import re
from typing import Any

from docpipe.processor.exceptions import Failure, FailureKind
from docpipe.processor.extractors.base import Job, Output
from docpipe.processor.extractors.text import decode, logical_pages

__all__ = ["extract_html"]

_DROP = (
    "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed",
    "canvas", "form", "button", "select", "nav", "header", "footer", "aside", "head",
)  # fmt: skip
_BOILERPLATE_ROLES = ("navigation", "banner", "contentinfo", "complementary", "search")
_BLOCKS = frozenset(
    "address article blockquote br dd div dl dt figcaption figure h1 h2 h3 h4 h5 h6 hr li"
    " main ol p pre section table tbody thead tfoot tr td th ul caption details summary".split()
)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]{0,200}\?>")


def _parse(text: str) -> Any:
    import lxml.html

    try:
        return lxml.html.document_fromstring(_XML_DECLARATION.sub("", text, count=1) or " ")
    except Exception as exc:  # lxml.etree.ParserError on an empty document, …
        raise Failure(
            FailureKind.NO_TEXT, "the HTML page contains no text", detail=repr(exc)
        ) from None


def _drop_boilerplate(root: Any) -> None:
    doomed = [el for el in root.iter(*_DROP) if not _sectioning_margin(el)]
    doomed += root.xpath(
        "//*[@hidden or @aria-hidden='true' or "
        + " or ".join(f"@role='{role}'" for role in _BOILERPLATE_ROLES)
        + "]"
    )
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()  # keeps the tail text, which belongs to the parent


def _sectioning_margin(element: Any) -> bool:
    """A header or footer of an article or the main content (its title, byline): kept."""
    if element.tag not in ("header", "footer"):
        return False
    return any(a.tag in ("article", "main") for a in element.iterancestors())


def _readable_root(root: Any) -> Any:
    main = root.find(".//main")
    if main is not None:
        return main
    articles = root.findall(".//article")
    if len(articles) == 1:
        return articles[0]
    body = root.find("body")
    return body if body is not None else root


def _text(element: Any) -> str:
    for block in element.iter(*_BLOCKS):
        block.tail = "\n" + (block.tail or "")
        if block.tag in ("td", "th"):
            block.tail = " | " + (block.tail or "").lstrip("\n")
        else:
            block.text = "\n" + (block.text or "")
    lines = (" ".join(line.split()) for line in element.text_content().splitlines())
    return "\n".join(line.strip(" |") for line in lines if line.strip(" |"))


def extract_html(data: bytes, job: Job, out: Output) -> None:
    root = _parse(decode(data, job, out))
    title = " ".join((root.findtext(".//title") or "").split())
    _drop_boilerplate(root)
    body = _text(_readable_root(root))
    text = "\n\n".join(part for part in (title, body) if part)
    if not text.strip():
        raise Failure(FailureKind.NO_TEXT, "the HTML page contains no text")
    logical_pages(text, job.limits.text_page_chars, out)
