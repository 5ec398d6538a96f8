"""STATE is emitted only after every record before it is inserted: SIGKILL mid-stream, resume from the
last emitted STATE, and nothing is lost or duplicated."""

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


@pytest.mark.e2e
def test_sigkill_mid_stream_then_resume_loses_nothing(warehouse, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(warehouse.config(batch_size_rows=30, flush_interval_seconds=0.2)))
    process = subprocess.Popen(
        [sys.executable, "-m", "target_clickhouse", "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    states: list[dict] = []
    reader = threading.Thread(target=lambda: states.extend(json.loads(line) for line in process.stdout))
    reader.start()
    process.stdin.write(warehouse.lines([warehouse.schema("ticks", PROPS, ["id"])]))
    sent = 0
    deadline = time.monotonic() + 60
    # Keep streaming until a few checkpoints came back, then a little more, then kill -9.
    while (len(states) < 3 or sent < 40) and time.monotonic() < deadline:
        process.stdin.write(_chunk_lines(warehouse, sent))
        process.stdin.flush()
        sent += 1
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    reader.join(timeout=30)
    assert len(states) >= 3, "the target never checkpointed mid-stream"
    last = states[-1]["bookmark"]
    assert [s["bookmark"] for s in states] == sorted(s["bookmark"] for s in states)

    # Everything up to the last emitted STATE is in the table.
    loaded = warehouse.query("SELECT DISTINCT id FROM stg_qtickets_ticks_raw ORDER BY id")
    assert {i for (i,) in loaded} >= set(range((last + 1) * CHUNK))

    # Resume like a tap does: from the chunk after the bookmark to the end.
    total = sent + 5
    resume = warehouse.lines([warehouse.schema("ticks", PROPS, ["id"])])
    resume += "".join(_chunk_lines(warehouse, chunk) for chunk in range(last + 1, total))
    result = warehouse.run_cli(resume)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"bookmark": total - 1}
    final = warehouse.query(
        "SELECT count(), uniqExact(id), min(id), max(id) FROM stg_qtickets_ticks_raw FINAL"
    )
    assert final == [(total * CHUNK, total * CHUNK, 0, total * CHUNK - 1)]


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
