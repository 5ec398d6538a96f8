"""The webhook receiver end to end: the real `qtickets-pipeline webhooks serve` process, the sandbox sending
webhooks over loopback (with its delivery faults), embedded ClickHouse in the test's directory, and the
scheduled run as the reconciliation. The views must equal the sandbox's truth field for field."""

from __future__ import annotations

import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from pipeline_testing import (
    TOKEN,
    Pipeline,
    actual_sales,
    assert_attendance_exact,
    assert_sales_exact,
    expected_sales,
    sales_differences,
)
from webhook_testing import SECRET, Receiver, sign

pytestmark = pytest.mark.e2e

# Every fault the sandbox can make except `dropped` (a dropped delivery is never sent: only polling finds it).
FAULTS = {"seed": 4, "duplicate": {"rate": 0.1}, "out_of_order": {"rate": 0.2, "hold": 4},
          "delayed": {"rate": 0.05, "seconds": 3}}
EVERY_KIND = {"create": 30, "pay": 25, "scan": 18, "edit": 7, "cancel": 8, "refund": 8, "uncheck": 4}


@pytest.fixture
def pipe(project, sandbox, tmp_path) -> Pipeline:
    pipe = Pipeline(project, tmp_path, sandbox.base_url)
    first = pipe.cli("run")  # creates staging and the views: the receiver loads into them
    assert first.returncode == 0, first.stderr[-3000:]
    return pipe


def order_body(sandbox, order_id: int) -> dict:
    """The order as `GET /orders/{id}` answers it: what a webhook body holds (plus its extra keys)."""
    request = urllib.request.Request(f"{sandbox.base_url}/orders/{order_id}",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request) as response:
        body = json.loads(response.read())["data"]
    return {**body, "primary_orders": [], "secondary_orders": [], "refunded_baskets": [],
            "checked_basket": None, "unchecked_basket": None}


def ticket(pipe: Pipeline, ticket_id: int) -> dict:
    rows = pipe.query_dicts(f"SELECT status, checked_at, refunded_at, updated_at FROM zakaz.v_sales_latest "
                            f"WHERE ticket_id = {ticket_id}")
    assert len(rows) <= 1
    return rows[0] if rows else {}


def paid_orders(sandbox) -> list[int]:
    return sorted({t["order_id"] for t in sandbox.truth()["tickets"] if t["status"] == "sold"})


def test_signatures_sizes_and_shapes_and_nothing_stored_unless_200(project, sandbox, tmp_path):
    pipe = Pipeline(project, tmp_path, sandbox.base_url)  # no run yet: payloads stay in the spool
    with Receiver(pipe, QTICKETS_WEBHOOK_SECRET_PREVIOUS="old-secret") as receiver:
        body = json.dumps(order_body(sandbox, paid_orders(sandbox)[0])).encode()
        refused = {
            "missing": receiver.post(body, signature=None),
            "invalid": receiver.post(body, signature="00" * 20),
            "wrong secret": receiver.post(body, signature=sign(body, "not-the-secret")),
            "tampered": receiver.post(body.replace(b'"payed"', b'"payed" ', 1), signature=sign(body)),
            "too big": receiver.post(b'{"id": 1, "x": "' + b"a" * (1 << 20) + b'"}'),
            "not json": receiver.post(b"<xml/>"),
            "not an order": receiver.post(b'{"hello": 1}'),
            "unknown account": receiver.post(body, path="/qtickets/webhook/nobody"),
        }
        assert refused == {"missing": 403, "invalid": 403, "wrong secret": 403, "tampered": 403,
                           "too big": 413, "not json": 400, "not an order": 400, "unknown account": 404}
        assert receiver.health()["spooled_bytes"] == 0  # nothing stored
        assert receiver.post(body) == 200
        assert receiver.post(body, signature=sign(body, "old-secret")) == 200  # rotation: the previous one
        assert receiver.post(body, path="/qtickets/webhook/main") == 200
        assert receiver.health()["spooled_bytes"] > 3 * len(body)
        time.sleep(1.5)  # the loader tries, and keeps them: no scheduled run has created staging yet
        assert receiver.health()["spooled_bytes"] > 3 * len(body)
    log = receiver.log()
    assert "has no stg_qtickets_events_raw" in log and "kept in the spool" in log
    assert SECRET not in log and "old-secret" not in log

    loaded = pipe.cli("run")  # the run creates staging; the restarted receiver loads what it kept
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    with Receiver(pipe) as receiver:
        assert receiver.wait_drained(60)["loaded"] == 3


