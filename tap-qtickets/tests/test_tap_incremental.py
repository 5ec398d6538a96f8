"""Incremental orders: bookmark, lookback, equal updated_at, interrupted runs, page drift."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

import pytest
from qtickets_sandbox.testing import SandboxServer
from tapqt_helpers import (
    TOKEN,
    latest_changes,
    latest_orders,
    orders_bookmark,
    run_tap,
    run_tap_partial,
    sandbox_config,
)

pytestmark = pytest.mark.integration

ORDERS_ONLY = ("orders", "sales")
# A fixed sandbox clock makes "what happens in the next 30 minutes" deterministic for the seed: with the
# wall clock, a quiet half hour (Poisson arrivals) made the advance tests flaky.
PINNED = {"start_date": "2025-11-03"}
SINCE = {"start_date": "2025-10-01T00:00:00Z"}


def test_second_run_returns_exactly_the_changed_orders():
    with SandboxServer(seed=21, orders=3000, events=5, token=TOKEN, **PINNED) as sb:
        config = sandbox_config(sb, lookback_minutes=0, page_size=200, **SINCE)
        first = run_tap({**config, "page_size": 500}, streams=ORDERS_ONLY)
        before, bookmark = latest_changes(first), orders_bookmark(first)
        sb.advance(30)
        reference = latest_changes(run_tap({**config, "page_size": 500}, streams=ORDERS_ONLY))
        second = run_tap(config, state=first["state"], streams=ORDERS_ONLY)
        with_lookback = run_tap({**config, "lookback_minutes": 90}, state=first["state"], streams=ORDERS_ONLY)

    changed = {i for i, v in reference.items() if before.get(i) != v}  # the order or one of its tickets
    at_bookmark = {i for i, v in reference.items() if v[0] == bookmark}  # `>=` re-reads the boundary
    assert changed, "the sandbox produced no changes in 30 minutes"
    got = latest_changes(second)
    assert got.keys() == changed | at_bookmark
    assert all(got[i] == reference[i] for i in got)
    assert orders_bookmark(second) == max(u for u, _ in reference.values())
    assert {s["order_id"] for s in second["records"]["sales"]} <= got.keys()
    assert len(second["records"]["orders"]) == len(got)  # no duplicates
    assert not any("partitions" in b for b in second["state"]["bookmarks"].values())  # no per-order state

    floor = (dt.datetime.fromisoformat(bookmark) - dt.timedelta(minutes=90)).isoformat()
    tickets_floor = (dt.datetime.fromisoformat(first["state"]["bookmarks"]["orders"]["ticket_changes"][
        "bookmark"]) - dt.timedelta(minutes=90)).isoformat()
    assert latest_orders(with_lookback).keys() == {i for i, (u, ticket) in reference.items()
                                                   if u >= floor or ticket >= tickets_floor}
    assert len(latest_orders(with_lookback)) > len(got)


@pytest.mark.slow
def test_ties_on_updated_at_across_tiny_pages():
    """Batch updates give many orders one updated_at; pages of 3 must still yield each order once."""
    with SandboxServer(seed=22, orders=250, events=4, token=TOKEN) as sb:
        result = run_tap(sandbox_config(sb, page_size=3), streams=("orders",))
        reference = latest_orders(run_tap(sandbox_config(sb, page_size=200), streams=("orders",)))
    ties = Counter(reference.values())
    assert max(ties.values()) > 3, "no tie group larger than a page: the test would prove nothing"
    ids = [r["id"] for r in result["records"]["orders"]]
    assert len(ids) == len(set(ids)) and latest_orders(result) == reference
    assert result["tap"].streams["orders"].safe_scan is False  # no false filter alarm on big tie groups


def test_interrupted_run_resumes_without_loss():
    with SandboxServer(seed=23, orders=3000, events=4, token=TOKEN, **PINNED) as sb:
        full = sandbox_config(sb, page_size=500, **SINCE)
        config = sandbox_config(sb, lookback_minutes=1440, page_size=20, max_retries=1, **SINCE)
        first = run_tap(full, streams=ORDERS_ONLY)
        before = latest_orders(first)
        sb.advance(30)
        sb.set_faults([{"match": "/api/rest/v1/orders", "fault": "status", "status": 503, "after": 2}])
        broken = run_tap_partial(config, state=first["state"], streams=ORDERS_ONLY)
        sb.clear_faults()
        assert broken["error"] is not None and "giving up" in str(broken["error"])
        assert broken["state"] is not None
        resumed = run_tap(config, state=broken["state"], streams=ORDERS_ONLY)
        reference = latest_orders(run_tap(full, streams=ORDERS_ONLY))
    changed = {i for i, u in reference.items() if before.get(i) != u}
    assert changed and changed <= latest_orders(resumed).keys()
    assert orders_bookmark(resumed) == max(reference.values())


@pytest.mark.slow
def test_page_drift_during_paging_loses_nothing():
    with SandboxServer(seed=24, orders=300, events=4, token=TOKEN) as sb:
        config = sandbox_config(sb, page_size=15)
        sb.set_faults([{"match": "/api/rest/v1/orders", "fault": "page_drift", "orders": 3, "after": 1,
                        "count": 8}])
        drifted = run_tap(config, streams=("orders",))
        assert sum(f["hits"] for f in sb.faults()) == 8
        sb.clear_faults()
        reference = latest_orders(run_tap(config, streams=("orders",)))
    assert latest_orders(drifted) == reference


def test_end_date_bounds_the_window():
    with SandboxServer(seed=25, orders=300, events=3, token=TOKEN) as sb:
        config = sandbox_config(sb, page_size=40)
        reference = latest_orders(run_tap({**config, "page_size": 500}, streams=("orders",)))
        cut = sorted(reference.values())[len(reference) // 2]
        bounded = run_tap({**config, "end_date": cut}, streams=("orders",))
    expected = {i: u for i, u in reference.items() if u <= cut}
    assert 0 < len(expected) < len(reference) and latest_orders(bounded) == expected


def test_a_bookmark_in_the_servers_future_is_said_once(caplog):
    """The demo sandbox restarted (its clock back at the start) behind a bookmark from its old clock: the
    run loads no orders, and says why in one line (the server's clock is its responses' Date header)."""
    with SandboxServer(seed=21, orders=300, events=3, token=TOKEN, **PINNED) as sb:
        config = sandbox_config(sb, **SINCE)
        sb.advance(24 * 60)
        ahead = run_tap(config, streams=ORDERS_ONLY)
    with SandboxServer(seed=21, orders=300, events=3, token=TOKEN, **PINNED) as sb, \
            caplog.at_level(logging.WARNING, logger="tap-qtickets"):
        config = sandbox_config(sb, **SINCE)
        in_step = run_tap(config, state=run_tap(config, streams=ORDERS_ONLY)["state"], streams=ORDERS_ONLY)
        assert not [r for r in caplog.records if "bookmark" in r.getMessage()]
        behind = run_tap(config, state=ahead["state"], streams=ORDERS_ONLY)
    warned = [r.getMessage() for r in caplog.records if "later than the API server's clock" in r.getMessage()]
    assert len(warned) == 1, warned
    assert warned[0].startswith(f"orders: the bookmark (updated_at {orders_bookmark(ahead)}) is later")
    assert "--full-refresh" in warned[0]
    assert not behind["records"].get("orders") and in_step["records"]["orders"]
