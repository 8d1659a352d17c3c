"""The web console's build: its unit tests pass, the committed console/dist is exactly what
the sources build to (so `make run` serves the reviewed code), and the JavaScript stays
under the issue's budget of 300 KB gzipped.

Needs Node.js and the console's npm packages (`make browser-tools` installs them; `make
test` runs it first). Without them these tests fail: they never skip.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

CONSOLE = Path(__file__).resolve().parents[2] / "console"
DIST = CONSOLE / "dist"
JS_BUDGET_GZIP = 300 * 1024


def _npm(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    npm = shutil.which("npm")
    assert npm, "the console's tests need Node.js and npm (make browser-tools)"
    assert (CONSOLE / "node_modules").is_dir(), "run `make browser-tools` (npm ci in console/)"
    return subprocess.run(
        [npm, *args], cwd=CONSOLE, capture_output=True, text=True, timeout=timeout, check=False
    )


def _files(root: Path) -> dict[str, bytes]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def test_console_unit_tests_pass() -> None:
    result = _npm("test", "--", "--reporter=dot")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def test_committed_dist_is_what_the_sources_build(tmp_path: Path) -> None:
    """Typechecks (tsc) and builds into a scratch folder; any difference means `make console`
    was not run after a change to console/."""
    out = tmp_path / "dist"
    result = _npm("run", "build", "--", "--outDir", str(out), "--emptyOutDir")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    built, committed = _files(out), _files(DIST)
    assert sorted(built) == sorted(committed), "console/dist is stale: run `make console`"
    changed = [name for name in built if built[name] != committed[name]]
    assert not changed, f"console/dist is stale ({changed}): run `make console`"


def test_javascript_within_budget() -> None:
    sizes = {
        p.name: len(gzip.compress(p.read_bytes(), compresslevel=9)) for p in DIST.rglob("*.js")
    }
    assert sizes, "no JavaScript in console/dist"
    assert sum(sizes.values()) < JS_BUDGET_GZIP, sizes