def test_a_mixed_stream_with_every_fault_leaves_every_view_equal_to_the_truth(pipe, sandbox):
    with Receiver(pipe) as receiver:
        sandbox.set_webhooks(receiver.hook_url, secret=SECRET, time_scale=10, faults=FAULTS)
        sandbox.start_live(100, 12, mix=EVERY_KIND)
        status = sandbox.wait_webhooks(180)
        receiver.wait_drained(120)
        events = {entry["event"] for entry in sandbox.webhook_log()}
        assert events >= {"created", "payed", "deleted", "refunded", "checked", "updated"}
        assert {k: status["faults"][k]["hits"] > 0 for k in ("duplicate", "out_of_order", "delayed")} == {
            "duplicate": True, "out_of_order": True, "delayed": True}
        assert status["stats"]["gave_up"] == 0 and status["stats"]["delivered"] == status["stats"]["enqueued"]
        made = sandbox.live_status()["explicit"]
        assert made["uncheck"] > 0 and made["refund"] > 0 and made["cancel"] > 0
    truth = sandbox.truth()
    assert_sales_exact(pipe, truth)
    assert_attendance_exact(pipe, truth)
    batches = pipe.query("SELECT count(), sum(rows_loaded['sales']), min(account), max(trigger) "
                         "FROM zakaz.v_job_runs WHERE job_name = 'qtickets-webhooks' AND status = 'success'")
    assert batches[0][0] > 0 and batches[0][1] > 0 and batches[0][2:] == ("main", "webhook")
    freshness = pipe.query("SELECT stream, last_webhook_at IS NOT NULL, webhook_lag_s "
                           "FROM zakaz.v_data_freshness WHERE stream IN ('orders', 'sales', 'events') "
                           "ORDER BY stream")
    assert [(s, seen) for s, seen, _ in freshness] == [("events", False), ("orders", True), ("sales", True)]
    assert 0 <= freshness[1][2] < 60
    status_text = pipe.cli("status")
    assert status_text.returncode == 0 and "Webhooks" in status_text.stdout and "main" in status_text.stdout


def test_dropped_deliveries_are_found_by_the_next_scheduled_run(pipe, sandbox):
    with Receiver(pipe) as receiver:
        sandbox.set_webhooks(receiver.hook_url, secret=SECRET, time_scale=10,
                             faults={"seed": 2, "dropped": {"rate": 0.3}})
        sandbox.start_live(40, 40, mix=EVERY_KIND)
        # Meanwhile, on the same embedded directory: readers, then a scheduled run, take turns with the
        # receiver's batches (each waits for the directory), none fails. (Readers still refuse at once
        # while a run writes, as before webhooks: README, Troubleshooting.)
        time.sleep(2)
        with ThreadPoolExecutor(2) as pool:
            during = list(pool.map(lambda args: pipe.cli(*args),
                                   [("sql", "SELECT count() FROM zakaz.v_sales_latest"), ("status",)]))
        during.append(pipe.cli("run", "--trigger", "schedule"))
        assert [r.returncode for r in during] == [0, 0, 0], [r.stderr[-1500:] for r in during]
        assert sandbox.live_status()["running"]  # they ran during the stream
        assert sandbox.wait_webhooks(120)["faults"]["dropped"]["hits"] > 0
        receiver.wait_drained(120)
        truth = sandbox.truth()
        assert sales_differences(expected_sales(truth), actual_sales(pipe)[0])  # the drops show
        scheduled = pipe.cli("run", "--trigger", "schedule")  # waits for the receiver's batches
        assert scheduled.returncode == 0, scheduled.stderr[-3000:]
    assert_sales_exact(pipe, truth)
    assert_attendance_exact(pipe, truth)


