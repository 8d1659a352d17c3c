"""Machine facts, result tables and result files shared by every benchmark.

Each benchmark prints its table(s) followed by the conditions it ran under, and writes
``bench/results/<name>.json`` (figures + conditions) for docs/benchmarks.md to quote.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "RESULTS_DIR",
    "conditions",
    "percentiles",
    "print_conditions",
    "print_table",
    "write_results",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
_PACKAGES = (
    "pymupdf",
    "asyncpg",
    "pgvector",
    "pgserver",
    "fastapi",
    "uvicorn",
    "httpx",
    "moto",
    "aioboto3",
    "numpy",
)
SHARED_NOTE = (
    "2 vCPUs shared with other engineers' concurrent test runs and servers: wall times are "
    "noisy (see load average); CPU-time figures are reported where they apply"
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def _versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def conditions(**extra: Any) -> dict[str, Any]:
    """Facts about the machine and software this run used (``extra`` adds run facts)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _git_commit(),
        "versions": _versions(),
        "note": SHARED_NOTE,
        **extra,
    }


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95, 99)) -> dict[str, float]:
    """Nearest-rank-interpolated percentiles (numpy's default 'linear')."""
    import numpy as np

    if not values:
        return {f"p{q:g}": float("nan") for q in qs}
    arr = np.asarray(values, dtype=float)
    return {f"p{q:g}": float(np.percentile(arr, q)) for q in qs}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def print_table(title: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """A Markdown table (column order of the first row), ready to paste into the docs."""
    print(f"\n### {title}\n")
    if not rows:
        print("(no rows)")
        return
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        print("| " + " | ".join(_fmt(row.get(c, "")) for c in columns) + " |")


def print_conditions(facts: Mapping[str, Any]) -> None:
    print("\nConditions:")
    for key, value in facts.items():
        print(f"  {key}: {value}")


def write_results(name: str, payload: Mapping[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n")
    print(f"\nresults written to {path}")
    return path


if __name__ == "__main__":
    print_conditions(conditions(argv=sys.argv[1:]))
