"""Full sync against the sandbox over real HTTP, checked against the sandbox's ground truth."""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal

import pytest
import requests
from qtickets_sandbox.testing import SandboxServer
from tap_qtickets.normalize import to_utc_iso
from tapqt_helpers import TOKEN, run_tap, sandbox_config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def synced():
    with SandboxServer(seed=11, orders=400, events=6, token=TOKEN) as sb:
        answer = requests.get(f"{sb.base_url}/orders", json={"per_page": 1},
                              headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        total = answer.json()["paging"]["total"]
        sb.clear_requests()
        logging.getLogger("tap-qtickets").setLevel(logging.INFO)
        result = run_tap(sandbox_config(sb, page_size=37))
        yield {"result": result, "truth": sb.truth(), "requests": sb.requests(), "orders_total": total}


def test_every_order_once_with_its_tickets(synced):
    records = synced["result"]["records"]
    ids = [r["id"] for r in records["orders"]]
    assert len(ids) == len(set(ids)) == synced["orders_total"]
    assert sum(r["tickets_count"] for r in records["orders"]) == len(records["sales"])
    assert {s["order_id"] for s in records["sales"]} <= set(ids)


def test_paid_sales_match_truth_tickets(synced):
    sales = {s["id"]: s for s in synced["result"]["records"]["sales"] if s["payed"]}
    tickets = {t["ticket_id"]: t for t in synced["truth"]["tickets"]}
    assert sales.keys() == tickets.keys()
    for ticket_id, truth in tickets.items():
        sale = sales[ticket_id]
        assert (sale["order_id"], sale["event_id"], sale["show_id"]) == (
            truth["order_id"], truth["event_id"], truth["show_id"])
        assert Decimal(sale["price"]) == Decimal(str(truth["price"]))
        assert sale["payed_at"] == to_utc_iso(truth["payed_at"])
        if truth["status"] == "refunded":
            assert sale["refunded_at"]
        elif truth["status"] == "cancelled":
            assert not sale["refunded_at"] and (sale["deleted_at"] or sale["order_deleted_at"])
        else:
            assert not (sale["refunded_at"] or sale["deleted_at"] or sale["order_deleted_at"])


def test_events_and_shows_match_truth(synced):
    records = synced["result"]["records"]
    events = {e["id"]: e for e in records["events"]}
    truth = {e["id"]: e for e in synced["truth"]["events"]}
    assert events.keys() == truth.keys()
    for event_id, expected in truth.items():
        got = events[event_id]
        assert (got["name"], got["city_id"], got["city_name"], got["city_timezone"]) == (
            expected["name"], expected["city_id"], expected["city_name"], expected["city_timezone"])
        assert got["deleted_at"] == to_utc_iso(expected["deleted_at"])
    shows = records["shows"]
    assert len(shows) == sum(e["shows_count"] for e in records["events"])
    assert {s["event_id"] for s in shows} <= events.keys()
    assert {row["show_id"] for row in synced["truth"]["inventory"]} <= {s["id"] for s in shows}


def test_inventory_matches_truth_for_shows_in_window(synced):
    records = synced["result"]["records"]
    snapshot = {r["snapshot_at"] for r in records["inventory"]}
    assert len(snapshot) == 1
    now = dt.datetime.fromisoformat(snapshot.pop())
    deleted_events = {e["id"] for e in records["events"] if e["deleted_at"]}
    in_window = {s["id"] for s in records["shows"]
                 if not s["deleted_at"] and s["event_id"] not in deleted_events
                 and dt.datetime.fromisoformat(s["finish_date"]) + dt.timedelta(hours=24) >= now}
    fields = ("event_id", "capacity", "free", "sold", "held", "disabled")
    expected = {(r["show_id"], r["zone_id"]): tuple(r[f] for f in fields)
                for r in synced["truth"]["inventory"] if r["show_id"] in in_window}
    got = {(r["show_id"], r["zone_id"]): tuple(r[f] for f in fields) for r in records["inventory"]}
    assert expected and got == expected


def test_schema_money_and_times(synced):
    result = synced["result"]
    price = result["schemas"]["sales"]["properties"]["price"]
    # Precision and scale survive the SDK's catalog model as x-sql-datatype-properties.
    assert price == {"type": ["string", "null"], "format": "x-singer.decimal", "x-sql-datatype": "decimal",
                     "x-sql-datatype-properties": {"precision": 18, "scale": 2}}
    for record in result["records"]["orders"][:50]:
        assert record["updated_at"].endswith("+00:00") and isinstance(record["price"], str)
    assert result["state"]["bookmarks"]["orders"]["replication_key_value"] == max(
        r["updated_at"] for r in result["records"]["orders"])


def test_only_get_requests_with_json_bodies(synced):
    log = synced["requests"]
    assert log and {entry["method"] for entry in log} == {"GET"}
    orders = [e for e in log if e["path"].endswith("/orders")]
    window = [e for e in orders if e["body"]["where"][0]["column"] == "updated_at"]
    tickets = [e for e in orders if e["body"]["where"][0]["column"] == "baskets.updated_at"]
    assert window and tickets and len(window) + len(tickets) == len(orders)
    assert all(e["body"]["orderBy"] == {"updated_at": "asc", "id": "asc"} for e in window)
    assert all(e["body"]["orderBy"] == {"id": "asc"} for e in tickets)
    seats = [e for e in log if e["path"].endswith("/seats")]
    assert seats and all(e["body"]["flat"] is True for e in seats)


def test_no_pii_or_token_in_output(synced):
    raw = synced["result"]["raw"]
    assert TOKEN not in raw
    for key in ('"client_email"', '"barcode"', '"payment_url"', '"pdf_url"', '"email"', '"code"'):
        assert key not in raw
    assert "@" not in json.dumps(synced["result"]["records"])


def test_one_line_per_stream_at_the_end(caplog):
    with SandboxServer(seed=5, orders=120, events=3, token=TOKEN) as sb, \
            caplog.at_level(logging.INFO, logger="tap_qtickets.progress"):
        run_tap(sandbox_config(sb, page_size=25), streams=("orders", "clients"))
    lines = [r.getMessage() for r in caplog.records if r.name == "tap_qtickets.progress"]
    by_stream = {line.split(":")[0]: line for line in lines}
    assert len(lines) == len(by_stream) == 2, lines  # one each, no progress line (the run takes < 15 s)
    orders, clients = by_stream["orders"], by_stream["clients"]
    assert orders.startswith("orders: 120 records from ")
    assert ": 120 from the order pass (updated_at >= " in orders
    assert orders.endswith(", 0 from the ticket pass (nested filter)"), orders
    assert clients.startswith("clients: 88 records from 4 requests"), clients


def test_progress_lines_while_reading(caplog, monkeypatch):
    """At most one line per PROGRESS_SECONDS (0 here: one per page), with the records so far per stream and
    the orders' position in updated_at."""
    monkeypatch.setattr("tap_qtickets.progress.PROGRESS_SECONDS", 0.0)
    with SandboxServer(seed=5, orders=120, events=3, token=TOKEN) as sb, \
            caplog.at_level(logging.INFO, logger="tap_qtickets.progress"):
        run_tap(sandbox_config(sb, page_size=25), streams=("orders",))
    reading = [r.getMessage() for r in caplog.records if r.getMessage().startswith("reading: ")]
    assert len(reading) >= 5, reading
    assert reading[0].startswith("reading: orders 0 records (orders now)"), reading[0]
    last = reading[-1]
    assert last.startswith("reading: orders 11") and "records (updated_at 20" in last, reading
    assert "+00:00 reached) (orders now)" in last, last


STREAM_OF_ROUTE = {"/events": "events", "/orders": "orders", "/clients": "clients", "/discounts": "discounts",
                   "/promo-codes": "promo_codes", "/color-themes": "color_themes", "/seats": "inventory"}


def test_the_sync_report_counts_every_request_per_stream(synced):
    report = synced["result"]["state"]["sync"]
    sent: dict[str, int] = {}
    for entry in synced["requests"]:
        route = next(r for r in STREAM_OF_ROUTE if entry["path"].endswith(r))
        sent[STREAM_OF_ROUTE[route]] = sent.get(STREAM_OF_ROUTE[route], 0) + 1
    assert report["status"] == "complete" and report["requests"] == sent
    assert report["window_start"] and report["window_end"] is None


def test_children_are_synced_once_per_batch_not_per_parent_record(synced):
    records = synced["result"]["records"]
    schemas = [json.loads(line)["stream"] for line in synced["result"]["raw"].splitlines()
               if line.startswith('{"type":"SCHEMA"')]
    assert len(records["events"]) > 1 and len(records["orders"]) > 1
    # One child sync (and so one SCHEMA message) per hand-over batch: all events fit in one, all sales too.
    assert schemas.count("shows") == schemas.count("inventory") == schemas.count("sales") == 1
