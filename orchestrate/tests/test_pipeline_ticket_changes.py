"""48 simulated hours of plain scheduled runs (`qtickets-pipeline run`), the sandbox clock advanced 1 to 6 h
between them: after every run each paid ticket in v_sales_latest equals the truth in every field, and
attendance per show × zone too, the marts refreshed incrementally by every load.

One refund semantics here, the one that needs the tap's ticket-change pass: refunds that leave the order's
updated_at alone (scans always do). Both semantics at the tap level:
tap-qtickets/tests/test_tap_ticket_changes.py."""

from __future__ import annotations

import random

import pytest
from pipeline_testing import (
    TOKEN,
    Pipeline,
    assert_attendance_exact,
    assert_sales_exact,
    runs,
)
from qtickets_sandbox.testing import SandboxServer

pytestmark = pytest.mark.e2e

SIMULATED_MINUTES = 48 * 60
GAPS = [60, 180, 360]  # within the tap's 2-hour look-back (tickets sent again unchanged) and well beyond it


def test_48_hours_of_scheduled_runs_stay_exact(project, tmp_path):
    rng = random.Random(48)
    with SandboxServer(seed=5, orders=400, events=6, token=TOKEN,
                       semantics={"refund_bumps_order": False}) as sb:
        pipe = Pipeline(project, tmp_path, sb.base_url)
        elapsed = 0
        while True:
            result = pipe.cli("run")
            assert result.returncode == 0, result.stderr[-3000:]
            truth = sb.truth()
            assert_sales_exact(pipe, truth)
            assert_attendance_exact(pipe, truth)
            if elapsed >= SIMULATED_MINUTES:
                break
            gap = rng.choice(GAPS)
            sb.advance(gap)
            elapsed += gap
    history = runs(pipe)
    assert {r[0] for r in history} == {"success"} and len(history) >= SIMULATED_MINUTES // max(GAPS)
    only_tickets = [t for t in truth["tickets"] if t["updated_at"] > t["order_updated_at"]]
    assert any(t["checked_at"] for t in only_tickets), "no scan under an unchanged order"
    assert any(t["refunded_at"] for t in only_tickets), "no refund under an unchanged order"
