"""The pipeline's boundary with Meltano: its CLI in a subprocess, read through JSON only.

`meltano --log-format json …` writes one JSON event per line; with the `structured-logging` capability
declared for both plugins (meltano.yml), the plugins' own log records arrive parsed, so metrics are the
singer-sdk `metric_info` objects and errors are the events' levels and messages — no text is scraped.
Selection and state come from `meltano select --json` and `meltano state get`, never from Meltano's files.

No catalog cache: measured here, a no-change `meltano run qtickets_load` took 3.6 s with Meltano's own
discovery and 3.1–3.5 s with a pre-dumped catalog, not worth a cache of our own.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from target_clickhouse.redaction import redact

from . import logs
from .settings import JOB_NAME, USER_VARIABLES, Settings

log = logs.get("meltano")

TAP = "tap-qtickets"
TARGET = "target-clickhouse"
UTILITY = "qtickets-pipeline"  # the job's begin/finish steps (this package, as a Meltano utility)
PLUGINS = (TAP, TARGET)
EXTRACT_LOAD_BLOCK = "ExtractLoadBlocks"  # `block_type` of Meltano's "block run completed" event
ERROR_LEVELS = {"error", "critical"}
_KEPT_ERRORS = 50


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
    plugins' settings the user set or the pipeline decides (warehouse URL and database, the window) as
    TAP_QTICKETS_* / TARGET_CLICKHOUSE_*, which win over meltano.yml."""
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
    installed = [plugins / "extractors" / TAP / "venv", plugins / "loaders" / TARGET / "venv"]
    if all(venv.is_dir() for venv in installed):
        env.setdefault("MELTANO_AUTO_INSTALL", "false")  # skips a ~1 s requirements check per run
    # What the user set wins over meltano.yml in every environment (the demo environment's own sandbox
    # URL and token included): passed as the plugin's own TAP_QTICKETS_* / TARGET_CLICKHOUSE_* variable.
    for variable, (plugin, setting) in USER_VARIABLES.items():
        if settings.env.get(variable):
            env[f"{plugin}_{setting}".upper().replace("-", "_")] = settings.env[variable]
    env["TARGET_CLICKHOUSE_URL"] = settings.clickhouse_url
    env["TARGET_CLICKHOUSE_DATABASE"] = settings.database
    env["TARGET_CLICKHOUSE_LOCK_WAIT_SECONDS"] = str(settings.lock_wait_seconds)
    env.update(plugin_config or {})
    return env


def parse_event(line: str) -> dict | None:
    """One line of Meltano's JSON log output as a dict (None for anything else)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def render(event: dict) -> str:
    """A human line for the pipeline's own log."""
    source = event.get("string_id") or event.get("name") or "meltano"
    text = str(event.get("event", ""))
    if event.get("metric_info"):
        text = f"METRIC {json.dumps(event['metric_info'], default=str)}"
    return f"{source} {event.get('level', 'info')}: {text}"


@dataclass
class RunOutput:
    returncode: int
    seconds: float
    records: dict[str, int] = field(default_factory=dict)  # per stream, from the tap's record_count
    requests: dict[str, int] = field(default_factory=dict)  # per stream, from the tap's http_request_count
    errors: list[dict] = field(default_factory=list)  # error events, in order
    step_errors: list[str] = field(default_factory=list)  # the begin/finish steps' `error: …` lines
    text: list[str] = field(default_factory=list)  # lines that were not JSON events (last ones)

    def error_summary(self, secrets: list[str]) -> str:
        """The cause, once: our plugins' own `… failed: …` line, else a plugin's exception, else
        Meltano's verdict (the SDK's "An unhandled error occurred …" preambles are left out)."""
        own = [str(e.get("event")) for e in self.errors
               if e.get("string_id") in PLUGINS and str(e.get("event", "")).startswith(PLUGINS)]
        own += [f"{UTILITY} step failed: {line}" for line in self.step_errors]
        raised = [_exception_text(e["plugin_exception"]) for e in self.errors
                  if e.get("string_id") in PLUGINS and e.get("plugin_exception")]
        meltano = [str(e.get("err") or e.get("event")) for e in self.errors if not e.get("string_id")]
        chosen = own[-1:] or raised[-1:] or meltano[:1] or self.text[-1:]
        return redact("; ".join(chosen) or f"meltano exited with code {self.returncode}", *secrets)


def _exception_text(exception: object) -> str:
    if isinstance(exception, dict):
        return f"{exception.get('type', 'Exception')}: {exception.get('message', '')}".strip()
    return str(exception)


