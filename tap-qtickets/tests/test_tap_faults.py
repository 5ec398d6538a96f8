"""Sandbox faults → complete, correct output or one clear failure; the HTTP layer only ever sends GET."""

from __future__ import annotations

import logging

import pytest
import requests
from qtickets_sandbox.testing import SandboxServer
from singer_sdk.exceptions import RetriableAPIError
from tap_qtickets.client import GetOnlySession
from tap_qtickets.errors import MethodNotAllowedError, QTicketsError
from tap_qtickets.handoff import handed_context
from tap_qtickets.streams import EventPayload
from tap_qtickets.tap import TapQTickets
from tapqt_helpers import TOKEN, latest_changes, latest_orders, run_tap, run_tap_partial, sandbox_config

pytestmark = pytest.mark.integration

ORDERS = "/api/rest/v1/orders"
STREAMS = ("orders", "sales", "clients")


@pytest.fixture
def sb():
    with SandboxServer(seed=31, orders=400, events=4, token=TOKEN) as server:
        yield server


def snapshot(result: dict) -> tuple:
    records = result["records"]
    return (latest_orders(result), sorted(s["id"] for s in records.get("sales", [])),
            sorted(c["id"] for c in records.get("clients", [])))


@pytest.mark.parametrize(
    "rules",
    [
        pytest.param([{"match": ORDERS, "fault": "status", "status": 429, "retry_after": 0.2, "count": 2}],
                     id="429-retry-after"),
        pytest.param([{"match": ORDERS, "fault": "status", "status": 503, "after": 1, "count": 3},
                      {"match": "/api/rest/v1/clients", "fault": "status", "status": 502, "count": 2}],
                     id="5xx-bursts"),
        pytest.param([{"match": ORDERS, "fault": "delay", "seconds": 1.5, "after": 2, "count": 1}],
                     id="timeout"),
        pytest.param([{"match": ORDERS, "fault": "drop", "after": 1, "count": 2}], id="dropped-connection"),
        pytest.param([{"match": ORDERS, "fault": "truncate", "after": 1, "count": 2}], id="truncated-json"),
    ],
)
def test_transient_faults_give_complete_output(sb, rules):
    config = sandbox_config(sb, page_size=50, request_timeout=0.5)
    reference = snapshot(run_tap(config, streams=STREAMS))
    sb.set_faults(rules)
    faulty = run_tap(config, streams=STREAMS)
    hits = sum(rule["hits"] for rule in sb.faults())
    assert hits == sum(rule["count"] for rule in rules), "fault did not fire: the test proves nothing"
    assert snapshot(faulty) == reference


