"""48 simulated hours of plain scheduled runs (`qtickets-pipeline run`), the sandbox clock advanced 30 min
to 6 h between them: after every run each paid ticket in v_sales_latest equals the truth in every field,
and attendance per show × zone too — whether refunds bump the order's updated_at or not."""

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
GAPS = [30, 60, 120, 180, 240, 360]


@pytest.mark.parametrize("bumps", [True, False], ids=["refund-bumps-order", "refund-leaves-order"])
def test_48_hours_of_scheduled_runs_stay_exact(project, tmp_path, bumps):
    rng = random.Random(48)
    with SandboxServer(seed=5, orders=400, events=6, token=TOKEN,
                       semantics={"refund_bumps_order": bumps}) as sb:
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
    assert {r[0] for r in history} == {"success"} and len(history) >= 48 * 60 // max(GAPS)
    only_tickets = [t for t in truth["tickets"] if t["updated_at"] > t["order_updated_at"]]
    assert any(t["checked_at"] for t in only_tickets), "no scan under an unchanged order"
    if not bumps:
        assert any(t["refunded_at"] for t in only_tickets), "no refund under an unchanged order"