def _is_step(event: dict) -> bool:
    """An event of the job's own begin/finish steps (Meltano logs a utility command's lines under `name`)."""
    return event.get("name") == UTILITY and event.get("cmd_type") == "command"


def _take(event: dict, out: RunOutput) -> None:
    text = str(event.get("event", ""))
    if _is_step(event) and text.startswith("error: "):  # our CLI's one failure line
        out.step_errors.append(text[len("error: "):])
        return
    metric = event.get("metric_info")
    if isinstance(metric, dict) and event.get("string_id") == TAP:
        stream = (metric.get("tags") or {}).get("stream") or "?"
        if metric.get("metric") == "record_count":
            out.records[stream] = out.records.get(stream, 0) + int(metric.get("value") or 0)
        elif metric.get("metric") == "http_request_count":
            out.requests[stream] = out.requests.get(stream, 0) + int(metric.get("value") or 0)
    elif str(event.get("level", "")).lower() in ERROR_LEVELS and len(out.errors) < _KEPT_ERRORS:
        out.errors.append(event)


def run(
    settings: Settings,
    args: list[str],
    plugin_config: dict[str, str] | None = None,
    on_event: Callable[[dict, RunOutput], None] | None = None,
) -> RunOutput:
    """`meltano --log-format json --environment <env> <args…>`; events are logged at DEBUG and read
    (`on_event` sees each one after it was counted)."""
    cmd = [meltano_executable(), "--log-format", "json", "--environment", settings.environment, *args]
    log.info("running: meltano %s", " ".join(cmd[4:]))
    started = time.monotonic()
    out = RunOutput(0, 0.0)
    with subprocess.Popen(cmd, cwd=settings.project_root, env=build_env(settings, plugin_config),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = parse_event(line)
            if event is None:
                if line.strip():
                    out.text = [*out.text[-19:], line.rstrip()]
                    log.debug("%s", line.rstrip())
                continue
            _take(event, out)
            if on_event is not None:
                on_event(event, out)
            # The job's own steps are this pipeline's log (a wait for the embedded lock, transforms).
            log.log(logging.INFO if _is_step(event) else logging.DEBUG, "%s", render(event))
        out.returncode = proc.wait()
    out.seconds = time.monotonic() - started
    return out


def _invoke(settings: Settings, args: list[str]) -> subprocess.CompletedProcess:
    """A short Meltano command (its logs are JSON on stderr); MeltanoError naming its last error."""
    cmd = [meltano_executable(), "--log-format", "json", "--environment", settings.environment, *args]
    done = subprocess.run(cmd, cwd=settings.project_root, env=build_env(settings), capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        events = [e for e in map(parse_event, done.stderr.splitlines()) if e]
        errors = [str(e.get("event")) for e in events if str(e.get("level", "")).lower() in ERROR_LEVELS]
        detail = errors[-1] if errors else (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise MeltanoError(f"meltano {' '.join(args)} failed (exit {done.returncode}): {detail}")
    return done


def output_json(settings: Settings, args: list[str]) -> object:
    """A Meltano command whose stdout is JSON (`select --json`, `state get`)."""
    done = _invoke(settings, args)
    try:
        return json.loads(done.stdout)
    except ValueError as exc:
        raise MeltanoError(f"meltano {' '.join(args)} printed no JSON: {done.stdout[:200]!r}") from exc


def install(settings: Settings) -> RunOutput:
    out = run(settings, ["install"])
    if out.returncode != 0:
        raise MeltanoError("meltano install failed: " + out.error_summary([]))
    return out


def run_job(
    settings: Settings,
    *,
    full_refresh: bool,
    save_state: bool,
    plugin_config: dict[str, str],
    on_event: Callable[[dict, RunOutput], None] | None = None,
) -> RunOutput:
    args = ["run", JOB_NAME]
    if full_refresh:
        args.append("--full-refresh")
    if not save_state:
        args.append("--no-state-update")
    return run(settings, args, plugin_config, on_event)


def selection(settings: Settings) -> dict:
    """`meltano select tap-qtickets --json --all`: the enabled patterns and every property's selection."""
    answer = output_json(settings, ["select", TAP, "--json", "--all"])
    return answer if isinstance(answer, dict) else {}


def state_id(settings: Settings) -> str:
    return f"{settings.environment}:{TAP}-to-{TARGET}"


def state_get(settings: Settings) -> dict:
    """The job's saved Singer state through `meltano state get` ({} when there is none)."""
    answer = output_json(settings, ["state", "get", state_id(settings)])
    return answer if isinstance(answer, dict) else {}


def state_clear(settings: Settings) -> None:
    _invoke(settings, ["state", "clear", "--force", state_id(settings)])