def test_retry_after_is_honoured(sb):
    sb.set_faults([{"match": ORDERS, "fault": "status", "status": 429, "retry_after": 7, "count": 1}])
    response = requests.get(f"{sb.base_url}/orders", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    stream = TapQTickets(config=sandbox_config(sb)).streams["orders"]
    assert response.status_code == 429
    assert stream._wait_seconds(RetriableAPIError("429", response)) == 7.0
    plain = RetriableAPIError("503", None)
    assert [stream._wait_seconds(plain) for _ in range(3)] == [0.05, 0.1, 0.2]


def test_ignored_filters_fall_back_to_a_safe_scan(sb, caplog):
    config = sandbox_config(sb, page_size=40, lookback_minutes=0)
    streams = ("orders", "sales")
    first = run_tap(config, streams=streams)
    before = latest_changes(first)
    sb.advance(600)
    reference = latest_changes(run_tap({**config, "page_size": 500}, streams=streams))
    bookmarks = first["state"]["bookmarks"]["orders"]
    boundary = (bookmarks["replication_key_value"], bookmarks["ticket_changes"]["bookmark"])
    # Orders or tickets changed since the first run, plus the `>=` boundaries of both bookmarks.
    expected = {i for i, v in reference.items()
                if before.get(i) != v or v[0] == boundary[0] or v[1] == boundary[1]}
    assert any(i in before and before[i][0] == v[0] for i, v in reference.items() if i in expected), \
        "no ticket-only change in 10 hours: the test would not prove the scan keeps them"
    sb.set_faults([{"match": ORDERS, "fault": "ignore_filters"}])
    with caplog.at_level(logging.WARNING, logger="tap-qtickets"):
        second = run_tap(config, state=first["state"], streams=streams)
    assert "did not honour the updated_at filter" in caplog.text
    assert second["tap"].streams["orders"].ticket_pass == "full scan"
    assert latest_changes(second) == {i: reference[i] for i in expected}


def test_deterministic_503_fails_after_max_retries(sb):
    sb.set_faults([{"match": ORDERS, "fault": "status", "status": 503}])
    sb.clear_requests()
    result = run_tap_partial(sandbox_config(sb, max_retries=2), streams=("orders",))
    assert isinstance(result["error"], QTicketsError)
    assert "giving up after 3 attempts" in str(result["error"]) and "503" in str(result["error"])
    assert len([r for r in sb.requests() if r["path"] == ORDERS]) == 3


def test_non_get_is_refused_before_reaching_the_server(sb):
    sb.clear_requests()
    with pytest.raises(MethodNotAllowedError):
        GetOnlySession().post(f"{sb.base_url}/orders", json={"where": []}, timeout=5)
    tap = TapQTickets(config=sandbox_config(sb))
    stream = tap.streams["color_themes"]
    stream.http_method = "POST"
    with pytest.raises(MethodNotAllowedError):
        list(stream.request_records(None))
    assert sb.requests() == []
    run_tap(sandbox_config(sb), streams=("color_themes", "clients"))
    assert {r["method"] for r in sb.requests()} == {"GET"}


def test_inventory_skips_a_show_that_disappeared(sb, caplog):
    stream = TapQTickets(config=sandbox_config(sb)).streams["inventory"]
    real = sb.truth()["inventory"][0]
    shows = [{"id": 999999999, "finish_date": None}, {"id": real["show_id"], "finish_date": None}]
    context = stream.preprocess_context(handed_context([EventPayload(real["event_id"], False, shows)]))
    with caplog.at_level(logging.WARNING, logger="tap-qtickets"):
        rows = list(stream.get_records(context))
    assert "show 999999999 no longer exists" in caplog.text
    assert rows and {(r["event_id"], r["show_id"]) for r in rows} == {(real["event_id"], real["show_id"])}


def test_seat_requests_keep_two_in_flight_and_their_order(sb):
    """The API reference suggests at most two concurrent requests: the per-show seat GETs keep exactly two in
    flight (each answer delayed, so they do overlap), and the rows still come in show order."""
    truth = sb.truth()["inventory"]
    shows = sorted({(r["event_id"], r["show_id"]) for r in truth}, key=lambda pair: pair[1], reverse=True)
    assert len(shows) >= 3
    payloads = [EventPayload(event_id, False, [{"id": show_id, "finish_date": None}])
                for event_id, show_id in shows]
    stream = TapQTickets(config=sandbox_config(sb)).streams["inventory"]
    context = stream.preprocess_context(handed_context(payloads))
    sb.set_faults([{"match": "/api/rest/v1/shows/", "fault": "delay", "seconds": 0.1}])
    sb.clear_requests()
    rows = list(stream.get_records(context))
    seats = [entry for entry in sb.requests() if entry["path"].endswith("/seats")]
    assert sorted(int(entry["path"].split("/")[-2]) for entry in seats) == sorted(s for _, s in shows)
    assert max(entry["in_flight"] for entry in seats) == 2
    assert list(dict.fromkeys(r["show_id"] for r in rows)) == [show_id for _, show_id in shows]
    fields = ("event_id", "capacity", "free", "sold", "held", "disabled")
    assert {(r["show_id"], r["zone_id"]): tuple(r[f] for f in fields) for r in rows} == {
        (r["show_id"], r["zone_id"]): tuple(r[f] for f in fields) for r in truth}
