"""Errors the target raises on purpose; each message names the setting/stream/field/value at fault.

This module does not import singer-sdk (the package's light modules use it). The two errors that
are also SDK errors live next to their use: `sink.MissingKeyError` (a `MissingKeyPropertiesError`)
and `target.InvalidSettingsError` (a `ConfigValidationError`).
"""

from __future__ import annotations

# Why a load was refused (`load_run.LoadRefusedError.reason`), for callers that then start a full refresh.
NO_PRIOR_LOAD = "no_prior_load"


class TargetClickHouseError(Exception):
    """Base class: the CLI prints the message (no traceback) and exits non-zero."""


class ConfigError(TargetClickHouseError):
    """A setting has an invalid value."""


class ClickHouseConnectionError(TargetClickHouseError):
    """ClickHouse could not be opened or reached."""


class DirectoryLockedError(ClickHouseConnectionError):
    """The embedded (chdb) directory is held by another process."""


class SchemaEvolutionError(TargetClickHouseError):
    """An existing table cannot take the incoming schema (incompatible type, changed keys)."""


class InvalidRecordError(TargetClickHouseError):
    """A RECORD message cannot be loaded as a row (e.g. its record is not a JSON object)."""


class ConversionError(TargetClickHouseError):
    """A record value cannot be converted to its column's ClickHouse type."""

    def __init__(self, stream: str, field: str, value: object, reason: str) -> None:
        shown = repr(value)
        if len(shown) > 200:
            shown = shown[:200] + "…"
        super().__init__(f"stream '{stream}', field '{field}': cannot load value {shown}: {reason}")
        self.stream = stream
        self.field = field
        self.value = value
        self.reason = reason
