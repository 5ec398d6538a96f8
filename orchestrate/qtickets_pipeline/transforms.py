"""Applying transform/*.sql (idempotent: CREATE … IF NOT EXISTS / CREATE OR REPLACE VIEW)."""

from __future__ import annotations

import re

from target_clickhouse.naming import table_name

from . import logs, sqlfiles
from .settings import JOB_NAME, Settings
from .warehouse import table_exists

log = logs.get("transform")


def template_names(settings: Settings) -> dict[str, str]:
    return {"database": settings.database, "report_tz": settings.report_tz, "job": JOB_NAME}


def load(settings: Settings, name: str) -> sqlfiles.SqlFile:
    return sqlfiles.load(settings.transform_dir / name, template_names(settings))


def ensure_bookkeeping(client, settings: Settings) -> None:
    sqlfiles.apply_file(client, load(settings, sqlfiles.BOOKKEEPING_FILE))


def apply_all(client, settings: Settings) -> list[str]:
    """Apply every model file in order; returns the file names. A missing staging table is reported
    by name (it appears once the job has loaded that stream)."""
    applied = []
    for path in sqlfiles.transform_files(settings.transform_dir):
        sql_file = sqlfiles.load(path, template_names(settings))
        missing = [table_name(s) for s in sorted(sql_file.staging)
                   if not table_exists(client, settings.database, table_name(s))]
        if missing:
            raise sqlfiles.TransformError(
                f"{path.name}: staging table(s) {', '.join(settings.database + '.' + t for t in missing)} "
                "do not exist yet: run the load first (`qtickets-pipeline run`) with those streams selected"
            )
        count = sqlfiles.apply_file(client, sql_file)
        log.debug("applied %s (%d statements)", path.name, count)
        applied.append(path.name)
    log.info("transforms applied: %s", ", ".join(applied))
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
