"""`qtickets-pipeline demo` / `make demo` when it cannot start: nothing of the last demo is touched."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import click
import pytest
from qtickets_pipeline.demo import CLOCK, RECORD, run_demo
from qtickets_pipeline.pipeline import RunResult, RunWatcher
from qtickets_pipeline.settings import DemoSandbox, load_settings

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_a_busy_port_changes_nothing(tmp_path, monkeypatch):
    """The port is checked first: the last demo's warehouse, bookmark, sandbox record and clock stay as
    they were (the sandbox then serves the same data), and the cause is one line."""
    for var in ("CLICKHOUSE_URL", "MELTANO_ENVIRONMENT", "MELTANO_PROJECT_ROOT"):
        monkeypatch.delenv(var, raising=False)
    shutil.copy(REPO / "meltano.yml", tmp_path / "meltano.yml")
    settings = load_settings(environment="demo", project_root=tmp_path)
    warehouse = tmp_path / "data" / "clickhouse"
    warehouse.mkdir(parents=True)
    (warehouse / "rows").write_text("the last demo's data")
    settings.state_dir.mkdir(parents=True)
    (settings.state_dir / RECORD).write_text('{"start_at": "2026-12-01T10:00:00+00:00", "seed": 1}')
    (settings.state_dir / CLOCK).write_text("90")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(click.ClickException) as info:
            run_demo(settings, DemoSandbox(port=port))
    assert info.value.message.startswith(f"port {port} is in use: is a sandbox already running")
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_run_without_the_demo_sandbox_says_to_start_it(settings):
    """The tap's own words for a refused connection, turned into the demo's hint: one cause, one hint."""
    result = RunResult(trigger="cli", error="tap-qtickets failed: discounts: nothing listens at "
                       "http://127.0.0.1:8765 (connection refused): check the base_url setting, or start the "
                       "API there")
    assert RunWatcher(result).cause(settings) == (
        "tap-qtickets failed: discounts: nothing listens at http://127.0.0.1:8765 (connection refused): "
        "start the demo's sandbox first: qtickets-pipeline sandbox")
