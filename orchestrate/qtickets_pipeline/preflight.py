"""Checks made before `meltano run`, so a bad selection fails at once with one line naming it instead of a
run that quietly loads nothing: every `select` pattern must name a stream the tap has.

The patterns and the tap's streams come from `meltano select tap-qtickets --json --all` (Meltano's own
reading of meltano.yml, the environment and TAP_QTICKETS__SELECT). That call costs ~2.5 s, so a passed
check is remembered per (meltano.yml, environment, TAP_QTICKETS__SELECT): the scheduled run pays it only
after one of them changed.
"""

from __future__ import annotations

import ast
import hashlib
import json
from fnmatch import fnmatchcase

from . import meltano_cli
from .settings import Settings, SettingsError

SELECT_VAR = "TAP_QTICKETS__SELECT"


def _selection_source(settings: Settings) -> str:
    raw = settings.env.get(SELECT_VAR, "").strip()
    if not raw:
        return "meltano.yml select"
    try:
        patterns = json.loads(raw)
    except ValueError:
        try:  # Meltano also reads a YAML/Python-style list: ['events.*', 'orders.*']
            patterns = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            patterns = None
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise SettingsError(f'{SELECT_VAR} must be a JSON list of patterns like ["orders.*"], got {raw!r}')
    return SELECT_VAR


def check_selection(selection: dict, source: str) -> None:
    """Every enabled pattern's stream part (before the first '.') matches a stream of the tap."""
    streams = sorted({entry["stream"] for entry in selection.get("streams", [])})
    for pattern in selection.get("enabled_patterns", []):
        stream = pattern.lstrip("!").split(".", 1)[0]
        if not any(fnmatchcase(name, stream) for name in streams):
            raise SettingsError(
                f"{source}: stream {stream!r} (pattern {pattern!r}) is not in the tap's catalog; "
                f"known streams: {', '.join(streams)}"
            )


def ensure_selection(settings: Settings) -> None:
    source = _selection_source(settings)
    digest = hashlib.sha256((settings.project_root / "meltano.yml").read_bytes())
    digest.update(f"\0{settings.environment}\0{settings.env.get(SELECT_VAR, '')}".encode())
    stamp = settings.state_dir / f"selection-ok-{digest.hexdigest()[:16]}"
    if stamp.exists():
        return
    check_selection(meltano_cli.selection(settings), source)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    for old in settings.state_dir.glob("selection-ok-*"):
        old.unlink()
    stamp.touch()