def test_a_receiver_killed_mid_stream_loses_nothing(pipe, sandbox):
    receiver = Receiver(pipe).start()
    try:
        sandbox.set_webhooks(receiver.hook_url, secret=SECRET, time_scale=20, faults=FAULTS)
        sandbox.start_live(100, 10, mix=EVERY_KIND)
        time.sleep(3)
        receiver.kill()  # kill -9: whatever was in flight, unanswered, is retried by the sandbox
        time.sleep(2)
        receiver.start()  # the same port and spool: what was acknowledged is loaded from the spool
        status = sandbox.wait_webhooks(240)
        receiver.wait_drained(120)
    finally:
        receiver.stop()
    assert status["stats"]["gave_up"] == 0
    assert any(a["status"] is None for e in sandbox.webhook_log() for a in e["attempts"])  # some failed
    truth = sandbox.truth()
    assert_sales_exact(pipe, truth)
    assert_attendance_exact(pipe, truth)


def test_replays_older_bodies_baskets_and_exchanges_by_hand(pipe, sandbox):
    first, second = paid_orders(sandbox)[:2]
    with Receiver(pipe) as receiver:
        now = order_body(sandbox, first)
        basket = now["baskets"][0]
        scanned = {**basket, "checked_at": "2031-05-01T19:00:00+03:00",
                   "updated_at": "2031-05-01T19:00:02+03:00"}
        newer = {**now, "checked_basket": scanned}  # the scan named in checked_basket only
        older = {**now, "updated_at": "2001-01-01T00:00:00+03:00",
                 "baskets": [{**b, "updated_at": "2001-01-01T00:00:00+03:00"} for b in now["baskets"]]}
        for body in (newer, older, newer, older):  # replays, and an older state arriving last
            assert receiver.post(json.dumps(body).encode(), event="checked") == 200
        receiver.wait_drained(60)
        assert ticket(pipe, basket["id"])["checked_at"].strftime("%F %T") == "2031-05-01 16:00:00"  # UTC

        unchecked = {**scanned, "checked_at": None, "updated_at": "2031-05-01T19:05:00+03:00"}
        body = {**now, "unchecked_basket": unchecked}
        assert receiver.post(json.dumps(body).encode(), event="checked") == 200
        receiver.wait_drained(60)
        assert ticket(pipe, basket["id"])["checked_at"] is None

        refunded = {**basket, "refunded_at": "2031-05-02T10:00:00+03:00", "refunded_amount": basket["price"],
                    "updated_at": "2031-05-02T10:00:00+03:00"}
        body = {**now, "refunded_baskets": [refunded]}
        assert receiver.post(json.dumps(body).encode(), event="refunded") == 200
        receiver.wait_drained(60)
        assert ticket(pipe, basket["id"])["status"] == "refunded"

        other = order_body(sandbox, second)
        exchanged = {**other, "updated_at": "2031-05-03T10:00:00+03:00",
                     "baskets": [{**b, "checked_at": "2031-05-03T10:00:00+03:00",
                                  "updated_at": "2031-05-03T10:00:00+03:00"} for b in other["baskets"]]}
        body = {**order_body(sandbox, first), "updated_at": "2031-05-03T10:00:00+03:00",
                "secondary_orders": [exchanged], "primary_orders": [123456789]}
        assert receiver.post(json.dumps(body).encode(), event="updated") == 200
        receiver.wait_drained(60)
        assert all(ticket(pipe, b["id"])["checked_at"] is not None for b in other["baskets"])
    assert "1 exchanged orders of main came as ids only (123456789)" in receiver.log()
