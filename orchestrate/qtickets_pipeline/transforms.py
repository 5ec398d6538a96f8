"""Applying transform/*.sql (idempotent: CREATE … IF NOT EXISTS / CREATE OR REPLACE VIEW)."""

from __future__ import annotations

import re

from . import logs, sqlfiles
from .settings import Settings
from .warehouse import table_exists

log = logs.get("transform")
_STAGING = re.compile(r"\b\w+\.(stg_qtickets_\w+_raw)\b")


def ensure_bookkeeping(client, settings: Settings) -> None:
    path = settings.transform_dir / sqlfiles.BOOKKEEPING_FILE
    sqlfiles.apply_file(client, sqlfiles.load(path, settings.database, settings.report_tz))


def apply_all(client, settings: Settings) -> list[str]:
    """Apply every model file in order; returns the file names. A missing staging table is reported
    by name (it appears once the job has loaded that stream)."""
    applied = []
    for path in sqlfiles.transform_files(settings.transform_dir):
        sql_file = sqlfiles.load(path, settings.database, settings.report_tz)
        needed = sorted({m for s in sql_file.statements for m in _STAGING.findall(s)})
        missing = [t for t in needed if not table_exists(client, settings.database, t)]
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
    path = settings.transform_dir / sqlfiles.SMOKE_FILE
    results = []
    for statement in sqlfiles.load(path, settings.database, settings.report_tz).statements:
        try:
            rows = client.query(statement).result_rows
            name, ok, detail = rows[0]
            results.append((str(name), bool(ok), str(detail)))
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            label = re.search(r"SELECT\s+'([^']+)'", statement)
            results.append((label.group(1) if label else statement[:60], False, first[:300]))
    return results
