"""Service images: each Dockerfile builds one service with libs/common and that
service's locked dependency closure, with the handler the contract fixes, from base
images pinned by digest and packages checked against the hashes in uv.lock. Docker is
not available here, so the Dockerfiles are read statically and the closure is checked
through the very `uv export` command each Dockerfile runs."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
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
# What the images run on: Lambda arm64 on Amazon Linux 2023 (glibc 2.34).
IMAGE_PLATFORM = "aarch64-manylinux_2_34"

PINNED_IMAGE = re.compile(r"[^\s@:]+:[^\s@]+@sha256:[0-9a-f]{64}")
EXACT_VERSION = re.compile(r"\d+\.\d+\.\d+")
# Anything else that fetches or installs code, whatever the tool.
INSTALLER = re.compile(
    r"\b(?:pip3?|easy_install|micro-?dnf|dnf|yum|rpm|apt-get|apt|apk|npm|gem|curl|wget|git)\b"
    r"|\buv\s+(?:pip|tool|add|sync|run|python\s+install)\b"
)
# The only package install: the exported lock, exactly as exported, hashes required.
LOCKED_INSTALL_FLAGS = {"--require-hashes", "--no-deps", "--no-build"}
LOCKED_INSTALL_OPTIONS = {"--python", "--target", "-r"}
OUTPUT = ["-o", "/requirements.txt"]
EXPORTED = "--from=export /requirements.txt /requirements.txt"


def _dockerfile(service: str) -> str:
    return (REPO / "services" / service / "Dockerfile").read_text()


def _instructions(text: str) -> list[tuple[str, str]]:
    """(keyword, arguments) per Dockerfile instruction, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return instructions


def unpinned_images(text: str) -> list[str]:
    """Every image the build pulls that is not `image:tag@sha256:<64 hex>`: the syntax
    frontend and each FROM that does not name an earlier stage."""
    problems = []
    syntax = re.match(r"#\s*syntax=(\S+)", text)
    if syntax is None or not PINNED_IMAGE.fullmatch(syntax.group(1)):
        problems.append(f"frontend: {syntax.group(1) if syntax else 'none'}")
    stages: set[str] = set()
    for keyword, arguments in _instructions(text):
        if keyword != "FROM":
            continue
        words = [w for w in arguments.split() if not w.startswith("--platform=")]
        image = words[0]
        reference = re.sub(r":\$\{\w+\}@", ":tag@", image)  # a version ARG as the tag
        if image not in stages and not PINNED_IMAGE.fullmatch(reference):
            problems.append(f"FROM {image}")
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])
    return problems


def _arg_defaults(text: str) -> dict[str, str]:
    return dict(
        arguments.split("=", 1)
        for keyword, arguments in _instructions(text)
        if keyword == "ARG" and "=" in arguments
    )


def _commands(run: str) -> list[str]:
    shell = re.sub(r"--mount=\S+\s*", "", run)
    return [c.strip() for c in re.split(r"&&|\|\||;|\|", shell) if c.strip()]


def _uv_pip_install_problem(command: str) -> str | None:
    words = shlex.split(command)[3:]
    flags: list[str] = []
    options: dict[str, list[str]] = {}
    while words:
        word = words.pop(0)
        if word in LOCKED_INSTALL_OPTIONS and words:
            options.setdefault(word, []).append(words.pop(0))
        else:
            flags.append(word)
    if set(flags) != LOCKED_INSTALL_FLAGS or options.get("-r") != ["/requirements.txt"]:
        return f"not a hash-checked install of exactly the exported lock: {command}"
    return None


def _command_problem(command: str) -> str | None:
    """What is wrong with one shell command of a RUN step, if anything."""
    words = command.split()
    if command.startswith("uv pip install "):
        return _uv_pip_install_problem(command)
    if command.startswith("uv python install "):
        if words[3:] != ["${PYTHON_VERSION}"]:
            return f"CPython not pinned to PYTHON_VERSION: {command}"
        return None
    if command.startswith("uv export "):
        if "--frozen" not in words or "--no-hashes" in words or words[-2:] != OUTPUT:
            return f"export not frozen, without hashes or elsewhere: {command}"
        return None
    if INSTALLER.search(command):
        return f"unchecked install or download: {command}"
    return None


def _file_problem(keyword: str, arguments: str) -> str | None:
    """What is wrong with one ADD/COPY step, if anything."""
    if keyword == "ADD" and re.search(r"\b(?:https?|git)(?:://|@)", arguments):
        return f"ADD of a remote source: {arguments}"
    if arguments.endswith(" /requirements.txt") and arguments != EXPORTED:
        return f"requirements not from the export stage: {arguments}"
    return None


