"""Export the upload and query services' OpenAPI documents into docs/openapi/.

    uv run python scripts/export_openapi.py          # write docs/openapi/{upload,query}.json
    uv run python scripts/export_openapi.py --check  # exit 1 if the files are out of date

The documents do not depend on configuration; the apps are built with placeholder
settings and nothing is connected.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1] / "docs" / "openapi"
_PLACEHOLDERS: dict[str, Any] = {
    "auth_mode": "jwt",
    "jwt_secret": "openapi-export-placeholder-secret",
    "jwt_issuer": "https://openapi-export.invalid/",
    "database_url": "postgresql://openapi-export@localhost/none",
}


def _upload() -> dict[str, Any]:
    from docpipe.upload.config import UploadSettings
    from docpipe.upload.main import create_app

    settings = UploadSettings(ingest_queue_url="https://sqs.invalid/q", **_PLACEHOLDERS)
    return create_app(settings).openapi()


def _query() -> dict[str, Any]:
    from docpipe.query.config import QuerySettings
    from docpipe.query.main import create_app

    return create_app(QuerySettings(**_PLACEHOLDERS)).openapi()


SERVICES: dict[str, Callable[[], dict[str, Any]]] = {"upload": _upload, "query": _query}


def render(service: str) -> str:
    """The document of ``service`` exactly as written to docs/openapi/<service>.json."""
    return json.dumps(SERVICES[service](), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args()
    stale = []
    for service in SERVICES:
        path = DOCS / f"{service}.json"
        text = render(service)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        DOCS.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if stale:
        print("out of date (run scripts/export_openapi.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
