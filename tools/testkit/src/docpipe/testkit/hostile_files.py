"""Hostile and broken documents, generated from valid ones (docs/reliability.md, issue 6).

:func:`hostile_files` returns more than 200 distinct files in families: truncations at
many offsets, corrupted xref tables and streams, encryption, empty and tiny files,
non-PDFs that claim to be PDFs, absurd page counts, deep and cyclic page trees,
decompression bombs, very long lines, invalid UTF-8 and files around the size cap.

Each file states what the processor must make of it: ``completed``, ``failed`` (with
a reason containing ``reason``), or ``either`` when both are fair (a truncated PDF that
MuPDF can repair may well yield text) — but never anything in between. Everything is
deterministic (fixed seeds) and no two files share their bytes (so none is a duplicate
of another).
"""

from __future__ import annotations

import hashlib
import random
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import pymupdf

__all__ = ["PATHOLOGICAL_TEXT", "HostileFile", "fast_sample", "hostile_files", "raw_pdf"]


@dataclass(frozen=True)
class HostileFile:
    case: str
    """Unique, readable id (family/variant)."""
    data: bytes
    expect: str
    """``completed``, ``failed`` or ``either``."""
    reason: str | None = None
    """A substring the ``error`` must contain when the document fails (lower case)."""

    @property
    def family(self) -> str:
        return self.case.split("/", 1)[0]

    @property
    def is_pdf_like(self) -> bool:
        """Whether extraction will start a PDF child process (the slow path)."""
        return b"%PDF-" in self.data[:1024]


# ------------------------------------------------------------------------------ valid bases

_PARAGRAPH = "Employees accrue annual leave monthly; requests need a manager's approval. "


@cache
def valid_pdf(pages: int = 3, *, deflate: bool = True) -> bytes:
    doc = pymupdf.open()
    for n in range(1, pages + 1):
        page = doc.new_page()
        text = f"Chapter {n}. " + _PARAGRAPH * 12 + f"員工請假規定第{n}條。"
        page.insert_textbox(pymupdf.Rect(50, 50, 550, 800), text, fontsize=10, fontname="helv")
    data: bytes = doc.tobytes(deflate=deflate, garbage=1)
    doc.close()
    return data


def valid_text() -> str:
    return "\n\n".join(
        f"Section {n}. {_PARAGRAPH * 3}員工手冊第{n}章：請假與加班規定。😀👩‍💻" for n in range(1, 9)
    )


def valid_markdown() -> str:
    return "# Handbook\n\n" + "\n".join(f"- item {n}: {_PARAGRAPH}" for n in range(20))


