"""Benchmark: the dashboard reads through the documented views against their floor, at scale.

Builds N tickets in staging (default 10M) as 10 loads with 20 % re-loaded versions, in the exact tables the
target creates (bench/staging_data.py: `INSERT … SELECT … FROM numbers(…)`), brings the models up to date
(transforms.bring_up_to_date: every transform/*.sql, as the target's after-load step does), then times each
dashboard query through its view and on its floor: the same answer from a deduplicated, well-ordered plain
MergeTree holding the view's own rows (sales: tickets by (day, event), partitioned by month; attendance by
(show, zone); inventory by (event, show, zone); events by id). Prints the median latency of both and their
ratio — with the client setting the project's clients use (`analyzer_inline_views = 1`,
target_clickhouse.connection) and, for comparison, with the server default — and the cost of an incremental
refresh after a typical 30-minute load.

Goals: every view ≤ 1.5× its floor and ≤ 200 ms at 10M tickets; incremental transform ≤ 2 s.

    .venv/bin/python bench/views.py [--tickets 10000000] [--loads 10] [--reloaded 0.2] [--days 730]
                                    [--before f06750e]

`--before REF` then replaces the views with those of commit REF's transform/ (e.g. f06750e, the views that
read staging with FINAL and joins, before the marts) and times them against the same floors.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import staging_data
from benchlib import throwaway_project, timed
from qtickets_pipeline import sqlfiles, transforms, warehouse

REPO = Path(__file__).resolve().parents[1]

FLOORS = {  # floor table → (the view it copies, ORDER BY, PARTITION BY, extra column)
    "floor_sales": ("v_sales_latest", "(day, event_id, ticket_id)", "toYYYYMM(day)",
                    "toDate(coalesce(payed_at, toDateTime64(0, 6, 'UTC')), '{tz}') AS day"),
    "floor_attendance": ("v_attendance_by_show", "(show_id, zone_id)", None, None),
    "floor_inventory": ("v_inventory_latest", "(event_id, show_id, zone_id)", None, None),
    "floor_events": ("dim_events", "event_id", None, None),
}
TILE = ("SELECT sum(tickets_sold), sum(revenue) FROM {db}.v_sales_14d",
        "SELECT sum(tickets_sold), sum(revenue) FROM (SELECT day, event_id, city, "
        "countIf(status = 'sold') AS tickets_sold, coalesce(sumIf(price, status = 'sold'), 0) AS revenue "
        "FROM {db}.floor_sales WHERE payed_at IS NOT NULL AND day >= toDate(now(), '{tz}') - 13 "
        "GROUP BY day, event_id, city)")
INVENTORY_BY_EVENT = ("SELECT event_id, uniqExact(show_id) AS shows, sum(capacity), sum(free), sum(sold), "
                      "sum(held), sum(disabled), min(snapshot_at), max(snapshot_at) "
                      "FROM {db}.floor_inventory GROUP BY event_id ORDER BY event_id")
QUERIES = [  # name, through the view, on the floor
    ("14-day tile (v_sales_14d)", *TILE),
    ("status counts (v_sales_latest)",
     "SELECT status, count() FROM {db}.v_sales_latest GROUP BY status ORDER BY status",
     "SELECT status, count() FROM {db}.floor_sales GROUP BY status ORDER BY status"),
    ("one event's revenue (v_sales_latest)",
     "SELECT sum(price), count() FROM {db}.v_sales_latest WHERE event_id = {event} AND status = 'sold'",
     "SELECT sum(price), count() FROM {db}.floor_sales WHERE event_id = {event} AND status = 'sold'"),
    ("attendance of one show",
     "SELECT * FROM {db}.v_attendance_by_show WHERE show_id = {show} ORDER BY zone_id",
     "SELECT * FROM {db}.floor_attendance WHERE show_id = {show} ORDER BY zone_id"),
    ("inventory per event", "SELECT * FROM {db}.v_inventory_by_event ORDER BY event_id",
     INVENTORY_BY_EVENT),
    ("dim_events lookup", "SELECT * FROM {db}.dim_events WHERE event_id = {event}",
     "SELECT * FROM {db}.floor_events WHERE event_id = {event}"),
]
CONSISTENCY = ("SELECT count(), sum(price), countIf(checked_at IS NOT NULL), "
               "countIf(refunded_at IS NOT NULL) FROM {source}")


def build_floors(client, db: str, tz: str) -> None:
    for floor, (view, order_by, partition_by, extra) in FLOORS.items():
        client.command(f"DROP TABLE IF EXISTS {db}.{floor}")
        columns = f"*, {extra.format(tz=tz)}" if extra else "*"
        partition = f"PARTITION BY {partition_by} " if partition_by else ""
        client.command(f"CREATE TABLE {db}.{floor} ENGINE = MergeTree {partition}ORDER BY {order_by} "
                       f"SETTINGS allow_nullable_key = 1 AS SELECT {columns} FROM {db}.{view}")
        client.command(f"OPTIMIZE TABLE {db}.{floor} FINAL")


def latency_ms(client, sql: str, settings: dict | None = None) -> float:
    started = time.perf_counter()
    client.query(sql, settings=settings)
    return (time.perf_counter() - started) * 1000


def measure(client, view_sql: str, floor_sql: str, repeat: int) -> tuple[float, float, float]:
    """Median latencies (ms) of the view, its floor and the view analysed apart (the server default
    `analyzer_inline_views = 0`), measured in turn after a warm-up; fewer rounds when slow."""
    apart = {"analyzer_inline_views": 0}
    first = latency_ms(client, view_sql)
    latency_ms(client, floor_sql)
    latency_ms(client, view_sql, apart)
    rounds = repeat if first < 1000 else 3
    view: list[float] = []
    floor: list[float] = []
    default: list[float] = []
    for _ in range(rounds):
        view.append(latency_ms(client, view_sql))
        floor.append(latency_ms(client, floor_sql))
        default.append(latency_ms(client, view_sql, apart))
    return statistics.median(view), statistics.median(floor), statistics.median(default)


def subjects(client, db: str) -> dict[str, int]:
    """An event on sale now with many tickets, and one of its shows that has sold tickets."""
    event = client.query(f"SELECT event_id FROM {db}.floor_sales WHERE day >= today() - 30 GROUP BY event_id "
                         "ORDER BY count() DESC LIMIT 1").result_rows[0][0]
    show = client.query(f"SELECT show_id FROM {db}.floor_attendance WHERE event_id = {event} "
                        "ORDER BY tickets_sold DESC LIMIT 1").result_rows[0][0]
    return {"event": event, "show": show}


def consistent(client, db: str) -> bool:
    """The view equals the latest versions in staging (count, revenue, scans, refunds)."""
    view = client.query(CONSISTENCY.format(source=f"{db}.v_sales_latest")).result_rows
    staging = f"{db}.stg_qtickets_sales_raw FINAL WHERE payed"
    truth = client.query(CONSISTENCY.format(source=staging)).result_rows
    return view == truth


def views_of(ref: str) -> list[str]:
    """The view files of commit `ref`'s transform/ (the bookkeeping, 00_*.sql, and smoke checks left out)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True,
                              text=True).stdout
    names = [n for n in git("ls-tree", "--name-only", ref, "transform/").split()
             if n.endswith(".sql") and not Path(n).name.startswith("00_")
             and not n.endswith(sqlfiles.SMOKE_FILE)]
    return [git("show", f"{ref}:{name}") for name in sorted(names)]


