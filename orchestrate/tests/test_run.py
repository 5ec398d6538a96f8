"""One run, one owner, end to end: the real `meltano install`ed project, the real `meltano` and
`qtickets-pipeline` CLIs, the sandbox over loopback, embedded ClickHouse in the test's directory.

Every entry point leaves the same warehouse: the views equal the sandbox's truth field for field after the
load, and the load is in meta_job_runs (the target records it itself). A failed or killed run records its
cause and never advances the bookmark."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pipeline_testing import BIN, TOKEN, Pipeline, assert_exact, runs, utc
from qtickets_pipeline.overlap import RunLock

pytestmark = pytest.mark.e2e

MSK = ZoneInfo("Europe/Moscow")
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) +\S+: .+$")


@pytest.fixture
def pipe(project, sandbox, tmp_path) -> Pipeline:
    return Pipeline(project, tmp_path, sandbox.base_url)


def test_the_literal_meltano_command_and_the_schedule_leave_current_views_and_a_ledger_row(pipe, sandbox):
    first = pipe.meltano("--environment", "demo", "run", "tap-qtickets", "target-clickhouse")
    assert first.returncode == 0, first.stderr[-3000:]
    assert_exact(pipe, sandbox)

    sandbox.advance(240)  # sales, payments, scans, refunds: the views must show them with no extra step
    again = pipe.meltano("--environment", "demo", "run", "tap-qtickets", "target-clickhouse")
    assert again.returncode == 0, again.stderr[-3000:]
    assert_exact(pipe, sandbox)

    sandbox.advance(120)
    scheduled = pipe.meltano("--environment", "demo", "schedule", "run", "qtickets-every-30-min")
    assert scheduled.returncode == 0, scheduled.stderr[-3000:]
    assert_exact(pipe, sandbox)

    history = runs(pipe)
    assert [(status, trigger) for status, *_, trigger in history] == [
        ("success", "meltano"), ("success", "meltano"), ("success", "schedule")]
    for _status, loaded, requests, error, _trigger in history:
        assert error == "" and loaded["sales"] > 0 and requests["orders"] > 0
    # The bookmark Meltano saved is the state the warehouse recorded with the last successful load.
    committed = pipe.query("SELECT state FROM zakaz.meta_job_runs FINAL ORDER BY started_at DESC LIMIT 1")
    assert json.loads(committed[0][0])["bookmarks"] == pipe.state()["singer_state"]["bookmarks"]


def test_a_wrong_token_leaves_one_failed_row_with_the_cause_and_the_bookmark_alone(pipe):
    ok = pipe.meltano("--environment", "demo", "run", "tap-qtickets", "target-clickhouse")
    assert ok.returncode == 0, ok.stderr[-3000:]
    before = pipe.state()

    bad = pipe.meltano("--environment", "demo", "run", "tap-qtickets", "target-clickhouse",
                       TAP_QTICKETS_API_TOKEN="wrong-secret-token-123")
    assert bad.returncode != 0
    status, _, _, error, trigger = runs(pipe)[-1]
    assert (status, trigger) == ("failed", "meltano")
    assert "403" in error and "api_token" in error and "wrong-secret-token-123" not in error
    assert len(runs(pipe)) == 2
    assert pipe.state() == before


def test_a_new_warehouse_behind_an_old_bookmark_is_loaded_in_full(pipe, sandbox, tmp_path):
    first = pipe.cli("run")
    assert first.returncode == 0, first.stderr[-3000:]
    sandbox.advance(60)

    pipe.env["CLICKHOUSE_URL"] = f"chdb://{tmp_path / 'new-warehouse'}"
    moved = pipe.cli("run")
    assert moved.returncode == 0, moved.stderr[-3000:]
    said = [line for line in moved.stderr.splitlines() if "holds no successful load" in line]
    assert len(said) == 1 and "QTICKETS_DAYS_BACK" in said[0], moved.stderr[-3000:]
    assert_exact(pipe, sandbox)
    assert [r[0] for r in runs(pipe)] == ["failed", "success"]  # the refused attempt, then the full load


def run_processes(pipe: Pipeline) -> list[int]:
    """Processes of this test's runs: those whose environment names its Meltano directory."""
    mark = f"MELTANO_SYS_DIR_ROOT={pipe.env['MELTANO_SYS_DIR_ROOT']}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("after_seconds", [0.5, 2.5, 4.5])
