"""Ticket-level changes (scans, refunds, edits that leave the order alone) reach the output: with the
self-checked nested filter, and through the fallback when the API cannot be trusted with it."""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections import Counter

import pytest
import requests
from qtickets_sandbox.inventory import TICKET_TRUTH_FIELDS
from qtickets_sandbox.testing import SandboxServer, comparable_ticket, expected_tickets
from tap_qtickets.ticket_changes import STATE_KEY, UNSUPPORTED, VERIFIED
from tapqt_helpers import TOKEN, run_tap, sandbox_config

pytestmark = pytest.mark.integration

STREAMS = ("events", "orders", "sales")
FIELDS = tuple(f for f in TICKET_TRUTH_FIELDS if f != "status")  # status is the views' rule, not a field
ORDERS = "/api/rest/v1/orders"
FALLBACKS = {"changed shows", "all older orders"}
HOLDER = ("client_name", "client_surname", "client_middlename")


class Output:
    """What a target keeps of the tap's sales records across runs: the latest record per ticket."""

    def __init__(self) -> None:
        self.tickets: dict[int, dict] = {}

    def absorb(self, result: dict) -> None:
        for sale in result["records"].get("sales", []):
            self.tickets[sale["id"]] = {**sale, "ticket_id": sale["id"]}

    def differences(self, truth: dict) -> dict[int, tuple]:
        """ticket id → (truth, output) for every paid ticket the output does not hold exactly."""
        expected = expected_tickets(truth, FIELDS)
        out = {}
        for ticket_id, want in expected.items():
            got = self.tickets.get(ticket_id)
            have = comparable_ticket(got, FIELDS) if got else None
            if have != want:
                out[ticket_id] = (want, have)
        return out


def basket_now(sb: SandboxServer, order_id: int, ticket_id: int) -> dict:
    answer = requests.get(f"{sb.base_url}/orders/{order_id}", headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=10)
    return next(b for b in answer.json()["data"]["baskets"] if b["id"] == ticket_id)


def _runs(sb: SandboxServer, config: dict, steps: list[int], check) -> Output:
    """A run, then for each step: advance the sandbox clock by that many minutes and run again with the
    state the previous run left; `check(result, output, truth)` after every run."""
    output, state = Output(), None
    for minutes in [0, *steps]:
        if minutes:
            sb.advance(minutes)
        result = run_tap(config, state=state, streams=STREAMS)
        output.absorb(result)
        state = result["state"]
        check(result, output, sb.truth())
    return output


def _ticket_only_changes(truth: dict) -> list[dict]:
    return [t for t in truth["tickets"] if t["updated_at"] > t["order_updated_at"]]


@pytest.mark.slow
@pytest.mark.parametrize("bumps", [True, False], ids=["refund-bumps-order", "refund-leaves-order"])
def test_every_ticket_change_is_out_after_the_next_run(bumps):
    """48 simulated hours, runs 30 min to 6 h apart: after every run each paid ticket equals the truth in
    every field, with the nested filter verified and no fallback."""
    rng = random.Random(9)
    steps = []
    while sum(steps) < 48 * 60:
        steps.append(rng.choice([30, 60, 120, 240, 360]))
    passes = []

    def check(result, output, truth):
        assert output.differences(truth) == {}
        orders = result["tap"].streams["orders"]
        passes.append(orders.ticket_pass)
        assert result["state"]["bookmarks"]["orders"][STATE_KEY].get("basket_filter") == VERIFIED

    with SandboxServer(seed=5, orders=1500, events=6, token=TOKEN,
                       semantics={"refund_bumps_order": bumps}) as sb:
        _runs(sb, sandbox_config(sb), steps, check)
        truth = sb.truth()
    assert set(passes) == {"nested filter"}
    only = _ticket_only_changes(truth)
    assert any(t["checked_at"] for t in only), "no scan under an unchanged order: nothing was proven"
    if not bumps:
        assert any(t["refunded_at"] for t in only), "no refund under an unchanged order"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ignore", "reject", "empty", "off"])
