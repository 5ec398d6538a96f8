"""The load ledger and the commit (load_run.py, ledger.py): every load recorded running → success/failed
with its cause and rows per stream; the STATE emitted once, after the after-load hook and the `success`
row, never for a load that did not complete; a bookmark the warehouse does not hold refused."""

from __future__ import annotations

import json
import os
import sys
import types
from datetime import UTC, datetime

import pytest
from target_clickhouse.errors import ConfigError, TargetClickHouseError
from target_clickhouse.ledger import Ledger, LedgerRow
from target_clickhouse.load_run import NO_PRIOR_LOAD, LoadRefusedError, SyncIncompleteError, load_hook

pytestmark = pytest.mark.integration

PROPS = {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}
LEDGER_COLUMNS = "job_name, trigger, status, rows_loaded, http_requests, error, window_start, state"


def sync(status: str, mode: str = "full", error: str | None = None) -> dict:
    """A STATE whose `sync` report is what tap-qtickets writes (sync_report.py)."""
    report = {"tap": "tap-demo", "mode": mode, "status": status, "window_start": "2026-11-01T00:00:00+00:00",
              "window_end": None, "requests": {"things": 3}, "error": error}
    return {"type": "STATE", "value": {"bookmarks": {"things": {"n": 1}}, "sync": report}}


def load(warehouse, *, status: str = "complete", mode: str = "full", error: str | None = None) -> list[dict]:
    return [sync("running", mode), warehouse.schema("things", PROPS, ["id"]),
            warehouse.record("things", {"id": 1, "name": "a"}), warehouse.record("things", {"id": 2}),
            sync(status, mode, error)]


def ledger(warehouse) -> list[dict]:
    names = [n.strip() for n in LEDGER_COLUMNS.split(",")]
    rows = warehouse.query(f"SELECT {LEDGER_COLUMNS} FROM meta_job_runs FINAL ORDER BY started_at")
    return [dict(zip(names, row, strict=True)) for row in rows]


def test_a_complete_sync_is_committed_once_after_its_rows_and_recorded(warehouse):
    states = warehouse.run(load(warehouse), binary=True)
    assert len(states) == 1 and states[0]["sync"]["status"] == "complete"  # the tap's state, once
    [row] = ledger(warehouse)
    assert row["job_name"] == "tap-demo" and row["trigger"] == "meltano" and row["status"] == "success"
    assert row["rows_loaded"] == {"things": 2} and row["http_requests"] == {"things": 3}
    assert row["window_start"] == datetime(2026, 11, 1)
    assert json.loads(row["state"]) == states[0]
    assert warehouse.query("SELECT count() FROM stg_qtickets_things_raw") == [(2,)]


def test_a_failed_sync_commits_nothing_and_records_the_taps_cause(warehouse):
    cause = "tap-demo failed: the API answered 403 (the api_token setting is wrong or revoked)"
    with pytest.raises(SyncIncompleteError, match="403"):
        warehouse.run(load(warehouse, status="failed", error=cause), binary=True)
    [row] = ledger(warehouse)
    assert row["status"] == "failed" and row["error"] == cause and row["state"] == ""


def test_input_that_ends_before_the_sync_completes_is_a_failed_load_without_state(warehouse, capsys):
    with pytest.raises(SyncIncompleteError):
        warehouse.run(load(warehouse)[:-1], binary=True)
    assert capsys.readouterr().out == ""
    [row] = ledger(warehouse)
    assert row["status"] == "failed"
    assert "input ended before tap-demo reported the end of its sync" in row["error"]


def test_a_tap_without_a_sync_report_is_complete_at_the_end_of_input(warehouse):
    messages = [warehouse.schema("things", PROPS, ["id"]), warehouse.record("things", {"id": 7}),
                {"type": "STATE", "value": {"bookmarks": {"things": {"n": 7}}}}]
    states = warehouse.run(messages, run_trigger="cli")
    assert states == [{"bookmarks": {"things": {"n": 7}}}]
    [row] = ledger(warehouse)
    assert (row["job_name"], row["trigger"], row["status"]) == ("singer", "cli", "success")


def test_resuming_from_a_bookmark_needs_a_successful_load_in_this_warehouse(warehouse):
    with pytest.raises(LoadRefusedError) as refused:
        warehouse.run(load(warehouse, mode="incremental"), binary=True)
    assert refused.value.reason == NO_PRIOR_LOAD and "full refresh" in str(refused.value)
    assert [(r["status"], r["state"]) for r in ledger(warehouse)] == [("failed", "")]

    warehouse.run(load(warehouse), binary=True)  # a full load: now the warehouse holds one
    warehouse.run(load(warehouse, mode="incremental"), binary=True)
    assert [r["status"] for r in ledger(warehouse)] == ["failed", "success", "success"]

    warehouse.command(f"DROP TABLE {warehouse.database}.stg_qtickets_things_raw")
    with pytest.raises(LoadRefusedError):  # its tables are gone: as good as a new warehouse
        warehouse.run(load(warehouse, mode="incremental"), binary=True)


@pytest.fixture
def hooks(monkeypatch):
    """A module the `after_load` setting can name, recording its calls."""
    module = types.ModuleType("load_hooks_for_tests")
    module.calls = []

    def record(connector, summary):
        sql = f"SELECT status FROM {connector.database}.meta_job_runs FINAL"
        rows = connector.client.query(sql).result_rows
        module.calls.append((summary, rows))

    def fail(connector, summary):
        raise RuntimeError("the marts could not be refreshed\nsecond line")

    module.record, module.fail = record, fail
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def test_the_after_load_hook_runs_before_success_and_its_failure_fails_the_load(warehouse, hooks, capsys):
    warehouse.run(load(warehouse), binary=True, after_load="load_hooks_for_tests:record")
    [(summary, rows_then)] = hooks.calls
    assert summary.rows_loaded == {"things": 2} and summary.job_name == "tap-demo"
    assert rows_then == [("running",)]  # success is recorded after the hook

    capsys.readouterr()
    with pytest.raises(TargetClickHouseError) as failed:
        warehouse.run(load(warehouse), binary=True, after_load="load_hooks_for_tests:fail")
    assert str(failed.value) == "after-load step failed: the marts could not be refreshed"  # one line
    assert capsys.readouterr().out == ""  # no STATE: the bookmark stays where it was
    assert [r["status"] for r in ledger(warehouse)] == ["success", "failed"]


def test_an_unknown_hook_is_named_with_its_setting():
    with pytest.raises(ConfigError, match="setting 'after_load': cannot load 'no_such_module:refresh'"):
        load_hook("no_such_module:refresh")


def test_loads_left_running_by_dead_processes_are_closed_by_the_next_load(warehouse):
    with warehouse.connector() as connector:
        runs = Ledger(connector.client, warehouse.database)
        runs.ensure_table()
        dead = LedgerRow(job_name="tap-demo", trigger="cli", pid=2**22 + 7)  # no such process
        alive = LedgerRow(job_name="tap-demo", trigger="cli", pid=os.getpid(),
                          started_at=datetime.now(UTC))  # this process, started before the row
        for row in (dead, alive):
            runs.write(row)
    warehouse.run(load(warehouse), binary=True)
    statuses = {r[0]: (r[1], r[2]) for r in warehouse.query(
        "SELECT run_id, status, error FROM meta_job_runs FINAL")}
    assert statuses[dead.run_id][0] == "failed" and "did not finish" in statuses[dead.run_id][1]
    assert statuses[alive.run_id] == ("running", "")
