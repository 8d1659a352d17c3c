"""docs/openapi/*.json are what the services serve (regenerate: scripts/export_openapi.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _exporter() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "export_openapi", ROOT / "scripts/export_openapi.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("service", ["upload", "query"])
def test_published_openapi_matches_the_service(service: str) -> None:
    published = (ROOT / "docs" / "openapi" / f"{service}.json").read_text(encoding="utf-8")
    assert published == _exporter().render(service), (
        f"docs/openapi/{service}.json is out of date: run"
        " `uv run python scripts/export_openapi.py` and commit the result"
    )


def test_query_document_declares_models_and_problem_responses() -> None:
    doc: dict[str, Any] = json.loads(_exporter().render("query"))
    for path, statuses in {
        "/v1/search": {"401", "422", "503"},
        "/v1/answer": {"401", "422", "502", "503"},
    }.items():
        responses = doc["paths"][path]["post"]["responses"]
        assert statuses <= set(responses), path
        for status in statuses:
            assert set(responses[status]["content"]) == {"application/problem+json"}
        assert "$ref" in responses["200"]["content"]["application/json"]["schema"]
    search = doc["components"]["schemas"]["SearchRequest"]["properties"]
    assert search["top_k"]["minimum"] == 1 and search["top_k"]["maximum"] == 50
    assert set(search["mode"]["enum"]) == {"hybrid", "vector", "keyword"}
