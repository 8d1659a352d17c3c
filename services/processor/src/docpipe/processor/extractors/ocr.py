"""Reading a scanned page with OCR: RapidOCR (PP-OCRv6 small models) on ONNX Runtime.

Chosen by measurement (docs/benchmarks.md, "Scanned PDFs"): the rapidocr wheel ships its
detection and recognition models, and PP-OCRv6's recognition model reads Traditional and
Simplified Chinese, English and Japanese, so nothing is downloaded at run time and no
system package is needed (Tesseract would need its binary and ``chi_tra`` data from the
OS). The engine is built once per extraction child, on the first page that needs it, with
one inference thread (the child's CPU limit is per process; a Lambda vCPU is one core).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["PageReader", "bundled_models"]

#: Largest rendered page, in pixels (an A4 page at 200 dpi is 3.9 Mpx): a hostile page
#: size must not turn into gigabytes of pixels.
MAX_PIXELS = 16_000_000
_MODELS = {
    "Det.model_path": "PP-OCRv6_det_small.onnx",
    "Rec.model_path": "PP-OCRv6_rec_small.onnx",
}


def bundled_models() -> dict[str, Path]:
    """The model files inside the installed rapidocr package (never a download)."""
    import rapidocr

    folder = Path(rapidocr.__file__).parent / "models"
    paths = {key: folder / name for key, name in _MODELS.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"OCR models missing from the rapidocr package: {missing}")
    return paths


class PageReader:
    """Renders PDF pages and reads them; the engine is created on first use."""

    def __init__(self, *, dpi: int) -> None:
        self.dpi = dpi
        self._engine: Any = None

    def _build(self) -> Any:
        import cv2
        from rapidocr import RapidOCR

        cv2.setNumThreads(1)
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.use_cls": False,  # upright scans; the angle classifier costs ~20 %
            "EngineConfig.onnxruntime.intra_op_num_threads": 1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            "Det.limit_type": "max",
            "Det.limit_side_len": 1600,
        }
        params.update({key: str(path) for key, path in bundled_models().items()})
        return RapidOCR(params=params)

    def read(self, page: Any) -> str:
        """The text of one PyMuPDF page, lines top to bottom."""
        import numpy as np

        from docpipe.processor.extractors.pdf import import_pymupdf

        pymupdf = import_pymupdf()

        if self._engine is None:
            self._engine = self._build()
        rect = page.rect
        scale = self.dpi / 72
        pixels = rect.width * scale * rect.height * scale
        if pixels > MAX_PIXELS:
            scale *= math.sqrt(MAX_PIXELS / pixels)
        pix = page.get_pixmap(matrix=pymupdf.Matrix(scale, scale), colorspace=pymupdf.csRGB)
        image = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.width, 3)
        result = self._engine(image)
        lines = result.txts or ()
        return "\n".join(line.strip() for line in lines if line.strip())
