"""Keeping the marts current (transform/05_marts.sql): after every load — the Meltano job's `finish` step —
and on `qtickets-pipeline transform`, the staging rows written since the last refresh become rows of the
marts the dashboard views read, and only what they touch is rewritten.

One refresh (the SQL of each step is in transform/refresh/):
1. Watermarks (watermarks.py) say which staging rows are new; none new: nothing is done. Without them —
   the first refresh, `transform --rebuild`, changed SQL of the marts (a release, or REPORT_TZ, which the
   SQL holds: transforms.py) — every row is new and the marts are rebuilt whole.
2. Work a refresh left unapplied (it stopped halfway) is applied first.
3. mart_sales_changes ← the new row of every changed ticket (10_sales_changes.sql); mart_pending_shows ←
   the shows those tickets were in (20_pending_shows.sql).
4. mart_sales: every month partition that holds a changed ticket, before or after, is rebuilt in
   mart_sales_next (its other rows as they are, plus the new ones) and swapped in by REPLACE PARTITION.
5. mart_attendance (30_attendance.sql: the touched shows recounted), mart_events (40_events.sql) and
   mart_inventory (50_inventory.sql: new snapshots folded in) are built in their `_next` tables and
   swapped in whole (they are small).
6. The new watermarks are written and the work tables emptied.
Each swap is atomic, so readers see the marts before or after a partition's rewrite, never half of it; every
step can run again, so a failure anywhere leaves the work for the next refresh.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import logs, sqlfiles, watermarks
from .settings import Settings

log = logs.get("marts")

REFRESH_DIR = "refresh"
WORK_TABLES = ("mart_sales_changes", "mart_pending_shows")
WHOLE_MARTS = {"30_attendance.sql": "mart_attendance", "40_events.sql": "mart_events",
               "50_inventory.sql": "mart_inventory"}


@dataclass(frozen=True)
class RefreshResult:
    rebuilt: bool  # no usable watermarks: every mart rebuilt from all of staging
    tickets: int  # tickets whose mart_sales row was (re)written or removed
    partitions: int  # mart_sales partitions rewritten
    seconds: float
    changed: bool = True  # False: staging held nothing new, the marts were left as they were


MARTS_FILE = "05_marts.sql"


def model_files(settings: Settings, names: dict[str, str], rendered: list) -> list:
    """The files that define the marts and how they are derived (a change to them rebuilds the marts):
    the marts' DDL among the `rendered` model files, and the refresh's SQL (rendered with every row new)."""
    every_row = {**names, **watermarks.NONE.template_names(), "incremental": "0"}
    refresh = [sqlfiles.load(path, every_row) for path in refresh_files(settings)]
    return [f for f in rendered if f.path.name == MARTS_FILE] + refresh


def refresh_files(settings: Settings) -> list:
    return sorted((settings.transform_dir / REFRESH_DIR).glob("*.sql"))


def check_staging(settings: Settings, names: dict[str, str], existing: set[str]) -> None:
    """Every staging table the refresh reads is among the `existing` tables (checked before it starts)."""
    every_row = {**names, **watermarks.NONE.template_names(), "incremental": "0"}
    for path in refresh_files(settings):
        sql_file = sqlfiles.load(path, every_row)
        sqlfiles.check_staging(sql_file, f"{REFRESH_DIR}/{path.name}", settings.database, existing)


def run_file(client, settings: Settings, name: str, names: dict[str, str]) -> None:
    sqlfiles.apply_file(client, sqlfiles.load(settings.transform_dir / REFRESH_DIR / name, names))


def partitions(client, table: str, where: str = "1") -> set[str]:
    rows = client.query(f"SELECT DISTINCT _partition_id FROM {table} WHERE {where}").result_rows
    return {row[0] for row in rows}


def literal(partition: str) -> str:
    return "'" + partition.replace("\\", "\\\\").replace("'", "\\'") + "'"


def swap_in(client, table: str, scratch: str, touched: set[str]) -> None:
    """Each partition of `touched` becomes what `scratch` holds of it (dropped when it holds nothing);
    `scratch` is emptied."""
    built = partitions(client, scratch)
    for partition in sorted(touched):
        if partition in built:
            client.command(f"ALTER TABLE {table} REPLACE PARTITION ID {literal(partition)} FROM {scratch}")
        else:
            client.command(f"ALTER TABLE {table} DROP PARTITION ID {literal(partition)}")
    client.command(f"TRUNCATE TABLE {scratch}")


def rewrite_sales(client, database: str, incremental: bool) -> int:
    """mart_sales with mart_sales_changes applied; returns the number of partitions rewritten."""
    target, scratch = f"{database}.mart_sales", f"{database}.mart_sales_next"
    changed = f"ticket_id IN (SELECT ticket_id FROM {database}.mart_sales_changes)"
    client.command(f"TRUNCATE TABLE {scratch}")
    client.command(f"INSERT INTO {scratch} SELECT * FROM {database}.mart_sales_changes WHERE status != ''")
    # Rebuilding, every partition is rewritten (those left without tickets are dropped).
    touched = partitions(client, scratch) | partitions(client, target, changed if incremental else "1")
    if incremental and touched:
        listed = ", ".join(literal(p) for p in sorted(touched))
        client.command(f"INSERT INTO {scratch} SELECT * FROM {target} "
                       f"WHERE _partition_id IN ({listed}) AND NOT {changed}")
    swap_in(client, target, scratch, touched)
    return len(touched)


def apply_changes(client, settings: Settings, names: dict[str, str]) -> int:
    """mart_sales and mart_attendance with the work tables applied; the mart_sales partitions rewritten."""
    db, incremental = settings.database, names["incremental"] == "1"
    if incremental:
        run_file(client, settings, "20_pending_shows.sql", names)
    rewritten = rewrite_sales(client, db, incremental)
    rebuild_whole(client, settings, "30_attendance.sql", names)
    return rewritten


def rebuild_whole(client, settings: Settings, name: str, names: dict[str, str]) -> None:
    table = f"{settings.database}.{WHOLE_MARTS[name]}"
    client.command(f"TRUNCATE TABLE {table}_next")
    run_file(client, settings, name, names)
    swap_in(client, table, f"{table}_next", partitions(client, table) | partitions(client, f"{table}_next"))


def pending(client, database: str) -> bool:
    return any(int(client.command(f"SELECT count() FROM {database}.{table}")) for table in WORK_TABLES)


def empty_work_tables(client, database: str) -> None:
    for table in WORK_TABLES:
        client.command(f"TRUNCATE TABLE {database}.{table}")


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
    if incremental and target_marks == marks.marks and not pending(client, db):
        return RefreshResult(False, 0, 0, time.monotonic() - started, changed=False)
    run_names = {**names, **marks.template_names(), "incremental": "1" if incremental else "0"}
    if not incremental:
        empty_work_tables(client, db)
    elif pending(client, db):
        log.warning("finishing the work of a refresh that stopped halfway")
        apply_changes(client, settings, run_names)
        empty_work_tables(client, db)
    run_file(client, settings, "10_sales_changes.sql", run_names)
    tickets = int(client.command(f"SELECT count() FROM {db}.mart_sales_changes"))
    rewritten = apply_changes(client, settings, run_names)
    rebuild_whole(client, settings, "40_events.sql", run_names)
    rebuild_whole(client, settings, "50_inventory.sql", run_names)
    watermarks.write(client, db, target_marks)
    empty_work_tables(client, db)
    result = RefreshResult(not incremental, tickets, rewritten, time.monotonic() - started)
    log.info("marts %s: %d tickets, %d mart_sales partitions rewritten in %.2f s",
             "rebuilt" if result.rebuilt else "refreshed", tickets, rewritten, result.seconds)
    return result
