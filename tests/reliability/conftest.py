"""Fixtures of the reliability suite: one `meltano install`ed project for the whole session (conftest.py at
the root), a fresh sandbox and a fresh pipeline work dir (chdb, Meltano system database and run directory)
per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from qtickets_sandbox.testing import SandboxServer
from reliability_harness import TOKEN, Pipeline

# Small but varied: every scenario still sees sold, refunded and cancelled tickets. The sandbox's default
# refund semantics: whether refunds bump the order matters to the tap's ticket changes, tested both ways
# in tap-qtickets/tests/test_tap_ticket_changes.py and over time in test_pipeline_ticket_changes.py.
SANDBOX = {"seed": 5, "orders": 250, "events": 5}


@pytest.fixture
def sandbox():
    with SandboxServer(token=TOKEN, **SANDBOX) as sb:
        yield sb


@pytest.fixture
def pipe(project, sandbox, tmp_path) -> Pipeline:
    return Pipeline(project, tmp_path, sandbox.base_url)
