"""Keeping the marts current (transform/05_marts.sql): after every load (the target's after-load step) and
on `qtickets-pipeline transform`, the staging rows written since the last refresh become rows of the marts
the dashboard views read, and only what changed is written.

One refresh (the SQL of each step is in transform/refresh/):
1. Watermarks (watermarks.py) say which staging rows are new; none new: nothing is done. Without them —
   the first refresh, `transform --rebuild`, changed SQL of the marts (a release, or REPORT_TZ, which the
   SQL holds: transforms.py) — every row is new and the marts are rebuilt whole.
2. mart_sales_changes ← the new row of every ticket whose row differs from its mart row
   (10_sales_changes.sql).
3. mart_attendance: every show those tickets were or are in is recounted from the tickets as they will be
   (30_attendance.sql), and swapped in whole.
4. mart_sales: the rows of the changed tickets are deleted (lightweight DELETE: a mask, no rewrite) and
   their new rows inserted — cost by the number of changes, not by the size of the months they fall in
   (a DELETE written as a patch part was faster still, but left reads 2–4× slower until merged:
   docs/scaling.md).
5. mart_events (40_events.sql) and mart_inventory (50_inventory.sql: new snapshots folded in) are built in
   their `_next` tables and swapped in whole (they are small) — each only when the staging tables it is built
   from have new rows (so is mart_attendance: new tickets or shows).
6. The new watermarks are written.
Every step can run again from the same watermarks, so a refresh that stopped anywhere is completed by the
next one (a ticket already rewritten no longer differs from its mart row; counts are recomputed).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from target_clickhouse import on_cluster

from . import logs, sqlfiles, watermarks
from .settings import Settings

log = logs.get("marts")

REFRESH_DIR = "refresh"
_CREATED = re.compile(r"CREATE TABLE IF NOT EXISTS (\S+)")
MARTS_FILE = "05_marts.sql"
WHOLE_MARTS = {"30_attendance.sql": "mart_attendance", "40_events.sql": "mart_events",
               "50_inventory.sql": "mart_inventory"}


@dataclass(frozen=True)
class RefreshResult:
    rebuilt: bool  # no usable watermarks: every mart rebuilt from all of staging
    tickets: int  # tickets whose mart_sales row was (re)written or removed
    seconds: float
    changed: bool = True  # False: staging held nothing new, the marts were left as they were


def refresh_files(settings: Settings) -> list:
    return sorted((settings.transform_dir / REFRESH_DIR).glob("*.sql"))


def model_files(settings: Settings, names: dict[str, str], rendered: list) -> list:
    """The files that define the marts and how they are derived (a change to them rebuilds the marts):
    the marts' DDL among the `rendered` model files, and the refresh's SQL (rendered with every row new)."""
    every_row = {**names, **watermarks.NONE.template_names(), "incremental": "0"}
    refresh = [sqlfiles.load(path, every_row) for path in refresh_files(settings)]
    return [f for f in rendered if f.path.name == MARTS_FILE] + refresh


def drop(client, settings: Settings, rendered: list) -> None:
    """Drop the marts (the tables the marts' DDL creates): derived data, rebuilt from staging."""
    ddl = next(f for f in rendered if f.path.name == MARTS_FILE)
    for statement in ddl.statements:
        found = _CREATED.match(statement)
        if found:
            client.command(f"DROP TABLE IF EXISTS {found.group(1)}{on_cluster(settings.cluster)} SYNC",
                           settings={"check_table_dependencies": 0})
    log.info("marts dropped: their SQL changed, they are built anew")


def check_staging(settings: Settings, names: dict[str, str], existing: set[str]) -> None:
    """Every staging table the refresh reads is among the `existing` tables (checked before it starts)."""
    every_row = {**names, **watermarks.NONE.template_names(), "incremental": "0"}
    for path in refresh_files(settings):
        sql_file = sqlfiles.load(path, every_row)
        sqlfiles.check_staging(sql_file, f"{REFRESH_DIR}/{path.name}", settings.database, existing)


def run_file(client, settings: Settings, name: str, names: dict[str, str]) -> None:
    sqlfiles.apply_file(client, sqlfiles.load(settings.transform_dir / REFRESH_DIR / name, names))


def partitions(client, table: str) -> set[str]:
    return {row[0] for row in client.query(f"SELECT DISTINCT _partition_id FROM {table}").result_rows}


def literal(partition: str) -> str:
    return "'" + partition.replace("\\", "\\\\").replace("'", "\\'") + "'"


def swap_in(client, table: str, scratch: str) -> None:
    """`table` becomes what `scratch` holds, partition by partition (atomic each); `scratch` is emptied."""
    built = partitions(client, scratch)
    for partition in sorted(partitions(client, table) | built):
        if partition in built:
            client.command(f"ALTER TABLE {table} REPLACE PARTITION ID {literal(partition)} FROM {scratch}")
        else:
            client.command(f"ALTER TABLE {table} DROP PARTITION ID {literal(partition)}")
    client.command(f"TRUNCATE TABLE {scratch}")


def rebuild_whole(client, settings: Settings, name: str, names: dict[str, str]) -> None:
    table = f"{settings.database}.{WHOLE_MARTS[name]}"
    client.command(f"TRUNCATE TABLE {table}_next")
    run_file(client, settings, name, names)
    swap_in(client, table, f"{table}_next")


def apply_sales(client, settings: Settings, incremental: bool) -> None:
    """mart_sales takes mart_sales_changes: the changed tickets' rows replaced (rebuilding: all rows)."""
    database = settings.database
    mart, changes = f"{database}.mart_sales", f"{database}.mart_sales_changes"
    if incremental:
        client.command(f"DELETE FROM {mart} WHERE (account, ticket_id) IN "
                       f"(SELECT account, ticket_id FROM {changes})")
    else:
        client.command(f"TRUNCATE TABLE {mart}")
    client.command(f"INSERT INTO {mart} SELECT * FROM {changes} WHERE status != ''")


def refresh(client, settings: Settings, names: dict[str, str], rebuild: bool = False) -> RefreshResult:
    """Bring every mart up to date with staging (see the module docstring); the mart tables exist
    (transform/05_marts.sql) and so do the staging tables (`check_staging`)."""
    started, db = time.monotonic(), settings.database
    if rebuild:
        watermarks.reset(client, db)
    marks = watermarks.read(client, db)
    incremental = marks.complete()
    if not incremental:
        marks = watermarks.NONE
    target_marks = watermarks.current(client, db, marks)
    if incremental and target_marks == marks.marks:
        return RefreshResult(False, 0, time.monotonic() - started, changed=False)
    run_names = {**names, **marks.template_names(), "incremental": "1" if incremental else "0"}
    client.command(f"TRUNCATE TABLE {db}.mart_sales_changes")
    run_file(client, settings, "10_sales_changes.sql", run_names)
    tickets = int(client.command(f"SELECT count() FROM {db}.mart_sales_changes"))
    # The whole marts are built again only when what they are built from moved (a webhook batch brings
    # tickets only): the same inputs give the same mart.
    moved = {stream for stream in watermarks.STREAMS
             if not incremental or target_marks.get(stream) != marks.marks.get(stream)}
    if tickets or "shows" in moved:
        rebuild_whole(client, settings, "30_attendance.sql", run_names)  # also when a show was moved
    if tickets or not incremental:
        apply_sales(client, settings, incremental)
    if moved & {"events", "shows"}:
        rebuild_whole(client, settings, "40_events.sql", run_names)
    if moved & {"inventory", "shows"}:
        rebuild_whole(client, settings, "50_inventory.sql", run_names)
    watermarks.write(client, db, target_marks)
    result = RefreshResult(not incremental, tickets, time.monotonic() - started)
    log.info("marts %s: %d tickets changed in %.2f s", "rebuilt" if result.rebuilt else "refreshed", tickets,
             result.seconds)
    return result