def test_killing_the_cli_ends_the_whole_run_and_the_next_run_records_it(pipe, sandbox, after_seconds):
    first = pipe.cli("run")
    assert first.returncode == 0, first.stderr[-3000:]
    sandbox.advance(120)
    truth_before = sandbox.truth()
    bookmark = pipe.bookmark()

    # Slow order pages keep the run going past the last kill however fast the machine is right now.
    sandbox.set_faults([{"match": "/api/rest/v1/orders", "fault": "delay", "seconds": 1}])
    cli = subprocess.Popen([str(BIN / "qtickets-pipeline"), "run", "--full-refresh"], env=pipe.env,
                           cwd=pipe.work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(after_seconds)
    assert cli.poll() is None, "the run ended before the kill"
    cli.send_signal(signal.SIGKILL)
    cli.wait()
    sandbox.clear_faults()
    deadline = time.monotonic() + 5
    while run_processes(pipe) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run_processes(pipe) == []
    assert pipe.bookmark() == bookmark  # a run that did not finish never advances it

    after = pipe.cli("run")
    assert after.returncode == 0, after.stderr[-3000:]
    statuses = [r[0] for r in runs(pipe)]
    assert statuses[0] == "success" and statuses[-1] == "success"
    assert "running" not in statuses  # the killed load, if it had begun, is recorded failed
    assert sandbox.truth()["tickets"] == truth_before["tickets"]
    assert_exact(pipe, sandbox)


def test_logs_are_one_stream_in_both_formats_and_the_first_line_names_the_window(pipe, sandbox, tmp_path):
    log_file = tmp_path / "run.log"
    text = pipe.cli("run", LOG_FILE=str(log_file))
    assert text.returncode == 0, text.stderr[-3000:]
    lines = text.stderr.splitlines()
    assert all(TEXT_LINE.match(line) for line in lines), lines
    assert log_file.read_text(encoding="utf-8").splitlines() == lines  # the same lines, once each
    assert len(lines) == len(set(lines))
    assert "sync started (full): orders updated since" in lines[0]
    assert sum(": orders: " in line and " records from " in line for line in lines) == 1  # the tap's summary

    sandbox.advance(30)
    as_json = pipe.cli("run", LOG_JSON="true")
    assert as_json.returncode == 0, as_json.stderr[-3000:]
    events = [json.loads(line) for line in as_json.stderr.splitlines()]
    assert all({"ts", "level", "plugin", "message"} <= event.keys() for event in events)
    first = events[0]
    assert first["plugin"] == "tap-qtickets" and first["mode"] == "incremental"
    assert "the bookmark minus 120 min" in first["message"] and first["window_start"]
    loaded = [e for e in events if isinstance(e.get("load"), dict) and e["load"]["status"] == "success"]
    assert len(loaded) == 1 and loaded[0]["load"]["rows_loaded"]["sales"] >= 0  # a real field, not text
    assert events[-1]["message"].startswith(f"run {loaded[0]['load']['run_id']} of tap-qtickets succeeded")
    changes = events[-1]["row_changes"]  # new / changed / unchanged per stream, as fields and in the line
    assert set(changes["orders"]) == {"new", "changed", "unchanged"}
    assert sum(changes["orders"].values()) == events[-1]["rows_loaded"]["orders"]
    assert changes["inventory"]["new"] == events[-1]["rows_loaded"]["inventory"] > 0  # snapshots: always new
    assert " unchanged (" in events[-1]["message"]


def test_a_scheduled_run_starts_no_discovery_and_no_other_meltano_command(pipe, sandbox):
    first = pipe.cli("run")  # the cached catalog comes with the test project (pipeline_testing.py)
    assert first.returncode == 0, first.stderr[-3000:]
    sandbox.advance(30)
    again = pipe.cli("run", LOG_LEVEL="DEBUG", LOG_JSON="true")
    assert again.returncode == 0, again.stderr[-3000:]
    events = [json.loads(line) for line in again.stderr.splitlines()]
    messages = [e["message"] for e in events]
    assert sum(m.startswith("running: meltano") for m in messages) == 1
    assert not any("Running catalog discovery" in m for m in messages)
    plugins = {e["plugin"] for e in events}
    assert plugins <= {"qtickets-pipeline", "meltano", "tap-qtickets", "target-clickhouse"}


def test_windows_and_env_file(pipe, sandbox, tmp_path):
    now = datetime.fromisoformat(sandbox.truth()["now"]).astimezone(MSK)
    env_file = tmp_path / "custom.env"
    other = tmp_path / "other-ch"
    env_file.write_text(f"CLICKHOUSE_URL=chdb://{other}\nQTICKETS_TOKEN={TOKEN}\n")
    days = pipe.cli("run", "--env", str(env_file), "--days", "3", QTICKETS_TOKEN="not-this-one")
    assert days.returncode == 0, days.stderr[-3000:]
    assert not (tmp_path / "ch").exists()  # the file's warehouse, not the shell's
    lo = pipe.query("SELECT min(updated_at), count() FROM zakaz.stg_qtickets_orders_raw", url=f"chdb://{other}")
    assert lo[0][1] > 0
    assert pipe.bookmark() is None  # one-off windows leave the bookmark alone

    since, to = now.date() - timedelta(days=10), now.date() - timedelta(days=5)
    window = pipe.cli("run", "--since", since.isoformat(), "--to", to.isoformat())
    assert window.returncode == 0, window.stderr[-3000:]
    hi = pipe.query("SELECT max(updated_at) FROM zakaz.stg_qtickets_orders_raw")[0][0]
    assert utc(hi) < datetime.combine(to + timedelta(days=1), datetime.min.time(), MSK)
    assert pipe.bookmark() is None

    for args, named in ((("--days", "3", "--since", since.isoformat()), "--days"),
                        (("--since", since.isoformat(), "--full-refresh"), "--full-refresh"),
                        (("--since", (now.date() + timedelta(days=400)).isoformat()), "in the future")):
        bad = pipe.cli("run", *args)
        assert bad.returncode == 1 and named in bad.stderr and len(bad.stderr.splitlines()) == 1, bad.stderr


def test_a_second_run_while_one_is_active_is_skipped(pipe):
    lock = RunLock(pipe.settings().state_dir)
    assert lock.acquire()
    try:
        result = pipe.cli("run")
    finally:
        lock.release()
    assert result.returncode == 0
    assert "skipped" in result.stderr and "another run" in result.stderr
    assert not (pipe.work / "ch").exists()  # it did not touch the directory the active run holds
