"""Applying transform/*.sql (idempotent: CREATE … IF NOT EXISTS / CREATE OR REPLACE VIEW), then bringing the
marts the views read up to date (marts.py)."""

from __future__ import annotations

import re

from target_clickhouse.ddl import on_cluster

from . import logs, marts, sqlfiles
from .settings import JOB_NAME, Settings

log = logs.get("transform")


def template_names(settings: Settings) -> dict[str, str]:
    return {"database": settings.database, "report_tz": settings.report_tz, "job": JOB_NAME,
            "on_cluster": on_cluster(settings.cluster), "engine_flavour": settings.engine_flavour}


def load(settings: Settings, name: str) -> sqlfiles.SqlFile:
    return sqlfiles.load(settings.transform_dir / name, template_names(settings))


def ensure_bookkeeping(client, settings: Settings) -> None:
    sqlfiles.apply_file(client, load(settings, sqlfiles.BOOKKEEPING_FILE))


def apply_all(client, settings: Settings, rebuild: bool = False) -> list[str]:
    """Apply every model file in order, then refresh the marts from whatever staging holds (`rebuild`:
    from all of it, not only the rows written since the last refresh); returns the file names. A missing
    staging table is reported by name (it appears once the job has loaded that stream)."""
    names = template_names(settings)
    existing = sqlfiles.existing_tables(client, settings.database)
    marts.check_staging(settings, names, existing)
    applied = []
    for path in sqlfiles.transform_files(settings.transform_dir):
        sql_file = sqlfiles.load(path, names)
        sqlfiles.check_staging(sql_file, path.name, settings.database, existing)
        count = sqlfiles.apply_file(client, sql_file)
        log.debug("applied %s (%d statements)", path.name, count)
        applied.append(path.name)
    log.info("transforms applied: %s", ", ".join(applied))
    marts.refresh(client, settings, names, rebuild=rebuild)
    return applied


def smoke_checks(client, settings: Settings) -> list[tuple[str, bool, str]]:
    results = []
    for statement in load(settings, sqlfiles.SMOKE_FILE).statements:
        try:
            rows = client.query(statement).result_rows
            name, ok, detail = rows[0]
            results.append((str(name), bool(ok), str(detail)))
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            label = re.search(r"SELECT\s+'([^']+)'", statement)
            results.append((label.group(1) if label else statement[:60], False, first[:300]))
    return results
