"""Every benchmark module imports (benchmarks themselves are commands, never tests)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench

#: every module of bench/, found rather than listed: a new benchmark cannot be forgotten
BENCHES = sorted(m.name for m in pkgutil.iter_modules(bench.__path__, "bench."))


@pytest.mark.parametrize("name", BENCHES)
def test_bench_module_imports(name: str) -> None:
    module = importlib.import_module(name)
    assert callable(getattr(module, "main", None)) or module.__all__