def test_fallback_keeps_live_shows_exact_and_the_rest_within_a_day(mode, caplog):
    """When the nested filter is ignored, rejected or silently empty (or switched off), live shows (neither
    they nor their event deleted, not finished more than 24 h ago) are still exact after every run, and any
    other ticket change is out within 24 h (the deep pass) — except a ticket's bare `updated_at` after an
    edit that left everything its show's ticket list shows as it was (show_digests.py: the fallback cannot
    see it)."""
    lags: list[dt.timedelta] = []

    def check(result, output, truth):
        now = dt.datetime.fromisoformat(truth["now"])
        shows = {s["id"]: s for s in truth["shows"]}
        deleted_events = {e["id"] for e in truth["events"] if e["deleted_at"]}
        for want, have in output.differences(truth).values():
            ticket = dict(zip(FIELDS, want, strict=True))
            stale = {f for f, w, h in zip(FIELDS, want, have or [None] * len(FIELDS), strict=True) if w != h}
            if stale == {"updated_at"}:  # the holder (not in the truth) must be current, then
                emitted = output.tickets[ticket["ticket_id"]]
                current = basket_now(sb, ticket["order_id"], ticket["ticket_id"])
                assert all(emitted[f] == current[f] for f in HOLDER), f"ticket {ticket['ticket_id']} lags"
                continue
            show = shows[ticket["show_id"]]
            finish = dt.datetime.fromisoformat(show["finish_date"])
            live = (finish + dt.timedelta(hours=24) >= now and not show["deleted_at"]
                    and show["event_id"] not in deleted_events)
            assert not live, f"ticket {ticket['ticket_id']} of a live show lags"
            lag = now - ticket["updated_at"]
            assert lag < dt.timedelta(hours=24), f"ticket {ticket['ticket_id']} lags {lag}"
            lags.append(lag)
        assert result["tap"].streams["orders"].ticket_pass in FALLBACKS | {"nested filter"}

    # Seed 6 with 10 events: an event that is over gets refunds during these 48 hours.
    with SandboxServer(seed=6, orders=1500, events=10, token=TOKEN,
                       semantics={"refund_bumps_order": False}) as sb:
        # deep_pass_hours + the longest gap between runs (6 h) stays within the 24 h contract; the holder's
        # names (personal data) are kept to tell an edit the fallback missed from one it could not see.
        config = sandbox_config(sb, max_retries=1, deep_pass_hours=18, include_pii=True)
        if mode == "off":
            config["basket_filter"] = "off"
        else:
            sb.set_faults([{"match": ORDERS, "fault": "dotted_filters", "mode": mode}])
        with caplog.at_level(logging.WARNING, logger="tap-qtickets"):
            _runs(sb, config, [360] * 8, check)
        truth = sb.truth()
    late = [t for t in truth["tickets"] if t["refunded_at"] and t["refunded_at"] > t["order_updated_at"]]
    assert late, "no refund under an unchanged order: the fallback was not exercised"
    assert lags, "no change of a finished show waited for the deep pass: the allowance was not exercised"
    if mode != "off":
        assert "does not honour the nested filter" in caplog.text


def test_unsupported_filter_is_not_retried_for_a_day_and_state_stays_on_failure():
    with SandboxServer(seed=5, orders=600, events=5, token=TOKEN, start_date="2025-11-03") as sb:
        config = sandbox_config(sb, max_retries=1, start_date="2025-10-01")
        sb.set_faults([{"match": ORDERS, "fault": "dotted_filters", "mode": "reject"}])
        first = run_tap(config, streams=STREAMS)
        saved = first["state"]["bookmarks"]["orders"][STATE_KEY]
        assert saved["basket_filter"] == UNSUPPORTED
        assert saved["deep_pass_at"] == "2025-11-03T09:00:00+00:00"  # the server's clock, not this host's

        def nested_requests() -> int:
            return sum(1 for r in sb.requests() if r["path"] == ORDERS
                       and any("." in c["column"] for c in (r["body"] or {}).get("where", [])))

        sb.advance(6 * 60)
        sb.clear_requests()
        second = run_tap(config, state=first["state"], streams=STREAMS)
        assert nested_requests() == 0 and second["tap"].streams["orders"].ticket_pass == "changed shows"
        sb.clear_faults()
        sb.advance(19 * 60)  # 25 h after the check: tried again, and verified now
        third = run_tap(config, state=second["state"], streams=STREAMS)
        assert nested_requests() > 0
        assert third["state"]["bookmarks"]["orders"][STATE_KEY]["basket_filter"] == VERIFIED
        assert third["tap"].streams["orders"].ticket_pass == "nested filter"


