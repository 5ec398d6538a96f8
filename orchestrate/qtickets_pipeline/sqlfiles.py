"""Reading, rendering, splitting and applying the transform/*.sql files (`{{ placeholder }}` templates:
the database, the report zone, the staging tables and the cluster-ready DDL pieces come from the settings
and the target's naming and DDL modules)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from target_clickhouse import engine_clause, table_name

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


_PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)(?:\(([^()]*)\))?\s*\}\}")


@dataclass(frozen=True)
class SqlFile:
    path: Path
    statements: list[str]
    staging: frozenset[str]  # streams whose staging tables the file reads


def render(sql: str, names: dict[str, str], origin: str = "SQL") -> tuple[str, frozenset[str]]:
    """`{{ name }}` placeholders filled in: `database`, `report_tz`, `job`, `on_cluster` (` ON CLUSTER c`
    or nothing), `staging.<stream>` (the qualified staging table), `table.<stream>` (its bare name),
    `engine.<Engine>(args)` (the engine clause in the `engine_flavour` of `names`, e.g.
    `{{ engine.ReplacingMergeTree(updated_at) }}`) and any other key of `names`; also the streams
    referenced."""
    streams: set[str] = set()

    def fill(match: re.Match) -> str:
        name, args = match.group(1), match.group(2)
        kind, _, stream = name.partition(".")
        if kind == "engine" and stream:
            return engine_clause(stream, (args or "").split(","), names.get("engine_flavour"))
        if args is not None:
            raise TransformError(f"{origin}: only engine placeholders take arguments: {match.group(0)}")
        if stream and kind in ("staging", "table"):
            streams.add(stream)
            table = table_name(stream)
            return f"{names['database']}.{table}" if kind == "staging" else table
        if name in names:
            return names[name]
        raise TransformError(f"{origin}: unknown placeholder {{{{ {name} }}}}")

    return _PLACEHOLDER.sub(fill, sql), frozenset(streams)


def load(path: Path, names: dict[str, str]) -> SqlFile:
    text, streams = render(path.read_text(encoding="utf-8"), names, path.name)
    return SqlFile(path, split_statements(text), streams)


def existing_tables(client, database: str) -> set[str]:
    rows = client.query("SELECT name FROM system.tables WHERE database = {db:String}",
                        parameters={"db": database}).result_rows
    return {name for (name,) in rows}


def check_staging(sql_file: SqlFile, label: str, database: str, existing: set[str]) -> None:
    """Every staging table `sql_file` reads is in `existing` (`existing_tables`); else an error naming the
    file (`label`) and the tables (they appear once the job has loaded those streams)."""
    missing = [f"{database}.{table_name(stream)}" for stream in sorted(sql_file.staging)
               if table_name(stream) not in existing]
    if missing:
        raise TransformError(
            f"{label}: staging table(s) {', '.join(missing)} do not exist yet: run the load first "
            "(`qtickets-pipeline run`) with those streams selected"
        )


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
