"""The marts behind the views, refreshed incrementally (marts.py, transform/refresh/*.sql): every refresh
must leave them equal to what the latest versions in staging say, whatever changed and however it came in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from qtickets_pipeline import marts, transforms, watermarks
from qtickets_pipeline.warehouse import query_rows

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
LAST_MONTH = NOW - timedelta(days=40)
LATER = NOW + timedelta(minutes=5)  # the batch time of rows written after the first refresh


def ticket(tid: int, version: int, **kw) -> dict:
    row = {"id": tid, "order_id": tid, "event_id": 1, "show_id": 11, "zone_id": "A", "seat_id": f"A-1;{tid}",
           "price": Decimal("100.00"), "payed": True, "payed_at": NOW - timedelta(hours=1),
           "updated_at": NOW - timedelta(hours=1), "_sdc_version": version, "_sdc_batched_at": NOW}
    row.update(kw)
    return row


def event(eid: int, version: int, **kw) -> dict:
    row = {"id": eid, "name": f"Event {eid}", "city_id": 5, "city_name": "Новосибирск",
           "city_timezone": "Asia/Novosibirsk", "_sdc_version": version, "_sdc_batched_at": NOW}
    row.update(kw)
    return row


def show(sid: int, eid: int, version: int, start: datetime, **kw) -> dict:
    row = {"id": sid, "event_id": eid, "start_date": start, "finish_date": start + timedelta(hours=3),
           "_sdc_version": version}
    row.update(kw)
    return row


@pytest.fixture
def account(settings, staged, version, insert):
    """Two events with a show each and five tickets, refreshed once."""
    db = settings.database
    insert(staged, db, "events", [event(1, version()), event(2, version(), city_name="Омск",
                                                             city_timezone="Asia/Omsk")])
    insert(staged, db, "shows", [show(11, 1, version(), NOW + timedelta(days=3)),
                                 show(12, 1, version(), NOW + timedelta(days=4)),
                                 show(21, 2, version(), NOW + timedelta(days=5))])
    insert(staged, db, "sales", [ticket(t, version()) for t in (1, 2, 3)]
           + [ticket(4, version(), payed_at=LAST_MONTH), ticket(5, version(), event_id=2, show_id=21)])
    transforms.apply_all(staged, settings)
    return staged


def sales(client) -> dict[int, tuple]:
    _, rows = query_rows(client, "SELECT ticket_id, status, price, event_id, show_id, city, checked_at, "
                                 "_sdc_version FROM zakaz.v_sales_latest")
    return {r[0]: r[1:] for r in rows}


def attendance(client) -> dict[int, tuple]:
    _, rows = query_rows(client, "SELECT show_id, tickets_sold, checked_in, show_start_at, "
                                 "show_start_at_local FROM zakaz.v_attendance_by_show")
    return {r[0]: r[1:] for r in rows}


def staging_truth(client) -> list[tuple]:
    """What the views' predecessor computed at read time: the latest versions in staging."""
    return query_rows(client, "SELECT id, price, checked_at, _sdc_version FROM zakaz.stg_qtickets_sales_raw "
                              "FINAL WHERE payed ORDER BY id")[1]


def test_changes_reach_the_marts_and_an_older_version_never_wins(settings, account, version, insert):
    db, client = settings.database, account
    refund = ticket(1, version(), refunded_at=NOW, refunded_amount=Decimal("100.00"), _sdc_batched_at=LATER)
    scan = ticket(2, version(), checked_at=NOW, _sdc_batched_at=LATER)
    unpaid = ticket(3, version(), payed=False, payed_at=None, _sdc_batched_at=LATER)
    new = ticket(6, version(), _sdc_batched_at=LATER)
    insert(client, db, "sales", [refund, scan, unpaid, new])
    # Written late with an older version than the mart's row (not by the target): it must lose.
    insert(client, db, "sales", [ticket(4, 0, price=Decimal("1.00"), payed_at=LAST_MONTH,
                                        _sdc_batched_at=LATER + timedelta(minutes=1))])
    result = marts.refresh(client, settings, transforms.template_names(settings))
    # The four changed tickets, and ticket 4 (its late row is read back in full): this and last month.
    assert (result.rebuilt, result.tickets, result.partitions) == (False, 5, 2)
    rows = sales(client)
    assert set(rows) == {1, 2, 4, 5, 6}  # 3 is no longer paid
    assert rows[1][0] == "refunded" and rows[2][5] is not None and rows[4][1] == Decimal("100.00")
    assert rows[6][-1] == new["_sdc_version"]
    assert [(t, p, c, v) for t, p, c, v in staging_truth(client)] == [
        (t, rows[t][1], rows[t][5], rows[t][6]) for t in sorted(rows)]
    assert attendance(client)[11][:2] == (3, 1)  # tickets 2 (scanned), 4 and 6 sold at show 11


def test_a_row_from_elsewhere_with_a_low_version_is_found_by_its_batch_time(settings, account, insert):
    db, client = settings.database, account
    insert(client, db, "sales", [ticket(7, 3, price=Decimal("42.00"), _sdc_batched_at=LATER)])
    transforms.apply_all(client, settings)
    assert sales(client)[7][1] == Decimal("42.00")


