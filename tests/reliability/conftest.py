"""Fixtures of the reliability suite: one `meltano install`ed project for the whole session, a fresh
sandbox and a fresh pipeline work dir (chdb + Meltano system database) per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from qtickets_sandbox.testing import SandboxServer
from reliability_harness import TOKEN, Pipeline

# Small but varied: every scenario still sees sold, refunded and cancelled tickets.
SANDBOX = {"seed": 5, "orders": 250, "events": 5}


@pytest.fixture(params=[True, False], ids=["refund-bumps-order", "refund-leaves-order"])
def refund_bumps_order(request) -> bool:
    """Production leaves open whether a refund bumps the order (qtickets-api.md §17): every scenario runs
    in both worlds."""
    return request.param


@pytest.fixture
def sandbox(refund_bumps_order):
    with SandboxServer(token=TOKEN, semantics={"refund_bumps_order": refund_bumps_order}, **SANDBOX) as sb:
        yield sb


@pytest.fixture
def pipe(project, sandbox, tmp_path) -> Pipeline:
    pipeline = Pipeline(project, tmp_path, sandbox.base_url)
    # The project's run state (overlap lock, spool of unrecorded run rows) is shared by the session's
    # tests; a row left by an earlier test must not show up in this test's meta_job_runs.
    spool = pipeline.settings().state_dir / "pending_runs.jsonl"
    spool.unlink(missing_ok=True)
    return pipeline
