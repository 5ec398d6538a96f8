"""Every documented entry point gives the same result — `qtickets-pipeline run`, a plain `meltano run
qtickets_load`, `meltano schedule run qtickets-every-30-min`: exact views and a meta_job_runs row — and
failures of each are recorded. Plus the embedded lock: a run waits for a reader, a reader is told about a
writing run, and spooled rows only reach their own warehouse."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from pipeline_testing import (
    BIN,
    TOKEN,
    Pipeline,
    assert_attendance_exact,
    assert_sales_exact,
    runs,
)
from qtickets_pipeline.demo import DEMO
from qtickets_pipeline.overlap import RunLock
from qtickets_sandbox.testing import SandboxServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox():
    with SandboxServer(seed=8, orders=250, events=4, token=TOKEN) as sb:
        yield sb


@pytest.fixture
def pipe(project, sandbox, tmp_path) -> Pipeline:
    pipeline = Pipeline(project, tmp_path, sandbox.base_url)
    pipeline.settings().state_dir.mkdir(parents=True, exist_ok=True)
    for leftover in pipeline.settings().state_dir.glob("*.json*"):
        leftover.unlink()
    return pipeline


def test_plain_meltano_and_the_schedule_record_runs_and_keep_the_views_current(pipe, sandbox):
    first = pipe.meltano("--environment", "demo", "run", "qtickets_load")
    assert first.returncode == 0, first.stderr[-3000:]
    truth = sandbox.truth()
    assert_sales_exact(pipe, truth)
    assert_attendance_exact(pipe, truth)

    sandbox.advance(240)
    scheduled = pipe.meltano("--environment", "demo", "schedule", "run", "qtickets-every-30-min")
    assert scheduled.returncode == 0, scheduled.stderr[-3000:]
    truth = sandbox.truth()
    assert_sales_exact(pipe, truth)
    assert_attendance_exact(pipe, truth)

    history = runs(pipe)
    assert [(status, trigger) for status, *_, trigger in history] == [("success", "meltano")] * 2
    assert all(loaded["orders"] > 0 for _, loaded, *_ in history)  # rows counted from ClickHouse
    checks = pipe.cli("check")
    assert checks.returncode == 0, checks.stdout


def test_a_failed_plain_run_is_recorded_failed_by_the_next_run(pipe, sandbox):
    failed = pipe.meltano("--environment", "demo", "run", "qtickets_load",
                          TAP_QTICKETS_API_TOKEN="wrong-token-1")
    assert failed.returncode != 0
    assert [r[0] for r in runs(pipe)] == ["running"]  # nothing ran the finish step
    again = pipe.cli("run")
    assert again.returncode == 0, again.stderr[-3000:]
    history = runs(pipe)
    assert [r[0] for r in history] == ["failed", "success"]
    assert "did not finish" in history[0][3]
    assert_sales_exact(pipe, sandbox.truth())


def test_cli_failure_is_one_line_naming_the_variable(pipe, sandbox):
    bad = pipe.cli("run", QTICKETS_TOKEN="wrong-secret-token-77")
    assert bad.returncode == 1
    lines = [ln for ln in bad.stderr.splitlines() if "failed" in ln]
    assert len(lines) == 1, bad.stderr[-3000:]  # the cause once: no log line repeating it
    assert "QTICKETS_TOKEN" in lines[0] and "403" in lines[0]
    assert "wrong-secret-token-77" not in bad.stderr + bad.stdout
    status = pipe.cli("status")
    assert status.returncode == 0
    error = runs(pipe)[-1][3]
    assert error in status.stdout  # the whole error, not cut short


def test_refused_loopback_api_fails_at_once_with_a_hint(pipe):
    started = time.monotonic()
    refused = pipe.cli("run", QTICKETS_BASE_URL="http://127.0.0.1:9/api/rest/v1")
    seconds = time.monotonic() - started
    assert refused.returncode == 1
    line = refused.stderr.strip().splitlines()[-1]
    assert "connection refused" in line and "qtickets-pipeline sandbox" in line, line
    assert "Traceback" not in refused.stderr and "Unexpected Http Driver Exception" not in refused.stderr
    assert seconds < 30, "a refused loopback connection must not be retried"


def test_spooled_row_reaches_only_its_own_warehouse(pipe, tmp_path):
    down = pipe.cli("run", CLICKHOUSE_URL="http://127.0.0.1:1", CLICKHOUSE_LOCK_WAIT_SECONDS="0")
    assert down.returncode == 1
    assert "CLICKHOUSE_URL" in down.stderr.strip().splitlines()[-1] and "connection refused" in down.stderr
    spool = pipe.settings().state_dir / "pending_runs.jsonl"
    assert "127.0.0.1:1" in spool.read_text()
    clean = pipe.cli("run")
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert [(r[0], r[4]) for r in runs(pipe)] == [("success", "cli")]  # not the server's failed row
    assert "127.0.0.1:1" in spool.read_text()  # still waiting for its own warehouse


def test_a_run_waits_for_a_reader_and_a_reader_is_told_about_a_run(pipe, sandbox):
    first = pipe.cli("run")
    assert first.returncode == 0, first.stderr[-3000:]
    # A reader (here: this test process) holds the embedded directory as the next run starts.
    with pipe.client():
        run = subprocess.Popen([str(BIN / "qtickets-pipeline"), "run"], env=pipe.env, cwd=pipe.work,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(3)
    output, _ = run.communicate(timeout=300)
    assert run.returncode == 0, output[-3000:]
    assert re.search(r"in use by .*; waiting up to \d+ s", output), output[-3000:]

    # While a run holds the overlap lock, `sql` and `status` say so at once instead of waiting.
    lock = RunLock(pipe.settings().state_dir)
    assert lock.acquire()
    try:
        for command in (["sql", "SELECT 1"], ["status"]):
            busy = subprocess.run([str(BIN / "qtickets-pipeline"), *command], env=pipe.env, cwd=pipe.work,
                                  capture_output=True, text=True, timeout=60)
            assert busy.returncode == 1
            assert f"run pid {os.getpid()} is writing" in busy.stderr
            assert "retry in a moment" in busy.stderr
    finally:
        lock.release()


def test_sandbox_command_serves_the_demo_data_for_the_readme_follow_ups(project, tmp_path):
    """After `make demo`: `qtickets-pipeline sandbox` serves the demo's organiser (same seed, counts and
    clock) on the demo's port, and the README's next command works as written."""
    pipe = Pipeline(project, tmp_path, DEMO.base_url)
    started_at = (datetime.now(UTC) - timedelta(hours=5)).replace(second=0, microsecond=0)
    record = pipe.settings().state_dir / "demo-sandbox.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"start_at": started_at.isoformat(), "seed": DEMO.seed}))
    env = {k: v for k, v in pipe.env.items() if not k.startswith("QTICKETS_")}  # the demo's own URL and token
    server = subprocess.Popen([str(BIN / "qtickets-pipeline"), "sandbox"], env=env, cwd=pipe.work,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        truth = _wait_for_truth(DEMO)
        assert datetime.fromisoformat(truth["now"]) == started_at
        with SandboxServer(seed=DEMO.seed, orders=DEMO.orders, events=DEMO.events, now=started_at) as same:
            assert same.truth()["tickets"] == truth["tickets"]  # the demo's data, not a second dataset
        follow_up = subprocess.run([str(BIN / "qtickets-pipeline"), "run", "--days", "7"], env=env,
                                   cwd=pipe.work, capture_output=True, text=True, timeout=300)
        assert follow_up.returncode == 0, follow_up.stderr[-3000:]
        assert "succeeded" in follow_up.stdout
    finally:
        server.terminate()
        server.wait(timeout=30)
    with socket.socket() as probe:  # the sandbox process went with it (no orphan on the demo's port)
        assert probe.connect_ex((DEMO.host, DEMO.port)) != 0


def _wait_for_truth(sandbox, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    root = sandbox.base_url.rsplit("/api/rest/v1", 1)[0]
    while True:
        try:
            with urllib.request.urlopen(f"{root}/_sandbox/truth", timeout=10) as answer:
                return json.loads(answer.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
