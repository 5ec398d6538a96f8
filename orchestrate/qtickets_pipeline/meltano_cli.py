"""Running the Meltano CLI as a subprocess with the pipeline's settings, and reading its output."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from . import logs, preflight
from .settings import JOB_NAME, Settings

log = logs.get("meltano")

TAP = "tap-qtickets"
TARGET = "target-clickhouse"
_METRIC = re.compile(r"METRIC: ")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TAIL_LINES = 400
_BOX = re.compile(r"[│╭╰─]")
_PLUGIN_LINE = re.compile(rf"\] ({TAP}|{TARGET}) ")
_PREFIX = re.compile(r"^\S+Z \[\w+\s*\] ")


def _strip_prefix(line: str) -> str:
    """Drop Meltano's `<timestamp> [level]` prefix; keep the plugin name and message."""
    return _PREFIX.sub("", line).strip()


class MeltanoError(RuntimeError):
    pass


def meltano_executable() -> str:
    beside = Path(sys.executable).parent / "meltano"
    if beside.exists():
        return str(beside)
    found = shutil.which("meltano")
    if not found:
        raise MeltanoError("the meltano CLI is not installed: run `make install`")
    return found


def build_env(settings: Settings, plugin_config: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for Meltano: the merged settings, no network calls of its own, uv on PATH, and the
    plugins' settings passed as TAP_QTICKETS_* / TARGET_CLICKHOUSE_* (which win over meltano.yml)."""
    env = dict(settings.env)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["MELTANO_CLI_DISABLE_VERSION_CHECK"] = "1"
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["MELTANO_PROJECT_ROOT"] = str(settings.project_root)
    env["MELTANO_ENVIRONMENT"] = settings.environment
    env["NO_COLOR"] = "1"
    # Plugin venvs get compiled bytecode at install time: with PYTHONDONTWRITEBYTECODE set (common in
    # containers) every tap/target start would otherwise recompile singer-sdk and friends (~1-2 CPU-s).
    env.setdefault("UV_COMPILE_BYTECODE", "1")
    plugins = settings.project_root / ".meltano"
    if (plugins / "extractors" / TAP / "venv").is_dir() and (plugins / "loaders" / TARGET / "venv").is_dir():
        env.setdefault("MELTANO_AUTO_INSTALL", "false")  # skips a ~1 s requirements check per run
    if env.get("QTICKETS_TOKEN"):
        env["TAP_QTICKETS_API_TOKEN"] = env["QTICKETS_TOKEN"]
    if env.get("QTICKETS_BASE_URL"):
        env["TAP_QTICKETS_BASE_URL"] = env["QTICKETS_BASE_URL"]
    env["TARGET_CLICKHOUSE_URL"] = settings.clickhouse_url
    env["TARGET_CLICKHOUSE_DATABASE"] = settings.database
    if settings.clickhouse_user:
        env["TARGET_CLICKHOUSE_USERNAME"] = settings.clickhouse_user
    if settings.clickhouse_password:
        env["TARGET_CLICKHOUSE_PASSWORD"] = settings.clickhouse_password
    for key, value in (plugin_config or {}).items():
        env[key] = value
    return env


@dataclass
class RunOutput:
    returncode: int
    seconds: float
    records: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    tail: list[str] = field(default_factory=list)

    def error_summary(self, secrets: list[str]) -> str:
        """The plugin's own error lines when there are any (Meltano's tracebacks that follow, such as
        BrokenPipeError after a target exit, are only consequences), else Meltano's; secrets removed."""
        telling = re.compile(r"error|exception|failed|fatal|code: \d+|forbidden|unauthori[sz]ed", re.I)
        lines = [ln for ln in self.tail if telling.search(ln) and "METRIC" not in ln and not _BOX.search(ln)]
        from_plugins = [_strip_prefix(ln) for ln in lines if _PLUGIN_LINE.search(ln)]
        chosen = from_plugins[-3:] or [_strip_prefix(ln) for ln in lines[-4:]] or self.tail[-4:]
        text = "\n".join(dict.fromkeys(chosen)).strip() or f"meltano exited with code {self.returncode}"
        return scrub(text, secrets)


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return re.sub(r"(?<=://)[^/@\s]*@", "***@", text)


def _read_metric(line: str, records: dict, requests: dict) -> None:
    """Sum the tap's singer-sdk metrics: record_count per stream, http_request_duration per stream."""
    match = _METRIC.search(line)
    if not match or TAP not in line:
        return
    try:
        metric, _ = json.JSONDecoder().raw_decode(line[match.end() :])
    except ValueError:
        return
    tags = metric.get("tags") or {}
    stream = tags.get("stream") or tags.get("endpoint") or "?"
    if metric.get("metric") == "record_count":
        records[stream] += int(metric.get("value") or 0)
    elif metric.get("metric") == "http_request_duration":
        requests[stream] += 1


def run(
    settings: Settings, args: list[str], plugin_config: dict[str, str] | None = None, echo: bool = False
) -> RunOutput:
    """`meltano --environment <env> <args…>`; output is logged at DEBUG (or echoed) and scanned."""
    cmd = [meltano_executable(), "--log-format", "uncolored", "--environment", settings.environment, *args]
    log.info("running: %s", " ".join(cmd[1:]))
    started = time.monotonic()
    records: dict[str, int] = defaultdict(int)
    requests: dict[str, int] = defaultdict(int)
    tail: list[str] = []
    with subprocess.Popen(
        cmd,
        cwd=settings.project_root,
        env=build_env(settings, plugin_config),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = _ANSI.sub("", raw.rstrip("\n"))
            _read_metric(line, records, requests)
            tail.append(line)
            if len(tail) > _TAIL_LINES:
                del tail[: len(tail) - _TAIL_LINES]
            if echo:
                print(line, file=sys.stderr)
            else:
                log.debug("%s", line)
        returncode = proc.wait()
    return RunOutput(returncode, time.monotonic() - started, dict(records), dict(requests), tail)


def install(settings: Settings) -> RunOutput:
    out = run(settings, ["install"])
    if out.returncode != 0:
        raise MeltanoError("meltano install failed:\n" + "\n".join(out.tail[-20:]))
    return out


def cached_catalog(settings: Settings) -> Path | None:
    """The tap's catalog with the `select` rules applied, cached per code + project version.

    Meltano never caches discovery for editable (`-e`) plugins, so every `meltano run` would start the
    tap an extra time to discover (3-5 s here). Discovery reads no API, so the result depends only on
    the tap's code, meltano.yml and TAP_QTICKETS__* extras (e.g. TAP_QTICKETS__SELECT): it is produced
    once by Meltano itself (`invoke --dump=catalog`, i.e. with Meltano's own selection) and handed back
    as the extractor's `catalog` extra. Returns None (Meltano then discovers as usual) when the plugin
    is not installed, TAP_QTICKETS__CATALOG is set, or the dump fails.
    """
    tap_exe = settings.project_root / ".meltano" / "extractors" / TAP / "venv" / "bin" / TAP
    source = (settings.project_root / TAP).resolve()
    if not tap_exe.exists() or not source.is_dir() or settings.env.get("TAP_QTICKETS__CATALOG"):
        return None  # a catalog of the user's own wins
    digest = hashlib.sha256(settings.environment.encode())
    digest.update((settings.project_root / "meltano.yml").read_bytes())
    # Extras from the environment (TAP_QTICKETS__SELECT, __METADATA, …) change the selection too.
    for key in sorted(k for k in settings.env if k.startswith("TAP_QTICKETS__")):
        digest.update(f"{key}={settings.env[key]}\0".encode())
    for path in sorted([*source.rglob("*.py"), source / "pyproject.toml"]):
        if path.is_file() and "tests" not in path.relative_to(source).parts:
            digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes())
    catalog = settings.state_dir / f"catalog-{digest.hexdigest()[:20]}.json"
    if catalog.exists():
        return catalog
    cmd = [
        meltano_executable(),
        "--log-level",
        "warning",
        "--environment",
        settings.environment,
        "invoke",
        "--dump=catalog",
        TAP,
    ]
    result = subprocess.run(
        cmd, cwd=settings.project_root, env=build_env(settings), capture_output=True, text=True, timeout=300
    )
    try:
        streams = json.loads(result.stdout)["streams"]
    except (ValueError, KeyError, TypeError):
        log.warning("catalog dump for the cache failed (exit %s); Meltano discovers", result.returncode)
        return None
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    for old in settings.state_dir.glob("catalog-*.json"):
        old.unlink()
    tmp = catalog.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"streams": streams}))
    tmp.replace(catalog)
    log.info("cached the tap catalog (selection applied) in %s", catalog.name)
    return catalog


def run_job(
    settings: Settings, *, full_refresh: bool, save_state: bool, plugin_config: dict[str, str]
) -> RunOutput:
    args = ["run", JOB_NAME]
    if full_refresh:
        args.append("--full-refresh")
    if not save_state:
        args.append("--no-state-update")
    config = dict(plugin_config)
    catalog = cached_catalog(settings)
    if catalog is not None:
        preflight.check_selection(settings, catalog)
        config["TAP_QTICKETS__CATALOG"] = str(catalog)
    return run(settings, args, config)


def state_id(settings: Settings) -> str:
    return f"{settings.environment}:{TAP}-to-{TARGET}"


def get_state(settings: Settings) -> dict:
    """The saved Singer state of the job ({} when none)."""
    out = run(settings, ["state", "get", state_id(settings)])
    if out.returncode != 0:
        return {}
    for line in reversed(out.tail):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return {}
