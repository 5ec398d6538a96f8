"""Logging for the whole run, driven by LOG_LEVEL, LOG_JSON (true/false) and LOG_FILE."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from .settings import SettingsError

LOGGER_NAME = "qtickets_pipeline"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; fields passed via `extra={"fields": {...}}` are merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return text


def configure(env: dict[str, str]) -> logging.Logger:
    level_name = (env.get("LOG_LEVEL") or "INFO").strip().upper()
    level = logging.getLevelName(level_name)
    if not isinstance(level, int):
        raise ValueError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level_name!r}")
    json_raw = (env.get("LOG_JSON") or "false").strip().lower()
    if json_raw not in _TRUE | _FALSE:
        raise ValueError(f"LOG_JSON must be true or false, got {json_raw!r}")
    as_json = json_raw in _TRUE
    formatter: logging.Formatter = JsonFormatter() if as_json else TextFormatter()
    console = logging.StreamHandler(sys.stderr)
    if not as_json:
        # A record marked `console: False` is one the CLI prints itself as its final line (a run's
        # failure): on a text console it would say the same thing twice.
        console.addFilter(lambda record: getattr(record, "console", True))
    handlers: list[logging.Handler] = [console]
    if env.get("LOG_FILE"):
        try:
            handlers.append(logging.FileHandler(env["LOG_FILE"], encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(
                f"LOG_FILE {env['LOG_FILE']!r} cannot be opened for writing: {exc.strerror or exc}"
            ) from None
    for handler in handlers:
        handler.setFormatter(formatter)
    # The target's connection module logs in this process too (a wait for a busy embedded directory).
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