def raw_pdf(objects: list[bytes], *, root: int = 1, trailer_extra: bytes = b"") -> bytes:
    """A PDF from numbered object bodies (object n is ``objects[n-1]``), with a valid xref."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d /Root %d 0 R%s>>\n" % (len(objects) + 1, root, trailer_extra)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _stream(content: bytes, *, extra: bytes = b"", filtered: bytes | None = None) -> bytes:
    data = content if filtered is None else filtered
    return b"<</Length %d%s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


_FONT = b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>"
_TEXT = b"BT /F1 12 Tf 72 720 Td (Hostile but readable page) Tj ET"
_ABSURD_FILTERS = b"/Filter[/ASCIIHexDecode/RunLengthDecode/FlateDecode/DCTDecode]"


def _page(parent: int, contents: int, font: int) -> bytes:
    return (
        b"<</Type/Page/Parent %d 0 R/MediaBox[0 0 612 792]/Contents %d 0 R"
        % (
            parent,
            contents,
        )
        + b"/Resources<</Font<</F1 %d 0 R>>>>>>" % font
    )


# ------------------------------------------------------------------------------- families


def _truncations(count_pdf: int, count_text: int) -> Iterator[HostileFile]:
    pdf = valid_pdf(3)
    for i in range(1, count_pdf + 1):
        cut = len(pdf) * i // (count_pdf + 1)
        yield HostileFile(f"truncated-pdf/{cut}", pdf[:cut], "either")
    plain = valid_pdf(2, deflate=False)
    for cut in (9, 64, len(plain) // 2, len(plain) - 20, len(plain) - 1):
        yield HostileFile(f"truncated-plain-pdf/{cut}", plain[:cut], "either")
    text = valid_text().encode()
    for i in range(1, count_text + 1):
        cut = len(text) * i // (count_text + 1)
        piece = text[:cut]
        try:
            ok = bool(piece.decode("utf-8").strip())
        except UnicodeDecodeError:  # cut inside a multi-byte character
            yield HostileFile(f"truncated-text/{cut}", piece, "failed", "utf-8")
            continue
        yield HostileFile(f"truncated-text/{cut}", piece, "completed" if ok else "failed")


def _xref_corruptions() -> Iterator[HostileFile]:
    pdf = valid_pdf(3)
    start = int(re.search(rb"startxref\s+(\d+)", pdf).group(1))  # type: ignore[union-attr]
    variants = {
        "startxref-beyond-eof": re.sub(rb"startxref\s+\d+", b"startxref\n999999999", pdf),
        "startxref-negative": re.sub(rb"startxref\s+\d+", b"startxref\n-42", pdf),
        "startxref-zero": re.sub(rb"startxref\s+\d+", b"startxref\n0", pdf),
        "startxref-into-stream": re.sub(rb"startxref\s+\d+", b"startxref\n200", pdf),
        "xref-keyword-gone": pdf[:start] + b"XXXX" + pdf[start + 4 :],
        "xref-offsets-zeroed": re.sub(rb"\d{10} 00000 n", b"0000000000 00000 n", pdf),
        "xref-offsets-shifted": re.sub(
            rb"(\d{10}) 00000 n", lambda m: b"%010d 00000 n" % (int(m[1]) + 7), pdf
        ),
        "xref-count-huge": re.sub(rb"xref\n0 \d+", b"xref\n0 99999999", pdf),
        "trailer-without-root": re.sub(rb"/Root \d+ 0 R", b"", pdf),
        "root-points-nowhere": re.sub(rb"/Root \d+ 0 R", b"/Root 999 0 R", pdf),
        "trailer-gone": pdf[:start],
        "eof-marker-gone": pdf.replace(b"%%EOF", b""),
        "xref-garbage": pdf[:start] + bytes(random.Random(7).randbytes(300)),
        "two-trailers-looping": pdf
        + b"\ntrailer\n<</Prev %d>>\nstartxref\n%d\n%%%%EOF\n" % (start, len(pdf)),
    }
    for name, data in variants.items():
        yield HostileFile(f"xref/{name}", data, "either")


def _stream_corruptions(flips: int) -> Iterator[HostileFile]:
    pdf = valid_pdf(3)
    streams = [m.start(1) for m in re.finditer(rb"stream\r?\n(.)", pdf, re.S)]
    rng = random.Random(1234)
    for i in range(flips):
        data = bytearray(pdf)
        at = rng.choice(streams) + rng.randrange(0, 40)
        for _ in range(rng.randint(1, 8)):
            pos = min(len(data) - 1, at + rng.randrange(0, 64))
            data[pos] ^= rng.randrange(1, 256)
        yield HostileFile(f"stream-bitflip/{i}", bytes(data), "either")
    for name, pattern, replacement in [
        ("length-too-long", rb"/Length (\d+)", b"/Length 99999"),
        ("length-zero", rb"/Length (\d+)", b"/Length 0"),
        ("length-negative", rb"/Length (\d+)", b"/Length -5"),
        ("length-indirect-missing", rb"/Length (\d+)", b"/Length 777 0 R"),
        ("filter-unknown", rb"/Filter\s*/FlateDecode", b"/Filter/NoSuchDecode"),
        ("filter-lzw-on-flate", rb"/Filter\s*/FlateDecode", b"/Filter/LZWDecode"),
        ("filter-chain-absurd", rb"/Filter\s*/FlateDecode", _ABSURD_FILTERS),
        ("endstream-gone", rb"endstream", b"endstreem"),
    ]:
        yield HostileFile(f"stream/{name}", re.sub(pattern, replacement, pdf), "either")
    font = 3
    garbage = random.Random(99).randbytes(500)
    yield HostileFile(
        "stream/flate-of-garbage",
        raw_pdf(
            [
                b"<</Type/Catalog/Pages 2 0 R>>",
                b"<</Type/Pages/Kids[4 0 R]/Count 1>>",
                _FONT,
                _page(2, 5, font),
                _stream(b"", extra=b"/Filter/FlateDecode", filtered=garbage),
            ]
        ),
        "failed",
    )


def _encrypted() -> Iterator[HostileFile]:
    for name, method, user in [
        ("user-aes256", pymupdf.PDF_ENCRYPT_AES_256, "secret"),
        ("user-aes128", pymupdf.PDF_ENCRYPT_AES_128, "secret"),
        ("user-rc4-128", pymupdf.PDF_ENCRYPT_RC4_128, "secret"),
        ("owner-only-aes256", pymupdf.PDF_ENCRYPT_AES_256, ""),
        ("owner-only-rc4-40", pymupdf.PDF_ENCRYPT_RC4_40, ""),
    ]:
        doc = pymupdf.open("pdf", valid_pdf(2))
        data = doc.tobytes(
            encryption=method,
            owner_pw="owner-" + name,
            user_pw=user,
            permissions=pymupdf.PDF_PERM_ACCESSIBILITY,
        )
        doc.close()
        if user:
            yield HostileFile(f"encrypted/{name}", data, "failed", "encrypted")
        else:  # opens without a password: readable, like any PDF viewer does
            yield HostileFile(f"encrypted/{name}", data, "completed")


def _tiny() -> Iterator[HostileFile]:
    for name, data, reason in [
        ("zero-bytes", b"", "empty"),
        ("one-nul", b"\x00", None),
        ("pdf-magic-only", b"%PDF-", None),
        ("pdf-header-and-eof", b"%PDF-1.7\n%%EOF\n", None),
        ("whitespace-only", b" \n\t\n  \r\n", None),
        ("bom-only", b"\xef\xbb\xbf", None),
        ("newline", b"\n", None),
        (
            "pdf-no-pages",
            raw_pdf([b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[]/Count 0>>"]),
            None,
        ),
        ("pdf-image-only", _image_only_pdf(), "no extractable text"),
    ]:
        yield HostileFile(f"tiny/{name}", data, "failed", reason)


def _image_only_pdf() -> bytes:
    doc = pymupdf.open()
    page = doc.new_page()
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 32, 32), False)
    pix.clear_with(200)
    page.insert_image(pymupdf.Rect(50, 50, 300, 300), pixmap=pix)
    data: bytes = doc.tobytes()
    doc.close()
    return data


def _not_pdf() -> Iterator[HostileFile]:
    rng = random.Random(42)
    samples = {
        "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(400),
        "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + rng.randbytes(400),
        "zip-docx": b"PK\x03\x04\x14\x00\x06\x00" + rng.randbytes(400),
        "gzip": zlib.compress(b"x" * 1000)[:2] + b"\x1f\x8b\x08\x00" + rng.randbytes(300),
        "elf": b"\x7fELF\x02\x01\x01\x00" + rng.randbytes(400),
        "ole-doc": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + rng.randbytes(400),
        "xps-like-zip-with-pdf-name": b"PK\x05\x06" + b"\x00" * 18,
        "svg-xml": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
        + b"<script>while(1){}</script></svg>\x00",
        "pdf-magic-after-1kb": b"\x01" * 2048 + valid_pdf(1),
        "pdf-magic-inside-binary": b"\x00\x01\x02" * 10 + b"%PDF-1.4\n" + rng.randbytes(600),
    }
    for i in range(6):
        samples[f"random-{i}"] = rng.randbytes(rng.choice((17, 512, 4096, 40_000)))
    for name, data in samples.items():
        yield HostileFile(f"not-pdf/{name}", data, "failed")
    # Text that merely mentions the PDF magic is still text.
    mention = b"Notes on file formats: a PDF starts with %PDF-1.7 and ends with %%EOF.\n"
    yield HostileFile("not-pdf/text-mentioning-pdf-magic", mention * 20, "completed")


def _page_counts(max_pages: int) -> Iterator[HostileFile]:
    for count in (2**31 - 1, 99_999_999, -1, 0):
        data = raw_pdf(
            [
                b"<</Type/Catalog/Pages 2 0 R>>",
                b"<</Type/Pages/Kids[4 0 R]/Count %d>>" % count,
                _FONT,
                _page(2, 5, 3),
                _stream(_TEXT),
            ]
        )
        yield HostileFile(f"page-count/declared-{count}", data, "either")
    # Kids listing the same page 200,000 times.
    many = b"4 0 R " * 200_000
    data = raw_pdf(
        [
            b"<</Type/Catalog/Pages 2 0 R>>",
            b"<</Type/Pages/Kids[" + many + b"]/Count 200000>>",
            _FONT,
            _page(2, 5, 3),
            _stream(_TEXT),
        ]
    )
    yield HostileFile("page-count/same-page-200k-times", data, "failed", "page")
    doc = pymupdf.open()
    for _ in range(max_pages + 1):
        doc.new_page(width=100, height=100)
    real = doc.tobytes(garbage=1)
    doc.close()
    yield HostileFile(f"page-count/real-{max_pages + 1}", real, "failed", "pages")


def _page_trees() -> Iterator[HostileFile]:
    for depth in (64, 5_000, 60_000):
        # Object 1 catalog, 2 font, 3 content, 4 page, 5.. nested Pages nodes (5 is the root).
        objects = [b"<</Type/Catalog/Pages 5 0 R>>", _FONT, _stream(_TEXT)]
        leaf_parent = 4 + depth
        objects.append(_page(leaf_parent, 3, 2))
        for level in range(depth):
            number = 5 + level
            parent = b"/Parent %d 0 R" % (number - 1) if level else b""
            kid = number + 1 if level < depth - 1 else 4
            objects.append(b"<</Type/Pages/Kids[%d 0 R]/Count 1%s>>" % (kid, parent))
        yield HostileFile(f"page-tree/nested-{depth}", raw_pdf(objects), "either")
    cycles = {
        "kids-self": [b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[2 0 R]/Count 1>>"],
        "kids-mutual": [
            b"<</Type/Catalog/Pages 2 0 R>>",
            b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
            b"<</Type/Pages/Kids[2 0 R]/Count 1/Parent 2 0 R>>",
        ],
        "parent-loop-with-page": [
            b"<</Type/Catalog/Pages 2 0 R>>",
            b"<</Type/Pages/Kids[4 0 R 2 0 R]/Count 2/Parent 2 0 R>>",
            _FONT,
            _page(2, 5, 3),
            _stream(_TEXT),
        ],
        "root-is-page": [
            b"<</Type/Catalog/Pages 2 0 R>>",
            _page(2, 4, 3),
            _FONT,
            _stream(_TEXT),
        ],
        "contents-self-reference": [
            b"<</Type/Catalog/Pages 2 0 R>>",
            b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
            b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents[3 0 R 3 0 R]>>",
        ],
        "resources-cycle": [
            b"<</Type/Catalog/Pages 2 0 R>>",
            b"<</Type/Pages/Kids[3 0 R]/Count 1/Resources 5 0 R>>",
            b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R/Resources 5 0 R>>",
            _stream(_TEXT),
            b"<</Font<</F1 6 0 R>>/XObject<</X 5 0 R>>/Parent 5 0 R>>",
            b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica/FontDescriptor 6 0 R>>",
        ],
    }
    for name, objects in cycles.items():
        yield HostileFile(f"page-tree/{name}", raw_pdf(objects), "either")


def _bombs() -> Iterator[HostileFile]:
    for name, size in (("64mib-spaces", 64 << 20), ("300mib-spaces", 300 << 20)):
        compressor = zlib.compressobj(9)
        block = b" " * (1 << 20)
        packed = b"".join(compressor.compress(block) for _ in range(size >> 20))
        packed += compressor.flush()
        yield HostileFile(
            f"bomb/{name}",
            raw_pdf(
                [
                    b"<</Type/Catalog/Pages 2 0 R>>",
                    b"<</Type/Pages/Kids[4 0 R]/Count 1>>",
                    _FONT,
                    _page(2, 5, 3),
                    _stream(b"", extra=b"/Filter/FlateDecode", filtered=packed),
                ]
            ),
            "either",
        )
    # Millions of text-showing operators in a small compressed stream (CPU, not memory).
    ops = b"BT /F1 1 Tf 0 0 Td (ab) Tj ET\n" * 400_000
    yield HostileFile(
        "bomb/400k-text-operators",
        raw_pdf(
            [
                b"<</Type/Catalog/Pages 2 0 R>>",
                b"<</Type/Pages/Kids[4 0 R]/Count 1>>",
                _FONT,
                _page(2, 5, 3),
                _stream(b"", extra=b"/Filter/FlateDecode", filtered=zlib.compress(ops, 9)),
            ]
        ),
        "either",
    )


def _long_lines() -> Iterator[HostileFile]:
    yield HostileFile("long-line/ascii-400k-no-space", b"a" * 400_000, "completed")
    yield HostileFile("long-line/cjk-150k", ("員工請假" * 37_500).encode(), "completed")
    yield HostileFile("long-line/emoji-zwj-50k", ("👩‍👩‍👧‍👦" * 7_000).encode(), "completed")
    yield HostileFile(
        "long-line/combining-marks", ("e" + "\u0301" * 30).encode() * 5_000, "completed"
    )
    yield HostileFile("long-line/words-one-line", (_PARAGRAPH * 4_000).encode(), "completed")
    yield HostileFile(
        "long-line/markdown-table-row",
        ("| a | b |\n|---|---|\n" + "| " + "x " * 100_000 + "|\n").encode(),
        "completed",
    )
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((10, 100), "L" * 30_000, fontsize=4)
    yield HostileFile("long-line/pdf-30k-char-line", doc.tobytes(), "either")
    doc.close()


def _invalid_utf8() -> Iterator[HostileFile]:
    good = valid_text().encode()
    for name, data in {
        "latin1": "Résumé, café, naïve; Überstunden".encode("latin-1") * 20,
        "lone-continuation": b"hello \x80 world " * 30,
        "overlong-slash": b"path \xc0\xaf etc " * 30,
        "encoded-surrogate": b"bad \xed\xa0\x80 surrogate " * 30,
        "f5-byte": b"beyond unicode \xf5\x80\x80\x80 " * 30,
        "cut-multibyte-at-end": good + "員".encode()[:2],
        "gbk": "员工请假规定".encode("gbk") * 40,
        "shift-jis": "従業員の休暇規定".encode("shift_jis") * 40,
        "utf16le-no-bom": "Leave policy text".encode("utf-16-le") * 40,
        "utf16-bom-odd-length": "\ufeffLeave policy".encode("utf-16-le") + b"\x00\xd8\x41",
        "invalid-after-sniff-window": b"valid text line\n" * 5000 + b"\xff\xfe oops\n",
        "nul-bytes-in-text": b"text with \x00 nul \x00 bytes " * 40,
        "mostly-control-chars": bytes(range(1, 9)) * 200,
    }.items():
        yield HostileFile(f"invalid-utf8/{name}", data, "failed")
    big5 = "員工請假規定：特休假依勞基法辦理。".encode("big5") * 40
    yield HostileFile("invalid-utf8/big5-is-read-with-a-warning", big5, "completed")
    utf16 = ("\ufeff" + valid_text()).encode("utf-16-le")
    yield HostileFile("invalid-utf8/utf16-with-bom-is-fine", utf16, "completed")
    yield HostileFile("invalid-utf8/utf8-bom-is-fine", b"\xef\xbb\xbf" + good[:2000], "completed")


def _size_cap(max_bytes: int) -> Iterator[HostileFile]:
    line = b"Overtime is paid at 1.5x after 40 hours per week. "
    body = (line * (max_bytes // len(line) + 2))[: max_bytes + 1]
    yield HostileFile("size-cap/one-byte-over", body, "failed", "too large")
    yield HostileFile("size-cap/far-over", body * 2, "failed", "too large")
    yield HostileFile("size-cap/exactly-at-cap", body[: max_bytes - 1] + b"!", "completed")


def _misc() -> Iterator[HostileFile]:
    doc = pymupdf.open("pdf", valid_pdf(1))
    doc.set_metadata({"title": "\x00" * 50, "author": "😀" * 500})
    yield HostileFile("misc/hostile-metadata", doc.tobytes(), "completed")
    doc.close()
    js = raw_pdf(
        [
            b"<</Type/Catalog/Pages 2 0 R/OpenAction<</S/JavaScript/JS(while(true){})>>>>",
            b"<</Type/Pages/Kids[4 0 R]/Count 1>>",
            _FONT,
            _page(2, 5, 3),
            _stream(_TEXT),
        ]
    )
    yield HostileFile("misc/javascript-open-action", js, "completed")
    leading = b"\n\n  " + valid_pdf(1)
    yield HostileFile("misc/whitespace-before-header", leading, "completed")
    junk = b"junk before the header\n" + valid_pdf(2)
    yield HostileFile("misc/junk-before-header", junk, "either")
    twice = valid_pdf(1) + valid_pdf(2)
    yield HostileFile("misc/two-pdfs-concatenated", twice, "either")
    control = ("Leave policy text. " * 300 + "\x07\x1b" * 3 + "end.").encode()
    yield HostileFile("misc/few-control-chars", control, "completed")
    yield HostileFile("misc/form-feeds-only", b"\f" * 3000, "failed")


#: Inputs that made unanchored Markdown patterns quadratic (29 s for 64 KB of ``[``): runs
#: of one construct, on one line and on many. Each must be judged as fast as prose.
PATHOLOGICAL_UNITS = ("[", "[a](", "**a ", "#", "|-", ">", "](", "__", "*", "-", "`", "<meta")


def pathological_text(unit: str, *, size: int = 64 * 1024, lines: bool = False) -> bytes:
    if lines:
        line = (unit * (4000 // len(unit))) + "\n"
        return (line * (size // len(line) + 1)).encode()[:size]
    return (unit * (size // len(unit) + 1)).encode()[:size]


PATHOLOGICAL_TEXT = {
    f"{unit!r}{'-lines' if lines else ''}": pathological_text(unit, lines=lines)
    for unit in PATHOLOGICAL_UNITS
    for lines in (False, True)
}


def _pathological() -> Iterator[HostileFile]:
    for name, data in PATHOLOGICAL_TEXT.items():
        yield HostileFile(f"pathological-text/{name}", data, "completed")


def _office() -> Iterator[HostileFile]:
    from docpipe.testkit import formats

    docx, xlsx = formats.docx_bytes(tag="hostile"), formats.xlsx_bytes(tag="hostile")
    for cut in (len(docx) // 2, len(docx) - 30):
        yield HostileFile(f"office/docx-cut-{cut}", docx[:cut], "either")
    bomb = _rezip(xlsx, {"xl/worksheets/sheet2.xml": b" " * (64 << 20)})
    yield HostileFile("office/xlsx-zip-bomb", bomb, "failed", "decompression bomb")
    yield HostileFile("office/xlsx-not-xml", _rezip(xlsx, {"xl/workbook.xml": b"\x00<<"}), "failed")
    yield HostileFile("office/legacy-doc", formats.legacy_doc_bytes(), "failed", ".docx")
    yield HostileFile(
        "office/legacy-xls",
        formats.legacy_doc_bytes().replace(
            "WordDocument".encode("utf-16-le"), "Workbook".encode("utf-16-le")
        ),
        "failed",
        ".xlsx",
    )
    html = b"<html><body>" + b"<div>" * 100_000 + b"deep text" + b"</div>" * 100_000
    yield HostileFile("office/html-nested-100k", html + b"</body></html>", "either")
    yield HostileFile("office/html-script-only", b"<html><script>x()</script></html>", "failed")


def _rezip(data: bytes, replace: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item.filename, replace.get(item.filename, source.read(item.filename)))
        for name, body in replace.items():
            if name not in source.namelist():
                target.writestr(name, body)
    return out.getvalue()


def hostile_files(*, max_bytes: int, max_pages: int) -> list[HostileFile]:
    """Every hostile file (more than 200), for a processor capped at ``max_bytes``/``max_pages``.

    ``max_bytes`` must be at least 2 MiB (the bombs must fit under it).
    """
    assert max_bytes >= 2 << 20
    families = (
        _truncations(60, 24),
        _xref_corruptions(),
        _stream_corruptions(40),
        _encrypted(),
        _tiny(),
        _not_pdf(),
        _page_counts(max_pages),
        _page_trees(),
        _bombs(),
        _long_lines(),
        _invalid_utf8(),
        _size_cap(max_bytes),
        _misc(),
        _pathological(),
        _office(),
    )
    files: list[HostileFile] = []
    seen: set[str] = set()
    for family in families:
        for hostile in family:
            digest = hashlib.sha256(hostile.data).hexdigest()
            if digest not in seen:  # identical bytes would be a duplicate upload
                seen.add(digest)
                files.append(hostile)
    return files


# The PDF cases of the fast suite: one child process each (1-3 s), so chosen by hand.
FAST_PDF_CASES = frozenset(
    {
        "xref/startxref-beyond-eof",
        "stream-bitflip/0",
        "stream/flate-of-garbage",
        "encrypted/user-aes256",
        "encrypted/owner-only-aes256",
        "tiny/pdf-magic-only",
        "page-count/declared-2147483647",
        "page-tree/nested-60000",
        "page-tree/kids-mutual",
        "bomb/300mib-spaces",
        "not-pdf/text-mentioning-pdf-magic",
    }
)


def fast_sample(files: list[HostileFile], *, cheap_per_family: int = 3) -> list[HostileFile]:
    """The default suite's share: the hand-picked PDF cases and a few text cases per family."""
    sample = [f for f in files if f.case in FAST_PDF_CASES]
    truncated = [f for f in files if f.family == "truncated-pdf"]
    sample.append(truncated[len(truncated) // 2])  # cut mid-file: MuPDF has to repair it
    taken: dict[str, int] = {}
    for hostile in files:
        if hostile.is_pdf_like or hostile.case == "size-cap/exactly-at-cap":
            continue
        if taken.get(hostile.family, 0) < cheap_per_family:
            taken[hostile.family] = taken.get(hostile.family, 0) + 1
            sample.append(hostile)
    return sample
