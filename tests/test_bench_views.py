"""bench/views.py keeps working: on a small generated account it builds staging, refreshes the marts after
the loads and after a 30-minute load, and the views then equal the latest versions in staging. Its timings
are printed for people to read, never asserted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.e2e


def test_views_bench_runs_and_its_views_match_staging():
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "views.py"), "--tickets", "30000", "--loads", "3",
         "--repeat", "1", "--half-hours", "1"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "v_sales_latest equals the latest staging versions afterwards: True" in out, out
    rows = [line for line in out.splitlines() if line.split("(")[0].strip() in {
        "14-day tile", "status counts", "one event's revenue"} or line.startswith(
        ("attendance of one show", "inventory per event", "dim_events lookup"))]
    assert len(rows) == 12, out  # the table before and after the 30-minute loads
    assert out.count("incremental transform after a 30-minute load") == 1, out
