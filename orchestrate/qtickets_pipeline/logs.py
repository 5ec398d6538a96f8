"""One log stream for the whole run, driven by LOG_LEVEL, LOG_JSON (true/false) and LOG_FILE.

The CLI's own records and the records of the processes it runs (Meltano, the tap, the target: Meltano's
JSON events, `relay`) go through the same handlers once each: as text, one timestamp and one level per
line; with LOG_JSON=true, one JSON object per line whose fields (plugin, run_id, level, message, metrics,
…) are real fields. LOG_FILE gets the same lines as the console.
"""

from __future__ import annotations

import json
import logging
import sys
import typing as t
from datetime import UTC, datetime

from .settings import SettingsError

LOGGER_NAME = "qtickets_pipeline"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# What Meltano's events carry besides the message that is worth keeping as fields.
RELAYED_FIELDS = ("stream_name", "metric_info", "load", "window_start", "window_end", "mode", "run_id",
                  "plugin_exception")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; fields passed via `extra={"fields": {...}}` are merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, t.Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "plugin": getattr(record, "plugin", None) or "qtickets-pipeline",
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(source)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.source = getattr(record, "plugin", None) or "qtickets-pipeline"
        return super().format(record)


def configure(env: dict[str, str]) -> logging.Logger:
    level_name = (env.get("LOG_LEVEL") or "INFO").strip().upper()
    level = logging.getLevelName(level_name)
    if not isinstance(level, int):
        raise SettingsError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level_name!r}")
    json_raw = (env.get("LOG_JSON") or "false").strip().lower()
    if json_raw not in _TRUE | _FALSE:
        raise SettingsError(f"LOG_JSON must be true or false, got {json_raw!r}")
    formatter: logging.Formatter = JsonFormatter() if json_raw in _TRUE else TextFormatter()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if env.get("LOG_FILE"):
        try:
            handlers.append(logging.FileHandler(env["LOG_FILE"], encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(
                f"LOG_FILE {env['LOG_FILE']!r} cannot be opened for writing: {exc.strerror or exc}"
            ) from None
    for handler in handlers:
        handler.setFormatter(formatter)
    # The target's modules log in this process too (a wait for a busy embedded directory).
    for name in (LOGGER_NAME, "target-clickhouse"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
            old.close()
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    return logging.getLogger(LOGGER_NAME)


def get(name: str) -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}")


_relay = get("relay")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}


def relay(event: dict, level: int | None = None, fields: dict | None = None) -> None:
    """Log one of Meltano's JSON events as a record of this process (its level unless `level` is given)."""
    plugin = event.get("string_id") or event.get("name") or "meltano"
    message = str(event.get("event", ""))
    metric = event.get("metric_info")
    if isinstance(metric, dict) and message in ("METRIC", ""):
        message = f"metric {metric.get('metric')} {metric.get('value')} {metric.get('tags', {})}"
    found = {key: event[key] for key in RELAYED_FIELDS if event.get(key) is not None}
    if level is None:
        level = _LEVELS.get(str(event.get("level", "info")).lower(), logging.INFO)
    _relay.log(level, "%s", message, extra={"plugin": plugin, "fields": {**found, **(fields or {})}})
