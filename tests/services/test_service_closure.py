"""Each service installed alone, from the lock, imports its Lambda handler.

This is what its container image will hold (docs/architecture.md, "Packages"): only that service,
libs/common and their locked dependencies, with the `lambda` extra its Dockerfile exports
(the runtime interface client the image's ENTRYPOINT runs). A shared development
virtualenv would hide an undeclared import; a fresh environment per service does not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = shutil.which("uv") or str(Path(sys.executable).parent / "uv")

SERVICES = {
    # package: (handler module, attribute, modules that must NOT be importable)
    "docpipe-upload": (
        "docpipe.upload.main",
        "handler",
        ["pymupdf", "docpipe.processor", "docpipe.query", "uvicorn", "typer", "rich"],
    ),
    "docpipe-query": (
        "docpipe.query.main",
        "handler",
        ["pymupdf", "docpipe.processor", "docpipe.upload", "multipart", "typer", "rich"],
    ),
    "docpipe-processor": (
        "docpipe.processor.handler",
        "handler",
        ["fastapi", "mangum", "docpipe.upload", "docpipe.query", "typer", "rich"],
    ),
}

SECRET_ARN = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:docpipe-app-AbCdEf"

CHECK = """
import importlib, importlib.util, sys
module, attribute, forbidden = sys.argv[1], sys.argv[2], sys.argv[3:]
handler = getattr(importlib.import_module(module), attribute)
assert callable(handler), f"{module}.{attribute} is not callable"
present = [m for m in forbidden if importlib.util.find_spec(m) is not None]
assert not present, f"not declared by this service, yet installed: {present}"
assert importlib.util.find_spec("awslambdaric"), "no Lambda runtime interface client"
print("ok")
"""


@pytest.fixture(scope="module")
def uv() -> str:
    if not Path(UV).exists() and not shutil.which("uv"):
        pytest.fail("uv is required (the Makefile installs it)")
    return UV


@pytest.mark.parametrize("package", sorted(SERVICES))
def test_service_installs_alone_and_imports_its_handler(
    package: str, uv: str, tmp_path: Path
) -> None:
    module, attribute, forbidden = SERVICES[package]
    requirements = tmp_path / "requirements.txt"
    exported = subprocess.run(
        [
            uv,
            "export",
            "--frozen",
            "--no-dev",
            "--package",
            package,
            "--extra",
            "lambda",
            "--no-hashes",
            "--no-editable",
            "--output-file",
            str(requirements),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    venv = tmp_path / "venv"
    subprocess.run(
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, cwd=ROOT
    )
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), "-r", str(requirements)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        # A Lambda-like environment: configuration only, nothing reachable is needed to import.
        "AWS_LAMBDA_FUNCTION_NAME": f"{package}-closure-test",
        "AWS_REGION": "ap-northeast-1",
        "AUTH_MODE": "apigateway",
        "DATABASE_SECRET_ARN": SECRET_ARN,
        "DATABASE_HOST": "db.internal",
        "DOCUMENTS_BUCKET": "docpipe-documents",
        "INGEST_QUEUE_URL": "https://sqs.ap-northeast-1.amazonaws.com/123456789012/ingest",
        "EMBEDDING_PROVIDER": "bedrock",
    }
    checked = subprocess.run(
        [str(python), "-I", "-c", CHECK, module, attribute, *forbidden],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert checked.returncode == 0 and checked.stdout.strip() == "ok", (
        checked.stdout + checked.stderr
    )
