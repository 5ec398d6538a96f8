"""Reading, splitting and applying the transform/*.sql files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .settings import DEFAULT_DATABASE, DEFAULT_REPORT_TZ

BOOKKEEPING_FILE = "00_meta_job_runs.sql"
SMOKE_FILE = "smoke_checks.sql"


class TransformError(RuntimeError):
    pass


def split_statements(sql: str) -> list[str]:
    """Split on `;` outside quotes, dropping `--` comments; returns non-empty statements."""
    statements: list[str] = []
    current: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            current.append(ch)
            if ch == "\\" and i + 1 < len(sql):
                current.append(sql[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
            current.append(ch)
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end == -1 else end
            continue
        elif ch == ";":
            statements.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    statements.append("".join(current).strip())
    return [s for s in statements if s]


def render(sql: str, database: str, report_tz: str) -> str:
    """The files are written for database `zakaz` and zone Europe/Moscow so a human can paste them;
    other values are substituted here."""
    if database != DEFAULT_DATABASE:
        sql = re.sub(rf"\b{DEFAULT_DATABASE}\.", f"{database}.", sql)
        sql = re.sub(rf"(DATABASE IF NOT EXISTS |database = '){DEFAULT_DATABASE}\b", rf"\g<1>{database}", sql)
    if report_tz != DEFAULT_REPORT_TZ:
        sql = sql.replace(f"'{DEFAULT_REPORT_TZ}'", f"'{report_tz}'")
    return sql


@dataclass(frozen=True)
class SqlFile:
    path: Path
    statements: list[str]


def load(path: Path, database: str, report_tz: str) -> SqlFile:
    return SqlFile(path, split_statements(render(path.read_text(encoding="utf-8"), database, report_tz)))


def transform_files(transform_dir: Path) -> list[Path]:
    """Model files in apply order (numeric prefix); smoke checks are not applied."""
    files = sorted(p for p in transform_dir.glob("*.sql") if p.name != SMOKE_FILE)
    if not files:
        raise TransformError(f"no .sql files in {transform_dir}")
    return files


def apply_file(client, sql_file: SqlFile) -> int:
    for statement in sql_file.statements:
        try:
            client.command(statement)
        except Exception as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TransformError(f"{sql_file.path.name}: {first_line[:500]}") from exc
    return len(sql_file.statements)
