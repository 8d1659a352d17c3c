"""Service images: each Dockerfile builds one service with libs/common and that
service's locked dependency closure, with the handler the contract fixes. Docker is
not available here, so the closure is checked through the same `uv export` the
Dockerfile runs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from docpipe.infra.migrations import MIGRATE_HANDLER

REPO = Path(__file__).resolve().parents[2]
HANDLERS = {
    "upload": "docpipe.upload.main.handler",
    "processor": "docpipe.processor.handler.handler",
    "query": "docpipe.query.main.handler",
}
DEV_ONLY = {
    "pulumi",
    "pulumi-aws",
    "pulumi-random",
    "moto",
    "pgserver",
    "pytest",
    "hypothesis",
    "sentence-transformers",
    "torch",
}


def _dockerfile(service: str) -> str:
    return (REPO / "services" / service / "Dockerfile").read_text()


@pytest.mark.parametrize("service", sorted(HANDLERS))
def test_dockerfile_builds_one_service(service: str) -> None:
    text = _dockerfile(service)
    assert f'CMD ["{HANDLERS[service]}"]' in text
    assert f"--package docpipe-{service} " in text
    assert "uv export --frozen --no-dev" in text
    assert 'ENTRYPOINT ["/opt/uv-python/python3", "-m", "awslambdaric"]' in text
    copied = set(re.findall(r"COPY --from=export /src/(\S+) ", text))
    assert copied == {"libs/common", f"services/{service}"}
    others = set(HANDLERS) - {service}
    assert not any(f"services/{other}" in text for other in others)


@pytest.mark.parametrize("service", sorted(HANDLERS))
def test_build_context_holds_only_that_service(service: str) -> None:
    ignore = (REPO / "services" / service / "Dockerfile.dockerignore").read_text().splitlines()
    included = {line[1:] for line in ignore if line.startswith("!")}
    assert ignore[ignore.index("*")] == "*"
    assert f"services/{service}/" in included and "libs/common/" in included
    assert not any(p.startswith("services/") and p != f"services/{service}/" for p in included)


def _closure(service: str) -> set[str]:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv not on PATH")
    result = subprocess.run(
        [
            uv,
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-workspace",
            "--no-hashes",
            "--package",
            f"docpipe-{service}",
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {
        line.split("==")[0].strip().lower()
        for line in result.stdout.splitlines()
        if "==" in line and not line.startswith("#")
    }


def test_dependency_closures_are_per_service() -> None:
    closures = {service: _closure(service) for service in HANDLERS}
    assert "pymupdf" in closures["processor"]
    assert "pymupdf" not in closures["query"] and "pymupdf" not in closures["upload"]
    assert "python-multipart" not in closures["query"]
    for service, closure in closures.items():
        assert not closure & DEV_ONLY, f"{service} image would carry {closure & DEV_ONLY}"


def test_migration_handler_lives_in_the_processor_image() -> None:
    assert MIGRATE_HANDLER.startswith("docpipe.processor.")
