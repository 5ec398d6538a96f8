"""The webhook receiver's parts on their own: the spool (durability, torn tails, the cursor), payloads → the
tap's records (basket updates, exchanges, newest per key) and the accounts' secrets."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest
from qtickets_pipeline.settings import SettingsError, load_settings
from qtickets_pipeline.webhooks import payloads
from qtickets_pipeline.webhooks.secrets import endpoints, signature
from qtickets_pipeline.webhooks.spool import Position, Spool, SpoolBusyError
from tap_qtickets.order_records import OrderRecords

pytestmark = pytest.mark.unit

REPO_ENV = ("QTICKETS_WEBHOOK_SECRET", "QTICKETS_WEBHOOK_SECRET_PREVIOUS", "QTICKETS_ACCOUNT")


def order(order_id: int = 7, **changes) -> dict:
    basket = {"id": 70, "seat_id": "5-2-11", "show_id": 3, "price": 1500, "original_price": 1500,
              "client_email": "a@example.org", "barcode": "871234", "checked_at": None,
              "updated_at": "2026-01-10T12:00:00+03:00", "refunded_at": None, "deleted_at": None}
    body = {"id": order_id, "event_id": 2, "payed": 1, "payed_at": "2026-01-10T11:59:00+03:00",
            "created_at": "2026-01-10T11:50:00+03:00", "updated_at": "2026-01-10T12:00:03+03:00",
            "deleted_at": None, "price": 1500, "client": {"id": 1, "email": "a@example.org"},
            "baskets": [basket], "primary_orders": [], "secondary_orders": [], "refunded_baskets": [],
            "checked_basket": None, "unchecked_basket": None}
    body.update(changes)
    return body


# --- spool --------------------------------------------------------------------------------------------

def append(spool: Spool, *bodies: bytes) -> None:
    async def go() -> None:
        await asyncio.gather(*(spool.append("main", "updated", time.time(), body) for body in bodies))

    asyncio.run(go())


def test_spooled_frames_come_back_in_order_and_the_cursor_survives_a_restart(tmp_path):
    spool = Spool(tmp_path)
    append(spool, b'{"id":1}', b'{"id":2}', b'{"id":3}')
    frames = spool.read(spool.cursor(), 10)
    assert [f.body for f in frames] == [b'{"id":1}', b'{"id":2}', b'{"id":3}']
    spool.consume(frames[1].end)
    spool.close()
    again = Spool(tmp_path)  # a restart: a new segment, the old one read from the cursor
    append(again, b'{"id":4}')
    assert [f.body for f in again.read(again.cursor(), 10)] == [b'{"id":3}', b'{"id":4}']
    again.consume(again.read(again.cursor(), 10)[-1].end)
    assert again.read(again.cursor(), 10) == [] and len(again.segments()) == 1  # consumed segments go
    assert again.backlog(again.cursor()) == 0


def test_a_frame_torn_by_a_crash_is_skipped_and_what_follows_is_read(tmp_path):
    spool = Spool(tmp_path)
    append(spool, b'{"id":1}')
    segment = tmp_path / f"spool-{spool.segments()[-1]:012d}.log"
    spool.close()
    with open(segment, "ab") as handle:  # a header and half a body: never fsync'd, never acknowledged
        handle.write(b'{"account":"main","event":"x","received_at":1,"n":100,"crc":5}\n{"id":')
    again = Spool(tmp_path)
    append(again, b'{"id":2}')
    assert [f.body for f in again.read(again.cursor(), 10)] == [b'{"id":1}', b'{"id":2}']


def test_one_spool_one_receiver(tmp_path):
    spool = Spool(tmp_path)
    with pytest.raises(SpoolBusyError, match="another receiver"):
        Spool(tmp_path)
    spool.close()


def test_a_batch_limit_and_positions_order(tmp_path):
    spool = Spool(tmp_path)
    append(spool, *(json.dumps({"id": n}).encode() for n in range(10)))
    first = spool.read(Position(0, 0), 4)
    assert len(first) == 4 and first[0].end < first[1].end
    assert spool.read(first[-1].end, 100)[0].body == b'{"id": 4}'


# --- payloads -----------------------------------------------------------------------------------------

def test_a_body_becomes_the_taps_records_without_personal_data():
    records = payloads.to_records(OrderRecords("main"), order())
    (sale,) = records.sales
    assert records.orders[0]["tickets_count"] == 1 and records.orders[0]["account"] == "main"
    assert "client" not in records.orders[0] and "client_email" not in sale and "barcode" not in sale
    assert sale["zone_id"] == "5-2" and sale["order_id"] == 7 and sale["price"] == "1500"
    assert sale["updated_at"] == "2026-01-10T09:00:00+00:00" and sale["payed"] is True


def test_checked_unchecked_and_refunded_baskets_apply_to_the_tickets_when_newer():
    scanned = {**order()["baskets"][0], "checked_at": "2026-01-10T18:00:00+03:00",
               "updated_at": "2026-01-10T18:00:01+03:00"}
    (sale,) = payloads.to_records(OrderRecords(), order(checked_basket=scanned)).sales
    assert sale["checked_at"] == "2026-01-10T15:00:00+00:00"
    older = {**scanned, "updated_at": "2026-01-10T11:00:00+03:00"}
    (sale,) = payloads.to_records(OrderRecords(), order(unchecked_basket=older)).sales
    assert sale["checked_at"] is None  # the order's own, newer copy wins
    refunded = {**order()["baskets"][0], "id": 71, "refunded_at": "2026-01-11T10:00:00+03:00",
                "updated_at": "2026-01-11T10:00:00+03:00"}
    sales = payloads.to_records(OrderRecords(), order(refunded_baskets=[refunded])).sales
    assert [s["id"] for s in sales] == [70, 71] and sales[1]["refunded_at"] == "2026-01-11T07:00:00+00:00"


def test_exchanges_load_whole_orders_and_leave_bare_ids_to_polling():
    swapped = order(8, baskets=[{**order()["baskets"][0], "id": 80}])
    body = order(secondary_orders=[swapped], primary_orders=[5, {"id": 6}])
    records = payloads.to_records(OrderRecords(), body)
    assert [o["id"] for o in records.orders] == [7, 8] and [s["id"] for s in records.sales] == [70, 80]
    assert records.ids_left == [5, 6]


def test_newest_keeps_one_row_per_key_by_the_sources_stamps_not_by_arrival():
    newer = order(updated_at="2026-01-10T13:00:00+03:00")
    records = payloads.Records()
    payloads.to_records(OrderRecords(), newer, records)
    payloads.to_records(OrderRecords(), order(), records)  # an older body arriving later
    payloads.to_records(OrderRecords(), newer, records)  # and a duplicate
    newest = records.newest()
    assert len(newest.orders) == 1 and len(newest.sales) == 1
    assert newest.sales[0]["order_updated_at"] == "2026-01-10T10:00:00+00:00"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"{}"])
def test_bodies_that_are_not_orders_are_refused(body):
    with pytest.raises(payloads.PayloadError):
        payloads.to_records(OrderRecords(), payloads.decode(body))


# --- secrets -----------------------------------------------------------------------------------------

@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(REPO_ENV):
            monkeypatch.delenv(name)
    return monkeypatch


def test_the_secret_is_required_and_named(clean_env):
    with pytest.raises(SettingsError, match=r"^QTICKETS_WEBHOOK_SECRET is not set"):
        endpoints(load_settings(environment="demo"))


def test_signatures_in_constant_time_with_the_previous_secret_during_rotation(clean_env):
    clean_env.setenv("QTICKETS_WEBHOOK_SECRET", "new")
    clean_env.setenv("QTICKETS_WEBHOOK_SECRET_PREVIOUS", "old")
    found = endpoints(load_settings(environment="demo"))
    body = b'{"id": 1}'
    assert found.find(None) is found.find("main") and found.find("spb") is None
    endpoint = found.base
    assert endpoint.verifies(body, signature(body, "new")) and endpoint.verifies(body, signature(body, "old"))
    assert endpoint.verifies(body, signature(body, "new").upper())
    assert not endpoint.verifies(body, signature(body, "other"))
    assert not endpoint.verifies(body + b" ", signature(body, "new"))
    assert not endpoint.verifies(body, None) and not endpoint.verifies(body, "zz\u00e9")
