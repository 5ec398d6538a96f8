"""Scenarios 10-13: the warehouse locked, plugins killed with SIGKILL mid-run, two runs at once."""

from __future__ import annotations

import json

import pytest
from reliability_harness import (
    api_requests,
    assert_failed_run,
    finish_scenario,
    job_runs,
    kill_when,
    wait_for,
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
        assert "Code: 76" in failed.stderr or "lock" in failed.stderr.lower(), failed.stderr[-3000:]
        assert not api_requests(sandbox), "the run read the API although it could not store anything"
        # The failed row waits in the spool (ClickHouse could not be opened to write it).
        spool = pipe.settings().state_dir / "pending_runs.jsonl"
        spooled = [json.loads(line) for line in spool.read_text().splitlines()]
        warehouse = pipe.settings().warehouse
        assert [(r["warehouse"], r["run"]["status"]) for r in spooled] == [(warehouse, "failed")]
    assert pipe.bookmark() is None

    clean = pipe.cli("run")
    assert clean.returncode == 0, clean.stderr[-3000:]
    history = job_runs(pipe)
    assert [r[0] for r in history] == ["failed", "success"]
    assert "76" in history[0][3] or "lock" in history[0][3].lower(), history[0][3]
    finish_scenario(pipe, sandbox)


@pytest.mark.parametrize(
    "scenario, plugin, role",
    [("s11_target_sigkill", "target-clickhouse", "loader"), ("s12_tap_sigkill", "tap-qtickets", "extractor")],
)
def test_plugin_killed_mid_run_fails_loudly_and_next_run_recovers(scenario, plugin, role, pipe, sandbox):
    sandbox.set_faults(SLOW_ORDERS)
    run = pipe.spawn("run", **SMALL_BATCHES)
    kill_when(run, plugin, lambda: len(api_requests(sandbox, "/orders")) >= 5)
    code, output = pipe.finish(run)
    assert_failed_run(pipe, code, output, None, plugin, role)

    sandbox.clear_faults()
    clean = pipe.cli("run", **SMALL_BATCHES)
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert [r[0] for r in job_runs(pipe)] == ["failed", "success"]
    finish_scenario(pipe, sandbox)


def test_s13_second_run_while_one_is_active_is_skipped(pipe, sandbox):
    sandbox.set_faults(SLOW_ORDERS)
    first = pipe.spawn("run", TAP_QTICKETS_PAGE_SIZE="20")
    wait_for(lambda: len(api_requests(sandbox, "/orders")) >= 2, what="the first run to be paging orders")
    second = pipe.cli("run")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "skipped" in second.stdout and "another run" in second.stdout
    assert first.poll() is None, "the first run was disturbed by the second"
    code, output = pipe.finish(first)
    assert code == 0, output[-3000:]

    assert [r[0] for r in job_runs(pipe)] == ["success", "skipped"]
    finish_scenario(pipe, sandbox)
