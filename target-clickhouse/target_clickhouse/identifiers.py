"""Validation and quoting of ClickHouse identifiers (database, table and column names)."""

from __future__ import annotations

from target_clickhouse.errors import ConfigError

MAX_IDENTIFIER_LENGTH = 255
# What clickhouse-connect's `binding.escape_str` escapes with a backslash; written out here so that the
# package's light modules (naming, DDL pieces: the pipeline CLI imports them) do not import the driver.
_MUST_ESCAPE = str.maketrans({c: "\\" + c for c in ("\\", "'", "`", "\t", "\n")})


def escape_str(text: str) -> str:
    """`text` for a quoted ClickHouse identifier or string literal."""
    return text.translate(_MUST_ESCAPE)


def validate_identifier(name: str, what: str) -> str:
    """Reject names ClickHouse cannot store safely (empty, too long, control characters)."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{what} name {name!r} is empty or not a string")
    if len(name) > MAX_IDENTIFIER_LENGTH:
        raise ConfigError(f"{what} name {name[:60]!r}… is longer than {MAX_IDENTIFIER_LENGTH} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ConfigError(f"{what} name {name!r} contains control characters")
    return name


def quote_identifier(name: str, what: str = "column") -> str:
    """Backtick-quote a validated identifier with clickhouse-connect's escaping.

    (`clickhouse_connect.driver.binding.quote_identifier` passes a name that already looks quoted,
    e.g. "`x`", through unchanged; a column may be called that, so every name is escaped here.)"""
    return f"`{escape_str(validate_identifier(name, what))}`"


def qualified_table(database: str, table: str) -> str:
    return f"{quote_identifier(database, 'database')}.{quote_identifier(table, 'table')}"