def test_the_nested_filter_query_is_sent_while_the_order_pass_pages_and_pages_on():
    """Its first page goes out once the order pass has an answer (the nested filter may be slow), its
    next pages continue after that page's last id, and every ticket comes out exact."""
    with SandboxServer(seed=5, orders=1500, events=6, token=TOKEN, start_date="2025-11-03") as sb:
        config, output = sandbox_config(sb, page_size=5, start_date="2025-10-01"), Output()
        first = run_tap(config, streams=STREAMS)
        output.absorb(first)
        sb.advance(24 * 60)
        sb.clear_requests()
        second = run_tap(config, state=first["state"], streams=STREAMS)
        output.absorb(second)
        assert output.differences(sb.truth()) == {}
        wheres = [[(c["column"], c["operator"]) for c in r["body"]["where"]] for r in sb.requests()
                  if r["path"] == ORDERS]
    nested = [i for i, where in enumerate(wheres) if ("updated_at", "<") in where]
    order_pass = [i for i, where in enumerate(wheres) if where[0] == ("updated_at", ">=")]
    assert second["tap"].streams["orders"].ticket_pass == "nested filter"
    assert second["tap"].streams["orders"].from_pass["ticket"] > 5  # more than the first page holds
    assert nested[0] < order_pass[-1], "the nested-filter query waited for the order pass"
    assert len(nested) > 1 and all(("id", ">") in wheres[i] for i in nested[1:])


def test_deep_pass_widens_the_look_back_once_a_day():
    with SandboxServer(seed=5, orders=600, events=5, token=TOKEN, start_date="2025-11-03") as sb:
        config = sandbox_config(sb, start_date="2025-10-01")
        state = run_tap(config, streams=STREAMS)["state"]
        windows = []
        for _ in range(5):
            sb.advance(6 * 60)
            sb.clear_requests()
            result = run_tap(config, state=state, streams=STREAMS)
            bookmark = dt.datetime.fromisoformat(state["bookmarks"]["orders"]["replication_key_value"])
            first = next(r for r in sb.requests() if r["path"] == ORDERS)
            since = dt.datetime.fromisoformat(first["body"]["where"][0]["value"])
            windows.append(round((bookmark - since) / dt.timedelta(minutes=1)))
            state = result["state"]
    # Runs 6 h apart: 24 h after the first run's deep pass comes the next one (3 days), else 2 h.
    assert windows == [120, 120, 120, 3 * 24 * 60, 120]


def _ticket_pass_requests(sb: SandboxServer) -> Counter:
    """The ticket pass's requests of the last run: re-reads of older orders, barcode lists."""
    kinds: Counter = Counter()
    for entry in sb.requests():
        first = ((entry["body"] or {}).get("where") or [{}])[0] if entry["path"] == ORDERS else {}
        if entry["path"].endswith("/barcodes"):
            kinds["barcodes"] += 1
        elif entry["path"] == ORDERS and (first.get("column"), first.get("operator")) != ("updated_at", ">="):
            kinds["re-read"] += 1
    return kinds


def _without_deep_pass_mark(state: dict) -> dict:
    orders = state["bookmarks"]["orders"]
    marks = {k: v for k, v in orders[STATE_KEY].items() if k != "deep_pass_at"}
    return {**state, "bookmarks": {**state["bookmarks"], "orders": {**orders, STATE_KEY: marks}}}


def _live_shows(truth: dict) -> set[int]:
    now = dt.datetime.fromisoformat(truth["now"])
    deleted_events = {e["id"] for e in truth["events"] if e["deleted_at"]}
    return {s["id"] for s in truth["shows"] if not s["deleted_at"] and s["event_id"] not in deleted_events
            and dt.datetime.fromisoformat(s["finish_date"]) + dt.timedelta(hours=24) >= now}


@pytest.mark.slow
def test_a_fallback_run_without_changes_costs_the_same_whatever_the_history():
    """Without the nested filter, a run after which nothing changed reads the barcode lists of the live
    shows (a deep pass: also of the shows finished within the refund horizon) and no older order — the same
    requests for a 4× longer history over the same events."""
    costs = []
    for orders in (600, 2400):
        with SandboxServer(seed=5, orders=orders, events=5, token=TOKEN, start_date="2025-11-03") as sb:
            config = sandbox_config(sb, basket_filter="off", start_date="2025-10-01")
            state = run_tap(config, streams=STREAMS)["state"]  # the first digests
            sb.clear_requests()
            state = run_tap(config, state=state, streams=STREAMS)["state"]
            plain = _ticket_pass_requests(sb)
            asked = {int(r["path"].split("/")[-2]) for r in sb.requests() if r["path"].endswith("/barcodes")}
            assert asked == _live_shows(sb.truth())  # the inventory's live shows: no deleted one
            state = run_tap(config, state=_without_deep_pass_mark(state), streams=STREAMS)["state"]
            sb.clear_requests()  # the first deep pass met the recently finished shows: the next one is steady
            run_tap(config, state=_without_deep_pass_mark(state), streams=STREAMS)
            costs.append((plain, _ticket_pass_requests(sb)))
    (plain, deep), _ = costs
    assert costs[0] == costs[1]
    assert plain["re-read"] == deep["re-read"] == 0 and 0 < plain["barcodes"] < deep["barcodes"]
