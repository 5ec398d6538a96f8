"""Checks made before `meltano run`, so a bad configuration fails at once with one line naming the setting
instead of as a vague plugin error later: an API token must be provided, and every `select` pattern must
name a stream the tap has."""

from __future__ import annotations

import ast
import json
import re
from fnmatch import fnmatchcase
from pathlib import Path

import yaml

from .settings import Settings, SettingsError

TAP = "tap-qtickets"
SELECT_VAR = "TAP_QTICKETS__SELECT"
_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def _tap_entries(settings: Settings) -> list[dict]:
    """tap-qtickets' blocks in meltano.yml: the plugin definition, then the chosen environment's."""
    project = yaml.safe_load((settings.project_root / "meltano.yml").read_text()) or {}
    found = [p for p in (project.get("plugins") or {}).get("extractors") or [] if p.get("name") == TAP]
    for env in project.get("environments") or []:
        if env.get("name") == settings.environment:
            extractors = (((env.get("config") or {}).get("plugins") or {}).get("extractors")) or []
            found += [p for p in extractors if p.get("name") == TAP]
    return found


def _expand(value: object, env: dict[str, str]) -> str:
    """Meltano's `$VAR` / `${VAR}` expansion (an unset variable expands to nothing)."""
    return _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), str(value or ""))


def require_api_token(settings: Settings) -> None:
    """The token the tap will get: TAP_QTICKETS_API_TOKEN / QTICKETS_TOKEN (shell, .env, --env file),
    else meltano.yml's api_token for the environment (the demo environment's sandbox token)."""
    env = settings.env
    if env.get("TAP_QTICKETS_API_TOKEN", "").strip() or env.get("QTICKETS_TOKEN", "").strip():
        return
    token = ""
    for entry in _tap_entries(settings):  # later (environment) blocks win
        if "api_token" in (entry.get("config") or {}):
            token = _expand(entry["config"]["api_token"], env)
    if not token.strip():
        raise SettingsError(
            f"QTICKETS_TOKEN is not set (nor TAP_QTICKETS_API_TOKEN, nor an api_token for tap-qtickets "
            f"in meltano.yml's {settings.environment} environment)"
        )


def select_patterns(settings: Settings) -> tuple[str, list[str]]:
    """(where they come from, the patterns): TAP_QTICKETS__SELECT wins over meltano.yml's `select`."""
    raw = settings.env.get(SELECT_VAR, "").strip()
    if raw:
        try:
            patterns = json.loads(raw)
        except ValueError:
            try:
                patterns = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                patterns = None
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise SettingsError(
                f'{SELECT_VAR} must be a JSON list of patterns like ["orders.*"], got {raw!r}'
            )
        return SELECT_VAR, patterns
    patterns = []
    for entry in _tap_entries(settings):
        if entry.get("select"):
            patterns = list(entry["select"])  # the environment's selection replaces the plugin's
    return "meltano.yml select", patterns


def check_selection(settings: Settings, catalog: Path) -> None:
    """Every select pattern's stream part (before the first '.') must match a stream of the catalog."""
    streams = sorted(s["tap_stream_id"] for s in json.loads(catalog.read_text())["streams"])
    source, patterns = select_patterns(settings)
    for pattern in patterns:
        stream = pattern.lstrip("!").split(".", 1)[0]
        if not any(fnmatchcase(name, stream) for name in streams):
            raise SettingsError(
                f"{source}: stream {stream!r} (pattern {pattern!r}) is not in the tap's catalog; "
                f"known streams: {', '.join(streams)}"
            )
