"""The pipeline's boundary with Meltano: its CLI in a subprocess, read through JSON only.

`meltano --log-format json …` writes one JSON event per line; with the `structured-logging` capability
declared for both plugins (meltano.yml), the plugins' own log records arrive parsed, with their `extra`
fields as fields of the event (the target's `load` outcome, the tap's window) — no text is scraped.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from . import logs
from .settings import TLS_VARIABLES, USER_VARIABLES, Settings

log = logs.get("meltano")

TAP = "tap-qtickets"
TARGET = "target-clickhouse"
PLUGINS = (TAP, TARGET)
ERROR_LEVELS = {"error", "critical"}
_PR_SET_PDEATHSIG = 1


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


def build_env(settings: Settings, plugin_config: dict[str, str] | None = None,
              extractor: str = TAP) -> dict[str, str]:
    """Environment for Meltano: the merged settings, no network calls of its own, uv on PATH, and the
    plugins' settings the user set or the pipeline decides (warehouse URL and database, the window) as
    TAP_QTICKETS_* / TARGET_CLICKHOUSE_*, which win over meltano.yml. The QTICKETS_* ones are
    `tap-qtickets`'s own: Meltano also reads TAP_QTICKETS_* (the namespace) for every extractor inheriting
    from it, so they are passed only when `extractor` is tap-qtickets itself."""
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
    plugins = settings.meltano_dir
    installed = [plugins / "extractors" / TAP / "venv", plugins / "loaders" / TARGET / "venv"]
    if all(venv.is_dir() for venv in installed):
        env.setdefault("MELTANO_AUTO_INSTALL", "false")  # skips a ~1 s requirements check per run
    # What the user set wins over meltano.yml in every environment (the demo environment's own sandbox
    # URL and token included): passed as the plugin's own TAP_QTICKETS_* / TARGET_CLICKHOUSE_* variable.
    for variable, (plugin, setting) in USER_VARIABLES.items():
        if settings.env.get(variable) and (plugin != TAP or extractor == TAP):
            env[f"{plugin}_{setting}".upper().replace("-", "_")] = settings.env[variable]
    for variable in TLS_VARIABLES:  # the files as checked: absolute paths, whatever the plugin's cwd
        setting = USER_VARIABLES[variable][1]
        if isinstance(path := getattr(settings.tls, setting), str):
            env[f"TARGET_CLICKHOUSE_{setting.upper()}"] = path
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


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when this process dies, however it dies (Linux), so a killed
    `qtickets-pipeline run` takes its `meltano run` (which stops its plugins) with it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def command(settings: Settings, args: list[str]) -> list[str]:
    return [meltano_executable(), "--log-format", "json", "--environment", settings.environment, *args]


def run(settings: Settings, args: list[str], on_output: Callable[[dict | str], None],
        plugin_config: dict[str, str] | None = None, keep_fds: tuple[int, ...] = (),
        extractor: str = TAP) -> int:
    """Run `meltano … args` in this process group and hand its output to `on_output` as it comes (each
    JSON event as a dict, any other line as text); returns its exit code. The child dies with this process;
    `keep_fds` stay open in it (the overlap lock, held for as long as any process of the run lives)."""
    cmd = command(settings, args)
    log.debug("running: meltano %s", " ".join(cmd[4:]))
    with subprocess.Popen(cmd, cwd=settings.project_root, env=build_env(settings, plugin_config, extractor),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                          pass_fds=keep_fds, preexec_fn=_die_with_parent) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = parse_event(line)
            if event is not None:
                on_output(event)
            elif line.strip():
                on_output(line.rstrip())
        return proc.wait()


def _invoke(settings: Settings, args: list[str]) -> subprocess.CompletedProcess:
    """A short Meltano command (its logs are JSON on stderr); MeltanoError naming its last error."""
    done = subprocess.run(command(settings, args), cwd=settings.project_root, env=build_env(settings),
                          capture_output=True, text=True, timeout=600, preexec_fn=_die_with_parent)
    if done.returncode != 0:
        events = [e for e in map(parse_event, done.stderr.splitlines()) if e]
        errors = [str(e.get("event")) for e in events if str(e.get("level", "")).lower() in ERROR_LEVELS]
        detail = errors[-1] if errors else (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise MeltanoError(f"meltano {' '.join(args)} failed (exit {done.returncode}): {detail}")
    return done


def output_json(settings: Settings, args: list[str]) -> object:
    """A Meltano command whose stdout is JSON (`select --json`, `state get`, `config print`)."""
    done = _invoke(settings, args)
    try:
        return json.loads(done.stdout)
    except ValueError as exc:
        raise MeltanoError(f"meltano {' '.join(args)} printed no JSON: {done.stdout[:200]!r}") from exc


def install(settings: Settings) -> None:
    """`meltano install`: the plugins' venvs (an error names Meltano's own last error line)."""
    _invoke(settings, ["install"])


def dump_catalog(settings: Settings, plugin: str = TAP) -> dict:
    """The catalog Meltano would give extractor `plugin`: discovery with meltano.yml's selection applied."""
    answer = output_json(settings, ["invoke", "--dump=catalog", plugin])
    if not isinstance(answer, dict):
        raise MeltanoError("meltano invoke --dump=catalog printed no catalog")
    return answer


def run_args(extractor: str, *, full_refresh: bool, save_state: bool) -> list[str]:
    """`meltano run` of one extractor into the target (for tap-qtickets: what the job qtickets_load runs,
    with the same bookmark)."""
    args = ["run"]
    if full_refresh:
        args.append("--full-refresh")
    if not save_state:
        args.append("--no-state-update")
    return [*args, extractor, TARGET]


def state_id(settings: Settings, extractor: str = TAP) -> str:
    return f"{settings.environment}:{extractor}-to-{TARGET}"


def state_clear(settings: Settings, extractor: str = TAP) -> None:
    _invoke(settings, ["state", "clear", "--force", state_id(settings, extractor)])


def state_get(settings: Settings, extractor: str = TAP) -> dict:
    """An extractor's saved Singer state through `meltano state get` ({} when there is none)."""
    answer = output_json(settings, ["state", "get", state_id(settings, extractor)])
    return answer if isinstance(answer, dict) else {}
