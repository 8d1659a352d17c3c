"""The stack's inventories under Pulumi's mocks (:mod:`docpipe.testkit.pulumi_program`),
one per scenario; guardrail tests are plain assertions over them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from docpipe.testkit.pulumi_program import DIGESTS, Inventory, dev_config, run_program


@pytest.fixture(scope="session")
def inventory() -> Inventory:
    """The dev stack with all three services deployed."""
    return run_program(dev_config(**DIGESTS))


@pytest.fixture(scope="session")
def bootstrap_inventory() -> Inventory:
    """The dev stack as committed: no image digests yet (first `pulumi up`)."""
    return run_program(dev_config())


@pytest.fixture(scope="session")
def deploy_with() -> Iterator[Callable[..., Inventory]]:
    """Run the dev stack with the given image digests (service=digest keywords)."""
    yield lambda **digests: run_program(dev_config(**digests))


@pytest.fixture(scope="session")
def deploy_configured() -> Iterator[Callable[..., Inventory]]:
    """Run the dev stack, all images deployed, with config sections overridden."""

    def run(sections: dict[str, dict[str, Any]]) -> Inventory:
        return run_program(dev_config(sections, **DIGESTS))

    yield run
