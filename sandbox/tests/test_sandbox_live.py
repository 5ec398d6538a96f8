"""Live activity: real order changes at a real-time rate, each with its webhook, the truth kept consistent."""

from collections import Counter
from datetime import datetime, timedelta

import pytest
import requests
from qtickets_sandbox.testing import SandboxServer

pytestmark = pytest.mark.integration


def test_live_changes_are_real_sent_and_consistent(receiver, client, check_consistency, check_last_payloads):
    with SandboxServer(seed=11, orders=200, events=6, token="t", start_date="2025-11-03",
                       webhooks={"url": receiver.url, "secret": "x"}) as sb:
        api = client(sb)
        before = sb.truth()
        started = sb.start_live(changes_per_second=200, seconds=1)
        assert started["running"] and started["goal"] == 200
        assert requests.post(sb.root_url + "/_sandbox/live", json={"changes_per_second": 1, "seconds": 1},
                             timeout=5).status_code == 409
        status = sb.wait_live()
        explicit = sum(status["explicit"].values())  # each makes exactly one change
        assert status["error"] is None and status["changes"] == 200 == explicit + status["scheduled"]
        stats = sb.wait_webhooks()["stats"]
        assert stats["enqueued"] == stats["delivered"] == len(receiver.calls) == status["changes"]

        after = sb.truth()
        assert after["now"] == status["clock"] > before["now"]
        # One clock second per tick; a tick makes one change itself or lets queued consequences make some.
        ticks = (datetime.fromisoformat(after["now"]) - datetime.fromisoformat(before["now"])).total_seconds()
        least = explicit + status["idle_ticks"]
        assert least <= ticks <= least + status["scheduled"]
        check_consistency(api, after)
        bodies = receiver.bodies()
        check_last_payloads(api, bodies)
        events = Counter(headers["X-Event-Type"] for headers, _ in receiver.calls)
        assert set(events) == {"created", "updated", "payed", "deleted", "refunded", "checked"}
        unchecked = [b["unchecked_basket"] for b in bodies if b["unchecked_basket"]]
        assert unchecked and all(b["checked_at"] is None for b in unchecked)
        paid_before = {t["ticket_id"] for t in before["tickets"]}
        assert {t["ticket_id"] for t in after["tickets"]} > paid_before  # new sales reached the truth


def test_live_stops_on_delete_and_checks_its_settings(fresh_sb):
    url = fresh_sb.root_url + "/_sandbox/live"
    for body, word in (
        ({"changes_per_second": 0, "seconds": 1}, "changes_per_second"),
        ({"changes_per_second": 5}, "seconds"),
        ({"changes_per_second": 5, "seconds": 1, "mix": {"teleport": 1}}, "mix"),
        ({"changes_per_second": 5, "seconds": 1, "speed": 2}, "speed"),
    ):
        r = requests.post(url, json=body, timeout=5)
        assert r.status_code == 400 and word in r.json()["error"], (body, r.text)
    assert fresh_sb.live_status() == {"running": False}
    fresh_sb.start_live(changes_per_second=20, seconds=60, mix={"create": 1}, clock_step_seconds=60)
    stopped = fresh_sb.stop_live()
    assert not stopped["running"] and stopped["changes"] < stopped["goal"] == 1200
    clock = datetime.fromisoformat(fresh_sb.truth()["now"])
    ticks = stopped["changes"] + stopped["idle_ticks"]  # at most: one clock minute each
    assert timedelta(0) < clock - datetime.fromisoformat(stopped["started_clock"]) <= timedelta(minutes=ticks)
    assert set(stopped["explicit"]) <= {"create"}
