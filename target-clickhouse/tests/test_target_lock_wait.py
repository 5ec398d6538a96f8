"""An embedded directory held by another process is waited for (bounded, with a log line naming the
holder), then reported in one clear error."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest
from target_clickhouse.connection import holder_file, open_client
from target_clickhouse.errors import DirectoryLockedError

pytestmark = pytest.mark.integration

HOLD = """
import sys, time
from target_clickhouse.connection import open_client
client = open_client("chdb://" + sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
client.close()
"""


def _holder(path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_open_waits_for_a_holder_that_lets_go_and_names_it(tmp_path, caplog):
    path = tmp_path / "ch"
    holder = _holder(path, 2.5)
    assert str(holder.pid) in holder_file(str(path)).read_text()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="target-clickhouse"):
        client = open_client(f"chdb://{path}", lock_wait_seconds=30)
    try:
        assert client.command("SELECT 1") == 1
    finally:
        client.close()
        holder.wait(timeout=30)
    assert 1.5 < time.monotonic() - started < 30
    assert f"in use by pid {holder.pid}" in caplog.text and "waiting up to 30 s" in caplog.text


def test_open_gives_up_after_the_bound_with_one_clear_error(tmp_path):
    path = tmp_path / "ch"
    holder = _holder(path, 20)
    try:
        started = time.monotonic()
        with pytest.raises(DirectoryLockedError) as caught:
            open_client(f"chdb://{path}", lock_wait_seconds=1)
        assert time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait(timeout=30)
    message = str(caught.value)
    assert f"in use by pid {holder.pid}" in message and "waited 1 s" in message and "\n" not in message
