"""Scenarios 10-12: the warehouse locked, the tap or the target killed with SIGKILL mid-run. (The whole run
killed, and a second run while one is active: orchestrate/tests/test_run.py.)"""

from __future__ import annotations

import pytest
from reliability_harness import (
    api_requests,
    failure_lines,
    finish_scenario,
    job_runs,
    kill_when,
)

pytestmark = pytest.mark.e2e

# Slow, small pages so a run spends seconds inside the orders stream (the window for a kill), and
# small target batches so some rows are already inserted when the kill lands.
SLOW_ORDERS = [{"match": "/api/rest/v1/orders", "fault": "delay", "seconds": 0.4}]
SMALL_BATCHES = {"TAP_QTICKETS_PAGE_SIZE": "20", "TARGET_CLICKHOUSE_BATCH_SIZE_ROWS": "60"}


def test_s10_clickhouse_locked_fails_loudly_and_next_run_recovers(pipe, sandbox):
    # Embedded ClickHouse admits one process per directory: hold it from here for the whole run.
    with pipe.client():
        failed = pipe.cli("run")
    assert failed.returncode == 1, failed.stderr[-3000:]
    said = failure_lines(failed.stderr)
    assert len(said) == 1 and ("Code: 76" in said[0] or "held by" in said[0]), failed.stderr[-3000:]
    assert pipe.bookmark() is None

    clean = pipe.cli("run")
    assert clean.returncode == 0, clean.stderr[-3000:]
    # The failed run's row could not be written: the warehouse it belongs in was the held one.
    assert [r[0] for r in job_runs(pipe)] == ["success"]
    finish_scenario(pipe, sandbox)


@pytest.mark.parametrize("plugin, role", [
    pytest.param("target-clickhouse", "loader", id="s11_target_sigkill"),
    pytest.param("tap-qtickets", "extractor", id="s12_tap_sigkill"),
])
def test_plugin_killed_mid_run_fails_loudly_and_next_run_recovers(plugin, role, pipe, sandbox):
    sandbox.set_faults(SLOW_ORDERS)
    run = pipe.spawn("run", **SMALL_BATCHES)
    kill_when(run, plugin, lambda: len(api_requests(sandbox, "/orders")) >= 5)
    code, output = pipe.finish(run)
    assert code == 1, output[-3000:]
    said = failure_lines(output)
    assert len(said) == 1 and output.rstrip().endswith(said[0]), output[-3000:]
    assert pipe.bookmark() is None
    assert len(job_runs(pipe)) == 1  # the killed load, recorded by its target (failed, or running if killed)

    sandbox.clear_faults()
    clean = pipe.cli("run", **SMALL_BATCHES)
    assert clean.returncode == 0, clean.stderr[-3000:]
    (killed, _, _, error, _), (recovered, *_) = job_runs(pipe)
    assert (killed, recovered) == ("failed", "success") and "killed" in error, error
    finish_scenario(pipe, sandbox)
    assert plugin in said[0] and "killed" in said[0], said[0]
