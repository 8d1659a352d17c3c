"""Cold start: import time of each service's Lambda handler module, and its first invocation.

For each of ``docpipe.upload.main``, ``docpipe.query.main`` and
``docpipe.processor.handler``:

- the import, timed inside fresh interpreters (median of ``--runs``), plus the whole
  interpreter (start-up + import) as seen from outside;
- ``python -X importtime``: the heaviest imports (cumulative) under the module;
- in another fresh interpreter against the embedded stack (pgserver + moto): the first
  invocation of the module's ``handler`` with an AWS-shaped event (it builds the app,
  opens the pool, creates clients), and a second one.

    uv run python -m bench.cold_start [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._conditions import conditions, print_conditions, print_table, write_results
from bench._first_request import MODULES
from bench._stack import (
    Stack,
    create_database,
    embedded_stack,
    use_compiled_bytecode,
    warm_bytecode,
)

__all__ = ["main"]

TARGET_IMPORT_S = 0.5
ROOT = Path(__file__).resolve().parents[1]
_IMPORTTIME = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s+)(\S+)")


def _python(code: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *extra, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )


def import_times(module: str, runs: int) -> dict[str, Any]:
    code = (
        "import time; t, c = time.perf_counter(), time.process_time(); "
        f"import {module}; "
        "print(time.perf_counter() - t, time.process_time() - c)"
    )
    inner, cpu, outer = [], [], []
    for _ in range(runs):
        t = time.perf_counter()
        wall_s, cpu_s = map(float, _python(code).stdout.split())
        outer.append(time.perf_counter() - t)
        inner.append(wall_s)
        cpu.append(cpu_s)
    bare = [0.0] * 3
    for i in range(3):
        t = time.perf_counter()
        _python("pass")
        bare[i] = time.perf_counter() - t
    return {
        "module": module,
        "runs": runs,
        "import_s_median": statistics.median(inner),
        "import_s_min": min(inner),
        "import_cpu_s_median": statistics.median(cpu),
        "import_s_all": inner,
        "process_s_median": statistics.median(outer),
        "bare_interpreter_s_median": statistics.median(bare),
    }


def top_imports(module: str, count: int = 10) -> list[dict[str, Any]]:
    """The direct imports of ``module`` with the largest cumulative time.

    ``-X importtime`` prints post-order (children before their parent, one indentation
    step deeper), so the module's subtree is the run of deeper lines just above its own.
    """
    stderr = _python(f"import {module}", "-X", "importtime").stderr
    entries: list[dict[str, Any]] = []
    for line in stderr.splitlines():
        m = _IMPORTTIME.match(line)
        if m:
            depth = (len(m.group(3)) - 1) // 2
            entries.append(
                {"module": m.group(4), "cumulative_ms": int(m.group(2)) / 1000,
                 "self_ms": int(m.group(1)) / 1000, "depth": depth}
            )  # fmt: skip
    end = max(i for i, e in enumerate(entries) if e["module"] == module and e["depth"] == 0)
    start = end
    while start > 0 and entries[start - 1]["depth"] > 0:
        start -= 1
    direct = [e for e in entries[start:end] if e["depth"] == 1]
    direct.sort(key=lambda e: -e["cumulative_ms"])
    return direct[:count]


async def _put_document(stack: Stack) -> tuple[str, str]:
    """A small text document uploaded through the upload app; returns (key, version)."""
    import boto3
    import httpx

    from docpipe.common.db import close_pool
    from docpipe.common.runtime import close_loop_resources
    from docpipe.upload.config import UploadSettings
    from docpipe.upload.main import create_app

    transport = httpx.ASGITransport(app=create_app(UploadSettings()))  # type: ignore[call-arg]
    async with httpx.AsyncClient(transport=transport, base_url="http://upload") as client:
        text = "Overtime needs the manager's approval before the work is done.\n" * 200
        response = await client.post(
            "/v1/documents", files=[("file", ("policy.txt", text.encode(), "text/plain"))]
        )
        response.raise_for_status()
    await close_pool()
    await close_loop_resources()
    assert stack.aws is not None
    s3 = boto3.client("s3", endpoint_url=stack.aws.endpoint_url, region_name="ap-northeast-1")
    objects = s3.list_object_versions(Bucket=stack.aws.bucket, Prefix="uploads/")["Versions"]
    latest = objects[0]
    return latest["Key"], latest["VersionId"]


def first_requests(stack: Stack) -> list[dict[str, Any]]:
    key, version = asyncio.run(_put_document(stack))
    rows = []
    for service in MODULES:
        extra = [key, version] if service == "processor" else []
        out = subprocess.run(
            [sys.executable, "-m", "bench._first_request", service, *extra],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "LOG_LEVEL": "WARNING"},
        )
        line = next(
            (x for x in reversed(out.stdout.splitlines()) if x.startswith('{"service')), None
        )
        if line is None:
            raise RuntimeError(f"{service}: {out.stdout[-2000:]}\n{out.stderr[-2000:]}")
        rows.append(json.loads(line))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    bytecode = use_compiled_bytecode()
    warm_bytecode("docpipe.upload.main", "docpipe.query.main", "docpipe.processor.handler")
    imports = [import_times(m, args.runs) for m in MODULES.values()]
    tops = {m: top_imports(m) for m in MODULES.values()}
    with embedded_stack("cold") as stack:
        os.environ["DATABASE_URL"] = asyncio.run(
            create_database(stack, database="docpipe", dimensions=384)
        )
        firsts = first_requests(stack)
    by_module = {f["service"]: f for f in firsts}
    print_table(
        f"Handler module import in a fresh interpreter (median of {args.runs})",
        [
            {
                "service": service,
                "module": i["module"],
                "import s": i["import_s_median"],
                "min s": i["import_s_min"],
                "import CPU s": i["import_cpu_s_median"],
                "interpreter + import s": i["process_s_median"],
                "bare interpreter s": i["bare_interpreter_s_median"],
                "first invocation s": by_module[service]["first_s"],
                "second s": by_module[service]["second_s"],
                "target import": f"<= {TARGET_IMPORT_S}",
                "met": "yes" if i["import_s_median"] <= TARGET_IMPORT_S else "no",
            }
            for service, i in zip(MODULES, imports, strict=True)
        ],
    )
    for module, rows in tops.items():
        print_table(
            f"Heaviest imports under {module} (-X importtime, cumulative)",
            [
                {
                    "import": r["module"],
                    "cumulative ms": r["cumulative_ms"],
                    "self ms": r["self_ms"],
                }
                for r in rows
            ],
        )
    targets = {
        f"import_{service}": {
            "target": TARGET_IMPORT_S,
            "measured": i["import_s_median"],
            "met": i["import_s_median"] <= TARGET_IMPORT_S,
        }
        for service, i in zip(MODULES, imports, strict=True)
    }
    print("\nTargets:", json.dumps(targets, indent=2))
    facts = conditions(runs=args.runs, bytecode=bytecode)
    print_conditions(facts)
    write_results(
        "cold_start",
        {
            "imports": imports,
            "top_imports": tops,
            "first_invocation": firsts,
            "targets": targets,
            "conditions": facts,
        },
    )


if __name__ == "__main__":
    main()
