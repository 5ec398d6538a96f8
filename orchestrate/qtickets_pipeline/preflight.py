"""The tap's catalog for `qtickets-pipeline run`, prepared before the run so that the run itself starts no
discovery process (Meltano caches no catalog for an editable tap) and a bad selection fails at once, with one
line naming it, instead of a run that quietly loads nothing.

The catalog is what Meltano would give the tap — `meltano invoke --dump=catalog tap-qtickets`: discovery
with meltano.yml's `select` (or TAP_QTICKETS__SELECT) applied — and is passed to `meltano run` as the
extractor's `catalog` extra. It is made again only when something it depends on changes: meltano.yml, the
environment, the selection variable, the PII setting or the tap's code.
"""

from __future__ import annotations

import ast
import hashlib
import json
from fnmatch import fnmatchcase
from pathlib import Path

from . import meltano_cli
from .settings import Settings, SettingsError

SELECT_VAR = "TAP_QTICKETS__SELECT"
CATALOG_VAR = "TAP_QTICKETS__CATALOG"  # the extractor's `catalog` extra (Meltano then skips discovery)
DEPENDS_ON_VARIABLES = (SELECT_VAR, "TAP_QTICKETS_INCLUDE_PII", "MELTANO_ENVIRONMENT")


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


def catalog_key(settings: Settings, plugin: str) -> str:
    digest = hashlib.sha256((settings.project_root / "meltano.yml").read_bytes())
    digest.update(f"\0{settings.environment}\0{plugin}".encode())
    for name in DEPENDS_ON_VARIABLES:
        digest.update(f"\0{settings.env.get(name, '')}".encode())
    for source in sorted((settings.project_root / "tap-qtickets" / "tap_qtickets").glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


def catalog(settings: Settings, plugin: str = meltano_cli.TAP) -> Path:
    """The path of the catalog of extractor `plugin`, made first when missing (two short Meltano
    commands)."""
    path = settings.state_dir / f"catalog-{plugin}-{catalog_key(settings, plugin)}.json"
    if path.exists():
        return path
    source = _selection_source(settings)
    answer = meltano_cli.output_json(settings, ["select", plugin, "--json", "--all"])
    check_selection(answer if isinstance(answer, dict) else {}, source)
    dumped = meltano_cli.dump_catalog(settings, plugin)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    for old in settings.state_dir.glob(f"catalog-{plugin}-*.json"):
        old.unlink()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dumped), encoding="utf-8")
    tmp.replace(path)
    return path
