"""The warehouse's models (transform/*.sql: the marts, the views) kept up to date with staging.

`bring_up_to_date` runs after every load (the target's `after_load` hook, after_load.py), after every
webhook batch and on `qtickets-pipeline transform`:

1. The model files are rendered (database, REPORT_TZ, cluster, engines) and hashed. Their DDL is applied
   only when the hash differs from the one the warehouse recorded in `meta_models` (a release changed the
   SQL, or a setting that is part of it, such as REPORT_TZ), so a load that changes nothing runs no DDL.
   When the marts' own SQL changed, the marts are rebuilt from all of staging.
2. The marts are refreshed from the staging rows written since the last refresh (marts.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from target_clickhouse import on_cluster

from . import logs, marts, sqlfiles
from .settings import LEDGER_JOB, WEBHOOK_JOB, Settings

log = logs.get("transform")

MODELS_TABLE = "meta_models"  # created by transform/00_meta.sql: name → the hash of what was applied
DDL, MARTS = "ddl", "marts"  # what the two hashes cover: every model file; the marts and their refresh


def template_names(settings: Settings) -> dict[str, str]:
    return {"database": settings.database, "report_tz": settings.report_tz, "job": LEDGER_JOB,
            "webhook_job": WEBHOOK_JOB, "on_cluster": on_cluster(settings.cluster),
            "engine_flavour": settings.engine_flavour}


def load(settings: Settings, name: str) -> sqlfiles.SqlFile:
    return sqlfiles.load(settings.transform_dir / name, template_names(settings))


@dataclass(frozen=True)
class Outcome:
    ddl_applied: bool  # the model files were (re)applied
    refresh: marts.RefreshResult

    @property
    def changed(self) -> bool:
        """Whether what the views show may have changed."""
        return self.ddl_applied or self.refresh.changed


def _digest(files: list[sqlfiles.SqlFile]) -> str:
    digest = hashlib.sha256()
    for sql_file in files:
        digest.update(sql_file.path.name.encode())
        for statement in sql_file.statements:
            digest.update(b"\0" + statement.encode())
    return digest.hexdigest()


def applied_hashes(client, database: str) -> dict[str, str]:
    """What the warehouse says it applied ({} before the first time)."""
    try:
        rows = client.query(f"SELECT name, checksum FROM {database}.{MODELS_TABLE} FINAL").result_rows
    except Exception:  # the table is created by the model files themselves
        return {}
    return {str(name): str(checksum) for name, checksum in rows}


def wanted_hashes(settings: Settings) -> tuple[list[sqlfiles.SqlFile], dict[str, str]]:
    """The rendered model files and their hashes (what `meta_models` must say once they are applied)."""
    names = template_names(settings)
    files = [sqlfiles.load(path, names) for path in sqlfiles.transform_files(settings.transform_dir)]
    return files, {DDL: _digest(files), MARTS: _digest(marts.model_files(settings, names, files))}


def is_current(client, settings: Settings) -> bool:
    """Whether the warehouse holds these model files, rendered with these settings (REPORT_TZ, …)."""
    return applied_hashes(client, settings.database) == wanted_hashes(settings)[1]


@contextmanager
def refresh_lock(settings: Settings) -> Iterator[None]:
    """One refresh of a warehouse at a time on this host: a run's after-load step, a webhook batch and
    `transform` may otherwise refresh the marts together on a ClickHouse server (embedded ClickHouse admits
    one process at a time anyway). A file lock per warehouse in the state directory, waited for."""
    if settings.is_embedded:
        yield
        return
    key = hashlib.sha1(settings.warehouse.encode()).hexdigest()[:12]
    path = settings.state_dir / f"refresh-{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes (or the process ends)
        yield


def bring_up_to_date(client, settings: Settings, *, rebuild: bool = False) -> Outcome:
    """Apply the model files if they changed, then refresh the marts (`rebuild`: from all of staging)."""
    with refresh_lock(settings):
        return _bring_up_to_date(client, settings, rebuild=rebuild)


def _bring_up_to_date(client, settings: Settings, *, rebuild: bool) -> Outcome:
    names = template_names(settings)
    files, wanted = wanted_hashes(settings)
    applied = applied_hashes(client, settings.database)
    existing = sqlfiles.existing_tables(client, settings.database)
    marts.check_staging(settings, names, existing)
    ddl = applied.get(DDL) != wanted[DDL]
    rebuild = rebuild or applied.get(MARTS) != wanted[MARTS]
    if applied.get(MARTS) not in (None, wanted[MARTS]):  # their shape may have changed: made anew
        marts.drop(client, settings, files)
    if ddl:
        for sql_file in files:
            sqlfiles.check_staging(sql_file, sql_file.path.name, settings.database, existing)
            sqlfiles.apply_file(client, sql_file)
        log.info("model files applied: %s", ", ".join(f.path.name for f in files))
    result = marts.refresh(client, settings, names, rebuild=rebuild)
    if wanted != applied:
        rows = ", ".join(f"('{name}', '{checksum}', now64(6))" for name, checksum in wanted.items())
        client.command(f"INSERT INTO {settings.database}.{MODELS_TABLE} (name, checksum, applied_at) "
                       f"VALUES {rows}")
    return Outcome(ddl, result)


UNKNOWN_OBJECT = re.compile(r"Unknown table expression identifier '([^']+)'|Table (\S+) does not exist")


def smoke_checks(client, settings: Settings) -> list[tuple[str, bool, str]]:
    results = []
    for statement in load(settings, sqlfiles.SMOKE_FILE).statements:
        try:
            rows = client.query(statement).result_rows
            name, ok, detail = rows[0]
            results.append((str(name), bool(ok), str(detail)))
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            unknown = UNKNOWN_OBJECT.search(first)
            if unknown:  # an empty or half-built warehouse: say what is missing, not ClickHouse's error
                first = f"not run: {unknown.group(1) or unknown.group(2)} does not exist yet"
            label = re.search(r"SELECT\s+'([^']+)'", statement)
            results.append((label.group(1) if label else statement[:60], False, first[:300]))
    return results