def install_problems(text: str) -> list[str]:
    """Install steps that are not hash-checked or not from the exported lock: every
    package install must be `uv pip install --require-hashes --no-deps --no-build -r
    /requirements.txt` of the file `uv export --frozen` wrote (with hashes), CPython
    comes from `uv python install` of an exact version, and nothing else in the build
    installs or downloads anything."""
    problems = []
    python_version = _arg_defaults(text).get("PYTHON_VERSION", "")
    if not EXACT_VERSION.fullmatch(python_version):
        problems.append(f"PYTHON_VERSION is not an exact patch version: {python_version!r}")
    for keyword, arguments in _instructions(text):
        if keyword in {"ADD", "COPY"}:
            problems.append(_file_problem(keyword, arguments) or "")
        elif keyword == "RUN":
            problems.extend(_command_problem(c) or "" for c in _commands(arguments))
    return [problem for problem in problems if problem]


def _export_command(text: str) -> list[str]:
    """The Dockerfile's own `uv export`, writing to stdout instead of a file."""
    run = next(
        arguments
        for keyword, arguments in _instructions(text)
        if keyword == "RUN" and arguments.startswith("uv export ")
    )
    words = shlex.split(run)
    output = words.index("-o")
    return words[:output] + words[output + 2 :]


def _export(service: str) -> str:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv not on PATH")
    command = _export_command(_dockerfile(service))
    result = subprocess.run(
        [uv, *command[1:]],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout


def requirements(exported: str) -> dict[str, list[str]]:
    """Package name -> its `--hash=` values, from `uv export` output."""
    logical = re.sub(r"\\\n", " ", exported)
    found: dict[str, list[str]] = {}
    for line in logical.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name = re.split(r"[=<>!~;\s\[]", line, maxsplit=1)[0].lower()
            found[name] = re.findall(r"--hash=(sha256:[0-9a-f]{64})\b", line)
    return found


def unhashed(exported: str) -> list[str]:
    return sorted(name for name, hashes in requirements(exported).items() if not hashes)


def _closure(service: str) -> set[str]:
    return set(requirements(_export(service)))


@pytest.mark.parametrize("service", sorted(HANDLERS))
def test_dockerfile_builds_one_service(service: str) -> None:
    text = _dockerfile(service)
    assert f'CMD ["{HANDLERS[service]}"]' in text
    assert f"--package docpipe-{service} " in text
    assert "uv export --frozen --no-dev" in text
    assert 'ENTRYPOINT ["/opt/uv-python/python3", "-m", "awslambdaric"]' in text
    copied = set(re.findall(r"COPY --from=export /src/(\S+)/src/docpipe ", text))
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


@pytest.mark.parametrize("service", sorted(HANDLERS))
def test_every_image_is_pinned_by_digest(service: str) -> None:
    assert unpinned_images(_dockerfile(service)) == []


def test_services_share_one_set_of_pins() -> None:
    """One refresh moves all three images: the pinned references and versions agree."""

    def pins(text: str) -> tuple[str, ...]:
        froms = [a for k, a in _instructions(text) if k == "FROM" and "@sha256:" in a]
        versions = [f"{k}={v}" for k, v in sorted(_arg_defaults(text).items())]
        return (text.splitlines()[0], *froms, *versions)

    assert len({pins(_dockerfile(service)) for service in HANDLERS}) == 1


@pytest.mark.parametrize("service", sorted(HANDLERS))
def test_every_install_is_hash_checked_from_the_lock(service: str) -> None:
    assert install_problems(_dockerfile(service)) == []


def _replace(old: str, new: str) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return mutate


def _add_step(instruction: str) -> Callable[[str], str]:
    return _replace("\nFROM python AS project", f"\n{instruction}\n\nFROM python AS project")


UPLOAD = _dockerfile("upload")
LAMBDA_BASE = "public.ecr.aws/lambda/provided:al2023"
_pinned_base = re.search(rf"{re.escape(LAMBDA_BASE)}@sha256:[0-9a-f]{{64}}", UPLOAD)
assert _pinned_base is not None
PINNED_BASE = _pinned_base.group(0)
UV_DIGEST = "cdc6093146eb3ff6a40107b38f008b789e050e77ad87865e381d9917da55a168"
LOCKED = "--require-hashes --no-deps --no-build -r /requirements.txt"
# (what breaks, the check that must notice, how the upload Dockerfile is broken)
SABOTAGE: list[tuple[str, Callable[[str], list[str]], Callable[[str], str]]] = [
    ("base by tag only", unpinned_images, _replace(PINNED_BASE, LAMBDA_BASE)),
    ("digest without tag", unpinned_images, _replace("provided:al2023@", "provided@")),
    ("short digest", unpinned_images, _replace(UV_DIGEST, UV_DIGEST[:12])),
    ("image from a build arg", unpinned_images, _replace(PINNED_BASE, "${LAMBDA_BASE}")),
    (
        "unpinned final stage",
        unpinned_images,
        _replace("\nFROM lambda-base\n", f"\nFROM {LAMBDA_BASE}\n"),
    ),
    ("frontend by tag", unpinned_images, _replace("dockerfile:1.7.1@sha256:", "dockerfile:1.7 #")),
    (
        "awslambdaric by version",
        install_problems,
        _add_step("RUN uv pip install awslambdaric==4.2.2"),
    ),
    (
        "hashes not required",
        install_problems,
        _replace(LOCKED, LOCKED.replace("--require-hashes ", "")),
    ),
    ("dependencies resolved", install_problems, _replace(LOCKED, LOCKED.replace("--no-deps ", ""))),
    ("sdists built", install_problems, _replace(LOCKED, LOCKED.replace("--no-build ", ""))),
    ("one more package", install_problems, _replace(LOCKED, f"{LOCKED} boto3")),
    ("another index", install_problems, _replace(LOCKED, f"{LOCKED} --index-url https://x.test")),
    (
        "local project built",
        install_problems,
        _add_step("RUN uv pip install --no-deps /src/libs/common"),
    ),
    (
        "hand-made requirements",
        install_problems,
        _replace("--from=export /requirements.txt", "requirements.txt"),
    ),
    (
        "export without hashes",
        install_problems,
        _replace("--extra lambda -o", "--no-hashes --extra lambda -o"),
    ),
    ("export re-resolves", install_problems, _replace("uv export --frozen", "uv export")),
    (
        "CPython by minor",
        install_problems,
        _replace("PYTHON_VERSION=3.11.17", "PYTHON_VERSION=3.11"),
    ),
    ("CPython by literal", install_problems, _replace("install ${PYTHON_VERSION}", "install 3.12")),
    ("OS package", install_problems, _add_step("RUN dnf install -y gcc")),
    ("pip from PyPI", install_problems, _add_step("RUN /opt/uv-python/python3 -m pip install x")),
    ("downloaded script", install_problems, _add_step("RUN curl -sSL https://x.test/i.sh | sh")),
    ("remote ADD", install_problems, _add_step("ADD https://x.test/x.tar.gz /x.tar.gz")),
]


@pytest.mark.parametrize("name", [name for name, _, _ in SABOTAGE])
def test_image_checks_catch(name: str) -> None:
    check, mutate = next((c, m) for n, c, m in SABOTAGE if n == name)
    assert check(UPLOAD) == [], "the sabotage must start from a passing Dockerfile"
    assert check(mutate(UPLOAD)), f"{check.__name__} missed: {name}"


@pytest.mark.parametrize("service", sorted(HANDLERS))
def test_exported_closure_is_hashed_and_carries_the_runtime_client(service: str) -> None:
    exported = _export(service)
    found = requirements(exported)
    assert "awslambdaric" in found and found["awslambdaric"], "runtime client not hash-locked"
    assert len(found) > 20, "the export is not this service's closure"
    assert unhashed(exported) == []
    # The check itself can fail: the same export with one package's hashes dropped.
    broken = re.sub(r"(awslambdaric==\S+)(?: \\\n\s+--hash=\S+)+", r"\1", exported)
    assert unhashed(broken) == ["awslambdaric"]


def _install_for_image(exported: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The image's install step (`deps` stage), run here for the image's platform."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv not on PATH")
    requirements_file = tmp_path / "requirements.txt"
    requirements_file.write_text(exported)
    python_version = _arg_defaults(UPLOAD)["PYTHON_VERSION"]
    return subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", sys.executable]
        + ["--python-platform", IMAGE_PLATFORM, "--python-version", python_version]
        + ["--target", str(tmp_path / "task"), *sorted(LOCKED_INSTALL_FLAGS)]
        + ["-r", str(requirements_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("service", sorted(HANDLERS))
def test_exported_closure_installs_for_lambda_arm64_from_wheels(
    service: str, tmp_path: Path
) -> None:
    """Every package of the closure has a wheel for the image's platform (nothing to
    compile in the image) and matches its locked hash."""
    installed = _install_for_image(_export(service), tmp_path)
    assert installed.returncode == 0, installed.stderr
    assert (tmp_path / "task" / "awslambdaric").is_dir()


def test_image_install_rejects_a_file_that_is_not_the_locked_one(tmp_path: Path) -> None:
    exported = _export("query")
    hashes = requirements(exported)["awslambdaric"]
    tampered = exported
    for digest in hashes:
        tampered = tampered.replace(digest, digest[:-1] + ("0" if digest[-1] != "0" else "1"))
    installed = _install_for_image(tampered, tmp_path)
    assert installed.returncode != 0
    assert "awslambdaric" in installed.stderr and "hash" in installed.stderr.lower()


def test_dependency_closures_are_per_service() -> None:
    closures = {service: _closure(service) for service in HANDLERS}
    assert "pymupdf" in closures["processor"]
    assert "pymupdf" not in closures["query"] and "pymupdf" not in closures["upload"]
    assert "python-multipart" not in closures["query"]
    for service, closure in closures.items():
        assert not closure & DEV_ONLY, f"{service} image would carry {closure & DEV_ONLY}"


def test_migration_handler_lives_in_the_processor_image() -> None:
    assert MIGRATE_HANDLER.startswith("docpipe.processor.")
