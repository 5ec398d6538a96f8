"""Workspace-wide pytest setup, loaded for every test path: where the API captures are, and the test tiers.

Tiers (markers registered in pyproject.toml): every test carries exactly one of `unit`, `integration`,
`e2e`; `make check` runs `unit or (integration and not slow)`, `make test` everything.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Test helpers shared by several suites (and bench/soak.py) live in tests/support, not in the packages.
sys.path.insert(0, str(Path(__file__).resolve().parent / "tests" / "support"))

# Real production responses of the QTickets API, committed with the tests (a byte-identical copy of
# ../shared/qtickets-captures; tests/test_captures_copy.py checks that when ../shared is there).
CAPTURES = Path(__file__).resolve().parent / "tests" / "fixtures" / "qtickets-captures"
TIERS = ("unit", "integration", "e2e")


@pytest.fixture(scope="session")
def captures_dir() -> Path:
    """The directory of the API captures (tests/fixtures/qtickets-captures)."""
    if not CAPTURES.is_dir():
        pytest.fail(f"API captures not found at {CAPTURES}", pytrace=False)
    return CAPTURES


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    """One `meltano install`ed throw-away project for every end-to-end test of the run, shared by the
    pytest-xdist workers (the first one installs it, the others wait on a file lock); each test gets its own
    warehouse, Meltano system database and run directory (tests/support/pipeline_testing.py)."""
    import fcntl

    from pipeline_testing import install_project

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # one directory per test run
    root, done = shared / "meltano-project", shared / "meltano-project.installed"
    with open(shared / "meltano-project.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            install_project(root)
            done.touch()
    return root


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """An unmarked test would silently drop out of `make check`: refuse to run until it has a tier."""
    wrong = [f"{item.nodeid} ({', '.join(tiers) or 'none'})" for item in items
             if len(tiers := [t for t in TIERS if item.get_closest_marker(t)]) != 1]
    if wrong:
        raise pytest.UsageError(f"tests need exactly one tier marker of {TIERS} (see conftest.py):\n  "
                                + "\n  ".join(wrong))