def test_a_ticket_moved_to_another_month_and_show_is_counted_once(settings, account, version, insert):
    db, client = settings.database, account
    assert sales(client)[4][3] == 11
    insert(client, db, "sales", [ticket(4, version(), payed_at=NOW - timedelta(hours=2), show_id=12,
                                        _sdc_batched_at=LATER)])
    transforms.apply_all(client, settings)
    _, rows = query_rows(client, "SELECT ticket_id, day FROM zakaz.mart_sales WHERE ticket_id = 4")
    assert len(rows) == 1 and rows[0][1] == (NOW - timedelta(hours=2)).astimezone(
        ZoneInfo(settings.report_tz)).date()
    assert attendance(client)[11][0] == 3 and attendance(client)[12][0] == 1
    _, per_day = query_rows(client, "SELECT sum(tickets_sold) FROM zakaz.v_sales_14d")
    assert per_day == [(5,)]


def test_event_and_show_changes_reach_the_rows_that_show_them(settings, account, version, insert):
    db, client = settings.database, account
    before = attendance(client)[11]
    insert(client, db, "events", [event(1, version(), name="Renamed", city_name="Москва",
                                        city_timezone="Europe/Moscow", _sdc_batched_at=LATER),
                                  event(2, version(), city_name="Омск", city_timezone="Asia/Omsk",
                                        _sdc_batched_at=LATER)])
    moved = NOW + timedelta(days=10)
    insert(client, db, "shows", [show(21, 2, version(), moved)])
    transforms.apply_all(client, settings)
    rows = sales(client)
    assert {rows[t][4] for t in (1, 2, 3, 4)} == {"Москва"} and rows[5][4] == "Омск"
    _, names = query_rows(client, "SELECT DISTINCT event_name FROM zakaz.v_sales_14d WHERE event_id = 1")
    assert names == [("Renamed",)]
    after = attendance(client)
    assert after[11][3] != before[3]  # show 11's local start follows the event's new time zone
    assert after[21][2].replace(tzinfo=UTC) == moved
    _, local = query_rows(client, "SELECT payed_at_local FROM zakaz.v_sales_latest WHERE ticket_id = 1")
    assert local[0][0] == (NOW - timedelta(hours=1) + timedelta(hours=3)).replace(tzinfo=None)


def test_inventory_folds_new_snapshots_and_follows_deleted_shows(settings, account, version, insert):
    db, client = settings.database, account

    def snap(show_id, at, sold, **kw):
        row = {"show_id": show_id, "zone_id": "A", "snapshot_at": at, "event_id": 1, "capacity": 10,
               "free": 10 - sold, "sold": sold, "held": 0, "disabled": 0, "_sdc_version": version(),
               "_sdc_batched_at": LATER}
        row.update(kw)
        return row

    insert(client, db, "inventory", [snap(11, NOW, 5), snap(12, NOW, 1)])
    transforms.apply_all(client, settings)
    insert(client, db, "inventory", [snap(11, NOW - timedelta(minutes=30), 9),  # an older snapshot, late
                                     snap(11, NOW + timedelta(minutes=30), 6, capacity=None)])
    insert(client, db, "shows", [show(12, 1, version(), NOW + timedelta(days=4), deleted_at=NOW)])
    transforms.apply_all(client, settings)
    _, rows = query_rows(client, "SELECT show_id, capacity, sold FROM zakaz.v_inventory_latest")
    assert rows == [(11, 10, 6)]  # the newest snapshot wins; a NULL capacity keeps the last known one


def test_a_refresh_that_stopped_halfway_is_finished_by_the_next(settings, account, version, insert,
                                                                monkeypatch):
    db, client = settings.database, account
    insert(client, db, "sales", [ticket(4, version(), show_id=12, _sdc_batched_at=LATER),
                                 ticket(8, version(), event_id=2, show_id=21, _sdc_batched_at=LATER)])
    real = marts.rebuild_whole

    def crash(client, settings, name, names):
        raise RuntimeError("killed")

    monkeypatch.setattr(marts, "rebuild_whole", crash)  # after mart_sales, before the attendance
    with pytest.raises(RuntimeError):
        transforms.apply_all(client, settings)
    assert 8 in sales(client) and attendance(client)[11][0] == 4  # rewritten; attendance not yet
    monkeypatch.setattr(marts, "rebuild_whole", real)
    transforms.apply_all(client, settings)
    counts = {show: row[0] for show, row in attendance(client).items()}
    assert counts == {11: 3, 12: 1, 21: 2}  # ticket 4 left show 11 although its old row is gone
    assert not marts.pending(client, db)


def test_rebuild_and_a_new_report_zone_recompute_everything(settings, account):
    client = account
    names = transforms.template_names(settings)
    idle = marts.refresh(client, settings, names)
    assert (idle.tickets, idle.partitions) == (0, 0)  # nothing new: nothing rewritten
    before = sales(client)
    assert marts.refresh(client, settings, names, rebuild=True).rebuilt
    assert sales(client) == before
    assert watermarks.read(client, settings.database).complete(settings.report_tz)
    assert not watermarks.read(client, settings.database).complete("UTC")


def test_a_load_of_only_unpaid_tickets_and_a_show_not_loaded_yet(settings, account, version, insert):
    db, client = settings.database, account
    insert(client, db, "sales", [ticket(9, version(), payed=False, payed_at=None, _sdc_batched_at=LATER)])
    transforms.apply_all(client, settings)  # no paid_at to turn into local time: no error
    insert(client, db, "sales", [ticket(10, version(), show_id=99, _sdc_batched_at=LATER)])
    transforms.apply_all(client, settings)
    assert 9 not in sales(client) and attendance(client)[99][2:] == (None, None)