def print_table(client, names: dict, repeat: int) -> None:
    print(f"{'query':<38} {'view ms':>8} {'floor ms':>9} {'ratio':>6}   "
          f"{'views not inlined: ms':>21} {'ratio':>6}")
    for name, view_sql, floor_sql in QUERIES:
        view, floor, apart = measure(client, view_sql.format(**names), floor_sql.format(**names), repeat)
        print(f"{name:<38} {view:>8.1f} {floor:>9.1f} {view / floor:>6.2f}   {apart:>21.1f} "
              f"{apart / floor:>6.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=10_000_000)
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--reloaded", type=float, default=0.2, help="share re-sent per load")
    parser.add_argument("--days", type=int, default=730, help="history the tickets were paid over")
    parser.add_argument("--repeat", type=int, default=15, help="measured rounds per query")
    parser.add_argument("--half-hours", type=int, default=3, help="30-minute loads after the measurement")
    parser.add_argument("--before", metavar="REF", help="also time the views of this commit's transform/")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-views-") as tmp:
        settings = throwaway_project(Path(tmp))
        db, tz = settings.database, settings.report_tz
        with warehouse.connector(settings) as connector:
            client = connector.client
            account, built_s = timed(staging_data.build, connector, args.tickets, args.loads, args.reloaded,
                                     args.days)
            print(f"bench/views.py: {args.tickets:,} tickets ({account.rows:,} staging rows: {args.loads} "
                  f"loads + {args.reloaded:.0%} re-loaded versions) over {args.days} days, "
                  f"{account.events} events; staging built in {built_s:.1f} s")
            warehouse.ledger(client, settings).ensure_table()  # the target creates it with its first load
            _, first_s = timed(transforms.bring_up_to_date, client, settings)
            print(f"transform after the 10 loads: {first_s:.2f} s")
            build_floors(client, db, tz)
            names = {"db": db, "tz": tz, **subjects(client, db)}
            print_table(client, names, args.repeat)
            for _ in range(args.half_hours):
                load = staging_data.half_hour_load(account, new=1500, resent=1500, scanned=1500, refunded=50)
                _, incremental_s = timed(transforms.bring_up_to_date, client, settings)
                kinds = ", ".join(f"{count:,} {kind}" for kind, count in load.items())
                print(f"incremental transform after a 30-minute load ({kinds} tickets): "
                      f"{incremental_s:.2f} s")
            print(f"v_sales_latest equals the latest staging versions afterwards: {consistent(client, db)}")
            build_floors(client, db, tz)  # the same rows, now with the 30-minute loads
            print("after the 30-minute loads (their deletes' patch parts not yet merged):")
            print_table(client, names, args.repeat)
            if args.before:
                for text in views_of(args.before):
                    sql, _ = sqlfiles.render(text, transforms.template_names(settings))
                    for statement in sqlfiles.split_statements(sql):
                        client.command(statement)
                print(f"the views of {args.before} (reading staging), against the same floors:")
                print_table(client, names, args.repeat)
    print("goals: every ratio <= 1.5 and every view <= 200 ms at 10M tickets; incremental transform <= 2 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
