"""transform/*.sql on embedded ClickHouse with hand-made staging rows (real engine, real SQL), brought up to
date the way the target's after-load step does it (`transforms.bring_up_to_date`)."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from qtickets_pipeline import transforms
from qtickets_pipeline.settings import LEDGER_JOB
from qtickets_pipeline.sqlfiles import TransformError
from qtickets_pipeline.warehouse import connect, ledger, query_rows
from target_clickhouse import LedgerRow

pytestmark = pytest.mark.integration

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime.now(UTC).replace(microsecond=0)


def ticket(tid: int, version: int, **kw) -> dict:
    row = {
        "id": tid,
        "order_id": tid // 10,
        "event_id": 1,
        "show_id": 11,
        "zone_id": "PARTERRE",
        "seat_id": f"PARTERRE-1;{tid}",
        "price": Decimal("1000.00"),
        "payed": True,
        "payed_at": NOW - timedelta(hours=1),
        "updated_at": NOW - timedelta(hours=1),
        "_sdc_version": version,
        "_sdc_batched_at": NOW,
    }
    row.update(kw)
    return row


def seed_events(insert, client, db, version):
    insert(
        client,
        db,
        "events",
        [
            {
                "id": 1,
                "name": "Old name",
                "city_id": 5,
                "city_name": "Новосибирск",
                "city_timezone": "Asia/Novosibirsk",
                "updated_at": NOW - timedelta(days=2),
                "_sdc_version": version(),
                "_sdc_batched_at": NOW,
            }
        ],
    )
    insert(
        client,
        db,
        "events",
        [
            {
                "id": 1,
                "name": "Concert",
                "city_id": 5,
                "city_name": "Новосибирск",
                "city_timezone": "Asia/Novosibirsk",
                "updated_at": NOW - timedelta(days=1),
                "_sdc_version": version(),
                "_sdc_batched_at": NOW,
            },
            {
                "id": 2,
                "name": "Gone",
                "city_id": 6,
                "city_name": "Красноярск",
                "city_timezone": "Asia/Krasnoyarsk",
                "updated_at": NOW,
                "deleted_at": NOW,
                "_sdc_version": version(),
                "_sdc_batched_at": NOW,
            },
        ],
    )
    insert(
        client,
        db,
        "shows",
        [
            {"id": 11, "event_id": 1, "start_date": NOW + timedelta(days=3), "_sdc_version": version()},
            {"id": 12, "event_id": 1, "start_date": NOW + timedelta(days=9), "_sdc_version": version()},
            {
                "id": 13,
                "event_id": 1,
                "start_date": NOW + timedelta(days=30),
                "deleted_at": NOW,
                "_sdc_version": version(),
            },
        ],
    )


DDL = re.compile(r"^\s*(CREATE|DROP TABLE)\b", re.I)  # what the model files hold; a refresh issues none


def ddl(spy) -> list[str]:
    return [sql for sql in spy.sent if DDL.match(sql)]


def sales_days(client) -> dict[int, date]:
    return dict(query_rows(client, "SELECT ticket_id, day FROM zakaz.mart_sales")[1])


def test_models_are_applied_only_when_their_sql_changes(settings, staged, version, insert, statements,
                                                        tmp_path):
    db = settings.database
    seed_events(insert, staged, db, version)
    yesterday = datetime.now(MSK).date() - timedelta(days=1)
    insert(staged, db, "sales", [ticket(201, version(), payed_at=moscow(yesterday, 0, 30))])
    first = transforms.bring_up_to_date(staged, settings)
    assert first.ddl_applied and first.refresh.rebuilt
    _, rows = query_rows(staged, "SELECT name FROM system.tables WHERE database = 'zakaz'")
    tables = {name for (name,) in rows}
    assert {"meta_models", "v_job_runs", "dim_events", "v_sales_latest", "v_sales_14d", "v_inventory_latest",
            "v_inventory_by_event", "v_data_freshness", "v_attendance_by_show"} <= tables

    # The same SQL again: no DDL, and with nothing new in staging no statement at all.
    spy = statements()
    idle = transforms.bring_up_to_date(spy, settings)
    assert (idle.ddl_applied, idle.refresh.changed, spy.sent) == (False, False, [])
    insert(staged, db, "sales", [ticket(202, version(), payed_at=moscow(yesterday, 12))])
    spy = statements()
    load = transforms.bring_up_to_date(spy, settings)
    assert (load.ddl_applied, load.refresh.rebuilt, load.refresh.tickets, ddl(spy)) == (False, False, 1, [])
    assert sales_days(staged) == {201: yesterday, 202: yesterday}

    # REPORT_TZ is part of the marts' SQL: a new zone re-applies the models and rebuilds the marts in it.
    utc = replace(settings, report_tz="UTC")
    spy = statements()
    moved = transforms.bring_up_to_date(spy, utc)
    assert moved.ddl_applied and moved.refresh.rebuilt and ddl(spy)
    assert sales_days(staged) == {201: yesterday - timedelta(days=1), 202: yesterday}  # 00:30 MSK = 21:30 UTC
    spy = statements()
    assert not transforms.bring_up_to_date(spy, utc).ddl_applied and ddl(spy) == []

    # A changed view (not a mart) is applied without rebuilding the marts.
    project = tmp_path / "release"
    shutil.copytree(settings.transform_dir, project / "transform")
    view = project / "transform" / "30_v_sales_14d.sql"
    view.write_text(view.read_text(encoding="utf-8").replace("AS cancelled", "AS cancelled, 2 AS release"),
                    encoding="utf-8")
    release = replace(utc, project_root=project)
    applied = transforms.bring_up_to_date(staged, release)
    assert applied.ddl_applied and not applied.refresh.rebuilt
    assert query_rows(staged, "SELECT DISTINCT release FROM zakaz.v_sales_14d")[1] == [(2,)]
    assert not transforms.bring_up_to_date(staged, release).ddl_applied


def test_missing_staging_table_is_named(settings):
    with connect(settings) as client, pytest.raises(TransformError) as failed:
        transforms.bring_up_to_date(client, settings)
    assert "zakaz.stg_qtickets_events_raw" in str(failed.value)
    assert "refresh/10_sales_changes.sql" in str(failed.value)


def test_sales_latest_status_rules_and_dedup_by_version(settings, staged, version, insert):
    db = settings.database
    seed_events(insert, staged, db, version)
    staged.command("SYSTEM STOP MERGES zakaz.stg_qtickets_sales_raw")  # versions stay in separate parts
    insert(
        staged,
        db,
        "sales",
        [
            ticket(101, version()),
            ticket(102, version()),
            ticket(103, version()),
            ticket(105, version()),
            ticket(106, version()),
        ],
    )
    # Later versions, each in its own part: FINAL must pick them without any merge having happened.
    insert(staged, db, "sales", [ticket(101, version(), refunded_at=NOW, refunded_amount=Decimal("1000.00"))])
    insert(staged, db, "sales", [ticket(102, version(), deleted_at=NOW)])
    insert(staged, db, "sales", [ticket(103, version(), order_deleted_at=NOW)])
    insert(staged, db, "sales", [ticket(104, version(), payed=False, payed_at=None)])
    insert(staged, db, "sales", [ticket(105, version(), payed=False, payed_at=None, deleted_at=NOW)])
    insert(
        staged,
        db,
        "sales",
        [ticket(106, version(), refunded_at=NOW, deleted_at=NOW, price=Decimal("250.50"))],
    )
    insert(staged, db, "sales", [ticket(107, version(), price=Decimal("99.90"))])
    # An older version arriving later (lower _sdc_version) must not win.
    insert(staged, db, "sales", [ticket(107, 0, price=Decimal("1.00"))])
    transforms.bring_up_to_date(staged, settings)
    _, rows = query_rows(
        staged, "SELECT ticket_id, status, price, city, event_id FROM zakaz.v_sales_latest ORDER BY ticket_id"
    )
    assert rows == [
        (101, "refunded", Decimal("1000.00"), "Новосибирск", 1),
        (102, "cancelled", Decimal("1000.00"), "Новосибирск", 1),
        (103, "cancelled", Decimal("1000.00"), "Новосибирск", 1),
        (106, "refunded", Decimal("250.50"), "Новосибирск", 1),
        (107, "sold", Decimal("99.90"), "Новосибирск", 1),
    ]
    raw = staged.query("SELECT count() FROM zakaz.stg_qtickets_sales_raw").result_rows[0][0]
    assert raw == 13  # no merge happened: the dedup is the view's doing


def test_attendance_counts_the_latest_scan_state_of_sold_tickets(settings, staged, version, insert):
    db = settings.database
    seed_events(insert, staged, db, version)
    staged.command("SYSTEM STOP MERGES zakaz.stg_qtickets_sales_raw")
    scanned = NOW - timedelta(minutes=20)
    insert(staged, db, "sales", [ticket(tid, version()) for tid in (201, 202, 203, 204, 205)]
           + [ticket(206, version(), zone_id="BALCONY"), ticket(207, version(), show_id=12)])
    # Scans arrive as later versions of the ticket (its order is unchanged).
    insert(staged, db, "sales", [ticket(201, version(), checked_at=scanned, updated_at=scanned)])
    insert(staged, db, "sales", [ticket(202, version(), checked_at=scanned, updated_at=scanned)])
    insert(staged, db, "sales", [ticket(206, version(), zone_id="BALCONY", checked_at=scanned)])
    insert(staged, db, "sales", [ticket(203, version(), refunded_at=NOW)])  # refunded: not sold any more
    insert(staged, db, "sales", [ticket(204, version(), order_deleted_at=NOW)])  # cancelled
    insert(staged, db, "sales", [ticket(208, version(), payed=False, payed_at=None)])  # never paid
    transforms.bring_up_to_date(staged, settings)
    _, rows = query_rows(
        staged,
        "SELECT show_id, zone_id, event_id, tickets_sold, checked_in, not_checked_in, "
        "round(checked_in_share, 4), show_start_at FROM zakaz.v_attendance_by_show ORDER BY show_id, zone_id",
    )
    start_11, start_12 = ((NOW + timedelta(days=d)).replace(tzinfo=None) for d in (3, 9))
    assert rows == [
        (11, "BALCONY", 1, 1, 1, 0, 1.0, start_11),
        (11, "PARTERRE", 1, 3, 2, 1, 0.6667, start_11),
        (12, "PARTERRE", 1, 1, 0, 1, 0.0, start_12),
    ]


def test_dim_events_latest_version_and_show_range(settings, staged, version, insert):
    db = settings.database
    seed_events(insert, staged, db, version)
    transforms.bring_up_to_date(staged, settings)
    _, rows = query_rows(
        staged,
        "SELECT event_id, name, city_name, city_timezone, shows, is_deleted, "
        "first_show_at, last_show_at FROM zakaz.dim_events ORDER BY event_id",
    )
    (e1, e2) = rows
    assert e1[:6] == (1, "Concert", "Новосибирск", "Asia/Novosibirsk", 2, False)
    assert e1[6].replace(tzinfo=UTC) == NOW + timedelta(days=3)
    assert e1[7].replace(tzinfo=UTC) == NOW + timedelta(days=9)  # the deleted show 13 does not count
    assert e2[1] == "Gone" and e2[5] is True


def moscow(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=MSK).astimezone(UTC)


def test_sales_14d_buckets_by_moscow_day(settings, staged, version, insert):
    db = settings.database
    seed_events(insert, staged, db, version)
    today = datetime.now(MSK).date()
    yesterday = today - timedelta(days=1)
    insert(
        staged,
        db,
        "sales",
        [
            # 00:30 Moscow = 21:30 UTC the day before: must land on `yesterday`, not the UTC day.
            ticket(201, version(), payed_at=moscow(yesterday, 0, 30), price=Decimal("100.00")),
            ticket(202, version(), payed_at=moscow(yesterday, 23, 50), price=Decimal("200.00")),
            ticket(
                203,
                version(),
                payed_at=moscow(yesterday, 12),
                refunded_at=NOW,
                refunded_amount=Decimal("50.00"),
            ),
            ticket(204, version(), payed_at=moscow(today - timedelta(days=13), 1), price=Decimal("7.00")),
            ticket(
                205, version(), payed_at=moscow(today - timedelta(days=14), 23, 59), price=Decimal("9.00")
            ),
            ticket(206, version(), payed_at=moscow(yesterday, 13), deleted_at=NOW),
        ],
    )
    transforms.bring_up_to_date(staged, settings)
    _, rows = query_rows(
        staged,
        "SELECT day, event_id, event_name, city, tickets_sold, revenue, refunds, "
        "refunded_amount, cancelled FROM zakaz.v_sales_14d ORDER BY day",
    )
    assert rows == [
        (today - timedelta(days=13), 1, "Concert", "Новосибирск", 1, Decimal("7.00"), 0, Decimal("0"), 0),
        (yesterday, 1, "Concert", "Новосибирск", 2, Decimal("300.00"), 1, Decimal("50.00"), 1),
    ]
    # REPORT_TZ=UTC moves the 00:30 Moscow ticket to the UTC day before.
    utc = replace(settings, report_tz="UTC")
    transforms.bring_up_to_date(staged, utc)
    _, rows = query_rows(staged, "SELECT day, tickets_sold FROM zakaz.v_sales_14d ORDER BY day")
    assert (yesterday - timedelta(days=1), 1) in rows


def test_inventory_latest_snapshot_and_event_totals(settings, staged, version, insert):
    db = settings.database
    seed_events(insert, staged, db, version)
    old, new = NOW - timedelta(minutes=30), NOW

    def snap(show, zone, at, sold, event=1, cap=100):
        return {
            "show_id": show,
            "zone_id": zone,
            "snapshot_at": at,
            "event_id": event,
            "capacity": cap,
            "free": cap - sold - 2,
            "sold": sold,
            "held": 2,
            "disabled": 1,
            "_sdc_version": version(),
        }

    insert(staged, db, "inventory", [snap(11, "A", old, 10), snap(11, "B", old, 5), snap(13, "A", old, 1)])
    insert(staged, db, "inventory", [snap(11, "A", new, 12), snap(12, "A", new, 30, cap=50)])
    transforms.bring_up_to_date(staged, settings)
    _, rows = query_rows(
        staged,
        "SELECT show_id, zone_id, capacity, free, sold, held, disabled "
        "FROM zakaz.v_inventory_latest ORDER BY show_id, zone_id",
    )
    # show 13 is deleted in the shows stream → left out; 11×A takes the newer snapshot
    assert rows == [(11, "A", 100, 86, 12, 2, 1), (11, "B", 100, 93, 5, 2, 1), (12, "A", 50, 18, 30, 2, 1)]
    _, per_event = query_rows(
        staged, "SELECT event_id, shows, capacity, free, sold, held, disabled FROM zakaz.v_inventory_by_event"
    )
    assert per_event == [(1, 2, 250, 197, 47, 6, 3)]


def test_freshness_and_crashed_runs(settings, staged, version, insert):
    db = settings.database
    seed_events(insert, staged, db, version)
    insert(
        staged,
        db,
        "orders",
        [
            {
                "id": 1,
                "updated_at": NOW - timedelta(minutes=10),
                "_sdc_version": version(),
                "_sdc_batched_at": NOW,
            }
        ],
    )
    insert(
        staged,
        db,
        "orders",
        [
            {
                "id": 1,
                "updated_at": NOW - timedelta(minutes=5),
                "_sdc_version": version(),
                "_sdc_batched_at": NOW,
            }
        ],
    )
    insert(staged, db, "sales", [ticket(1, version())])
    runs = ledger(staged, settings)
    ok = LedgerRow(job_name=LEDGER_JOB, trigger="cli", environment="demo",
                   started_at=NOW - timedelta(minutes=20))
    ok.rows_loaded = {"orders": 2}
    ok.finish("success")
    runs.write(ok)
    crashed = LedgerRow(job_name=LEDGER_JOB, trigger="schedule", environment="demo", host="other-host",
                        started_at=NOW - timedelta(hours=3))
    runs.write(crashed)
    current = LedgerRow(job_name=LEDGER_JOB, trigger="cli", environment="demo")
    runs.write(current)
    transforms.bring_up_to_date(staged, settings)

    _, rows = query_rows(staged, "SELECT run_id, status, effective_status, rows_total FROM zakaz.v_job_runs")
    by_id = {r[0]: r[1:] for r in rows}
    assert by_id[ok.run_id] == ("success", "success", 2)
    assert by_id[crashed.run_id] == ("running", "crashed", 0)
    assert by_id[current.run_id] == ("running", "running", 0)

    _, fresh = query_rows(
        staged,
        "SELECT stream, raw_rows, unique_keys, last_run_status, source_lag_s, "
        "last_success_at FROM zakaz.v_data_freshness ORDER BY stream",
    )
    orders = next(r for r in fresh if r[0] == "orders")
    assert orders[1:4] == (2, 1, "running")
    expected_lag = (datetime.now(UTC) - (NOW - timedelta(minutes=5))).total_seconds()
    assert abs(orders[4] - expected_lag) <= 5
    assert orders[5].replace(tzinfo=UTC) == ok.finished_at.replace(
        microsecond=ok.finished_at.microsecond // 1000 * 1000
    )
    # Per account and stream; a stream without a row yet (inventory here) has no line.
    assert [r[0] for r in fresh] == ["events", "orders", "sales", "shows"]



def test_smoke_checks_pass_and_catch_negative_inventory(settings, staged, version, insert):
    db = settings.database
    seed_events(insert, staged, db, version)
    insert(
        staged,
        db,
        "orders",
        [{"id": 1, "updated_at": NOW, "_sdc_version": version(), "_sdc_batched_at": NOW}],
    )
    insert(staged, db, "sales", [ticket(1, version())])
    insert(
        staged,
        db,
        "inventory",
        [
            {
                "show_id": 11,
                "zone_id": "A",
                "snapshot_at": NOW,
                "event_id": 1,
                "capacity": 10,
                "free": 5,
                "sold": 5,
                "held": 0,
                "disabled": 0,
                "_sdc_version": version(),
                "_sdc_batched_at": NOW,
            }
        ],
    )
    run = LedgerRow(job_name=LEDGER_JOB, trigger="cli", environment="demo")
    run.finish("success")
    ledger(staged, settings).write(run)
    transforms.bring_up_to_date(staged, settings)
    results = transforms.smoke_checks(staged, settings)
    assert len(results) == 7 and all(ok for _, ok, _ in results), results

    insert(
        staged,
        db,
        "inventory",
        [
            {
                "show_id": 11,
                "zone_id": "A",
                "snapshot_at": NOW + timedelta(minutes=1),
                "event_id": 1,
                "capacity": 10,
                "free": -1,
                "sold": 11,
                "held": 0,
                "disabled": 0,
                "_sdc_version": version(),
            }
        ],
    )
    transforms.bring_up_to_date(staged, settings)  # the views show staging as of the last mart refresh
    failed = {name for name, ok, _ in transforms.smoke_checks(staged, settings) if not ok}
    assert failed == {"no negative inventory"}


def test_smoke_checks_on_an_empty_warehouse_name_what_is_missing(settings):
    """Before the first run: every object missing is named, and the checks that need one say so."""
    with connect(settings) as client:
        results = transforms.smoke_checks(client, settings)
    assert len(results) == 7 and not any(ok for _, ok, _ in results)
    assert results[0][2].startswith("missing 10 of 10: meta_job_runs, v_job_runs, dim_events")
    details = {name: detail for name, _, detail in results[1:]}
    assert details["no crashed runs"] == f"not run: {settings.database}.v_job_runs does not exist yet"
    assert all(d.startswith("not run: ") and "DB::Exception" not in d for d in details.values()), details
