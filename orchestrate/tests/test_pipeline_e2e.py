"""End to end: real `meltano install`, the real `qtickets-pipeline` CLI running `meltano run` of the job
against an in-process SandboxServer (real HTTP on loopback) into embedded ClickHouse (chdb)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pipeline_testing import (
    TOKEN,
    Pipeline,
    assert_attendance_exact,
    assert_inventory_exact,
    assert_sales_exact,
    runs,
    utc,
)
from qtickets_pipeline.overlap import RunLock
from qtickets_sandbox.testing import SandboxServer

pytestmark = pytest.mark.e2e

MSK = ZoneInfo("Europe/Moscow")
# The earliest "last change" of the loaded orders: an order's own updated_at or its newest ticket's,
# whichever is later (older orders come in through a ticket changed in the window: scans, refunds).
EARLIEST_CHANGE_SQL = """
    SELECT min(greatest(o.updated_at, coalesce(t.newest, o.updated_at))), count()
    FROM zakaz.stg_qtickets_orders_raw AS o
    LEFT JOIN (SELECT order_id, max(updated_at) AS newest FROM zakaz.stg_qtickets_sales_raw GROUP BY order_id)
        AS t ON t.order_id = o.id"""


def assert_sales_14d_match_truth(pipe: Pipeline, truth: dict) -> None:
    """v_sales_14d per event (sold tickets, revenue) against the truth, days in Moscow time."""
    # The view's window ends at ClickHouse's wall-clock today, not the sandbox clock (which advances run
    # ahead of real time and may already be past midnight), so ask ClickHouse for the date it uses.
    today = pipe.query("SELECT toDate(now(), 'Europe/Moscow')")[0][0]
    expected: dict[int, list] = {}
    for t in truth["tickets"]:
        day = datetime.fromisoformat(t["payed_at"]).astimezone(MSK).date()
        if t["status"] == "sold" and (today - day).days <= 13:
            entry = expected.setdefault(t["event_id"], [0, Decimal("0")])
            entry[0] += 1
            entry[1] += Decimal(str(t["price"]))
    rows = pipe.query(
        "SELECT event_id, sum(tickets_sold), sum(revenue) FROM zakaz.v_sales_14d "
        "GROUP BY event_id HAVING sum(tickets_sold) > 0"
    )
    assert {r[0]: [r[1], r[2]] for r in rows} == expected


def test_incremental_runs_match_truth_and_failures_leave_state(project, tmp_path):
    with SandboxServer(seed=3, orders=300, events=6, token=TOKEN) as sb:
        pipe = Pipeline(project, tmp_path, sb.base_url)

        first = pipe.cli("run")
        assert first.returncode == 0, first.stderr[-3000:]
        truth = sb.truth()
        assert_sales_exact(pipe, truth)
        assert_attendance_exact(pipe, truth)
        assert assert_inventory_exact(pipe, truth) >= 1
        bookmark1 = pipe.bookmark()
        assert bookmark1 is not None
        orders_after_first = pipe.query("SELECT uniqExact(id) FROM zakaz.stg_qtickets_orders_raw")[0][0]
        # Default selection: no clients stream, no PII or secret-link columns anywhere.
        tables = {
            r[0] for r in pipe.query("SELECT DISTINCT table FROM system.columns WHERE database = 'zakaz'")
        }
        assert "stg_qtickets_clients_raw" not in tables and "stg_qtickets_sales_raw" in tables
        pii = pipe.query(
            "SELECT table, name FROM system.columns WHERE database = 'zakaz' AND name IN "
            "('client_email', 'client_phone', 'barcode', 'pdf_url', 'payment_url', 'code')"
        )
        assert pii == []

        # Move the sandbox on in 30-minute steps until something changed, then run again.
        for _ in range(96):
            sb.advance(30)
            if sb.truth()["tickets"] != truth["tickets"]:
                break
        second = pipe.cli("run")
        assert second.returncode == 0, second.stderr[-3000:]
        truth = sb.truth()
        assert_sales_exact(pipe, truth)
        assert_inventory_exact(pipe, truth)
        bookmark2 = pipe.bookmark()
        assert utc(bookmark2) > utc(bookmark1)

        third = pipe.cli("run")
        assert third.returncode == 0, third.stderr[-3000:]
        assert_sales_exact(pipe, truth)
        assert utc(pipe.bookmark()) >= utc(bookmark2)
        max_loaded = pipe.query("SELECT max(updated_at) FROM zakaz.stg_qtickets_orders_raw")[0][0]
        assert utc(pipe.bookmark()) == utc(max_loaded)

        history = runs(pipe)
        assert [r[0] for r in history] == ["success"] * 3
        for _status, loaded, extracted, error, trigger in history:
            assert loaded == extracted and error == "" and trigger == "cli"  # two independent counts agree
        assert history[0][1]["orders"] == orders_after_first == 300  # first run: every order once

        # A wrong token: exit 1, a failed row with a clear error (without the token), state unchanged.
        before = pipe.bookmark()
        bad = pipe.cli("run", QTICKETS_TOKEN="wrong-secret-token-123")
        assert bad.returncode == 1
        assert "wrong-secret-token-123" not in bad.stderr + bad.stdout
        status, _, _, error, _ = runs(pipe)[-1]
        assert status == "failed"
        assert "403" in error or "authoriz" in error.lower(), error
        assert "wrong-secret-token-123" not in error
        assert pipe.bookmark() == before

        sb.advance(30)
        fixed = pipe.cli("run")
        assert fixed.returncode == 0, fixed.stderr[-3000:]
        assert_sales_exact(pipe, sb.truth())
        assert [r[0] for r in runs(pipe)] == ["success"] * 3 + ["failed", "success"]
        checks = pipe.cli("check")
        assert checks.returncode == 0, checks.stdout
        assert_sales_14d_match_truth(pipe, sb.truth())
        report = pipe.cli("report", "--html", str(tmp_path / "chart.html"))
        assert report.returncode == 0, report.stderr[-3000:]
        assert 'id="report-figures"' in (tmp_path / "chart.html").read_text(encoding="utf-8")  # plotly data
        names = {e["name"] for e in sb.truth()["events"]}
        assert any(name[:30] in report.stdout for name in names)


def test_windows_and_env_file(project, tmp_path):
    with SandboxServer(seed=4, orders=200, events=4, token=TOKEN) as sb:
        pipe = Pipeline(project, tmp_path, sb.base_url)
        now = datetime.fromisoformat(sb.truth()["now"]).astimezone(MSK)

        # --env FILE: the file's values win over the shell (here: the database directory and token).
        env_file = tmp_path / "custom.env"
        other = tmp_path / "other-ch"
        log_file = tmp_path / "pipeline.log"
        env_file.write_text(
            f"CLICKHOUSE_URL=chdb://{other}\nQTICKETS_TOKEN={TOKEN}\nLOG_JSON=true\nLOG_FILE={log_file}\n"
        )
        days = pipe.cli("run", "--env", str(env_file), "--days", "3", QTICKETS_TOKEN="not-this-one")
        assert days.returncode == 0, days.stderr[-3000:]
        assert not (tmp_path / "ch").exists()
        assert json.loads(days.stderr.strip().splitlines()[-1])["level"] == "info"  # LOG_JSON from the file
        logged = [json.loads(line) for line in log_file.read_text().splitlines()]
        assert any(e["message"].startswith("run finished") for e in logged)  # LOG_FILE from the file
        start = datetime.combine(now.date() - timedelta(days=3), datetime.min.time(), MSK)
        # Orders updated in the window, or older orders with a ticket updated in it.
        lo, n = pipe.query(EARLIEST_CHANGE_SQL, url=f"chdb://{other}")[0]
        assert n > 0 and utc(lo) >= start
        assert pipe.bookmark() is None  # one-off windows leave the bookmark alone

        # --since/--to: only orders updated inside the window (days in the report zone, --to inclusive).
        since, to = now.date() - timedelta(days=10), now.date() - timedelta(days=5)
        window = pipe.cli("run", "--since", since.isoformat(), "--to", to.isoformat())
        assert window.returncode == 0, window.stderr[-3000:]
        lo, n = pipe.query(EARLIEST_CHANGE_SQL)[0]
        hi = pipe.query("SELECT max(updated_at) FROM zakaz.stg_qtickets_orders_raw")[0][0]
        assert n > 0
        assert utc(lo) >= datetime.combine(since, datetime.min.time(), MSK)
        assert utc(hi) < datetime.combine(to + timedelta(days=1), datetime.min.time(), MSK)
        assert pipe.bookmark() is None
        assert [r[0] for r in runs(pipe)] == ["success"]

        bad = pipe.cli("run", "--days", "3", "--since", since.isoformat())
        assert bad.returncode == 1 and "--days" in bad.stderr


def test_second_run_while_one_is_active_is_skipped(project, tmp_path):
    pipe = Pipeline(project, tmp_path, "http://127.0.0.1:9/api/rest/v1")
    lock = RunLock(pipe.settings().state_dir)
    assert lock.acquire()
    try:
        result = pipe.cli("run")
    finally:
        lock.release()
    assert result.returncode == 0
    assert "skipped" in result.stdout and "another run" in result.stdout
    # With embedded ClickHouse the skipped run does not touch the directory the active run needs: its
    # row waits in the spool until the next run or `status` writes it.
    assert not (tmp_path / "ch").exists()
    status = pipe.cli("status")
    assert status.returncode == 0, status.stderr[-3000:]
    assert "skipped" in status.stdout
    assert [(r[0], r[4]) for r in runs(pipe)] == [("skipped", "cli")]
