"""STATE is emitted once, after every row is inserted and the load is recorded successful: a target killed
mid-stream (SIGKILL) or stopped (SIGTERM) emits none, so the tap starts again from where it started, and
nothing is lost or duplicated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

CHUNK = 20
PROPS = {"id": {"type": "integer"}, "chunk": {"type": ["integer", "null"]}}


def _chunk_lines(warehouse, chunk: int) -> str:
    records = [warehouse.record("ticks", {"id": chunk * CHUNK + i, "chunk": chunk}) for i in range(CHUNK)]
    return warehouse.lines([*records, {"type": "STATE", "value": {"bookmark": chunk}}])


def _stream_then_signal(warehouse, tmp_path, signum: int) -> tuple[list[dict], int]:
    """Stream chunks into the target CLI until some rows are inserted, then send `signum`."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(warehouse.config(batch_size_rows=30, flush_interval_seconds=0.2)))
    process = subprocess.Popen([sys.executable, "-m", "target_clickhouse", "--config", str(config)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, bufsize=1)
    states: list[dict] = []
    inserts: list[str] = []  # the target's "Inserted N rows" lines (the directory is its while it runs)
    readers = [threading.Thread(target=lambda: states.extend(json.loads(line) for line in process.stdout)),
               threading.Thread(target=lambda: inserts.extend(
                   line for line in process.stderr if "Inserted" in line))]
    for reader in readers:
        reader.start()
    process.stdin.write(warehouse.lines([warehouse.schema("ticks", PROPS, ["id"])]))
    sent, deadline = 0, time.monotonic() + 60
    while (len(inserts) < 3 or sent < 40) and time.monotonic() < deadline:
        process.stdin.write(_chunk_lines(warehouse, sent))
        process.stdin.flush()
        sent += 1
        time.sleep(0.02)
    assert len(inserts) >= 3, "the target never inserted mid-stream"
    os.kill(process.pid, signum)
    process.wait(timeout=30)
    for reader in readers:
        reader.join(timeout=30)
    return states, sent


@pytest.mark.e2e
def test_sigkill_mid_stream_commits_nothing_and_a_rerun_loses_nothing(warehouse, tmp_path):
    states, sent = _stream_then_signal(warehouse, tmp_path, signal.SIGKILL)
    assert states == []  # no bookmark for a load that did not finish
    assert warehouse.query("SELECT status FROM meta_job_runs FINAL") == [("running",)]

    total = sent + 5  # the tap starts again from its old bookmark: everything, plus what came since
    rerun = warehouse.lines([warehouse.schema("ticks", PROPS, ["id"])])
    rerun += "".join(_chunk_lines(warehouse, chunk) for chunk in range(total))
    result = warehouse.run_cli(rerun)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{"bookmark": total - 1}]
    final = warehouse.query("SELECT count(), uniqExact(id), min(id), max(id) "
                            "FROM stg_qtickets_ticks_raw FINAL")
    assert final == [(total * CHUNK, total * CHUNK, 0, total * CHUNK - 1)]
    # The killed load is recorded failed by the next one (its process is gone).
    statuses = sorted(r[0] for r in warehouse.query("SELECT status FROM meta_job_runs FINAL"))
    assert statuses == ["failed", "success"]


@pytest.mark.e2e
def test_sigterm_records_the_load_failed_and_commits_nothing(warehouse, tmp_path):
    states, _ = _stream_then_signal(warehouse, tmp_path, signal.SIGTERM)
    assert states == []
    [(status, error)] = warehouse.query("SELECT status, error FROM meta_job_runs FINAL")
    assert status == "failed" and "stopped by signal 15 before the load was committed" in error


@pytest.mark.integration
def test_state_comes_after_the_rows_it_covers(warehouse):
    messages = [warehouse.schema("ticks", PROPS, ["id"])]
    for chunk in range(5):
        messages += [
            warehouse.record("ticks", {"id": chunk * CHUNK + i, "chunk": chunk}) for i in range(CHUNK)
        ]
        messages.append({"type": "STATE", "value": {"bookmark": chunk}})
    states = warehouse.run(messages, batch_size_rows=7)
    assert states == [{"bookmark": 4}]
    assert warehouse.query("SELECT count() FROM stg_qtickets_ticks_raw FINAL") == [(5 * CHUNK,)]
