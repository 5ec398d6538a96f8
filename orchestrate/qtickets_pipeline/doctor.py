"""`qtickets-pipeline doctor`: everything a first run needs, checked before it (one line per check).

Settings; the plugins installed; the QTickets API and the token (one GET, with the configuration Meltano
will pass: `meltano config print`); ClickHouse reachable and its version; every privilege the pipeline
needs on its database (`CHECK GRANT`); and, for embedded ClickHouse, whether another process holds the
directory.
"""

from __future__ import annotations

import os
import typing as t
from dataclasses import dataclass, replace
from pathlib import Path

import requests
from target_clickhouse import chdb_path, directory_holder, directory_is_locked, redact

from . import meltano_cli
from .settings import Settings, name_user_settings
from .warehouse import REQUIRED_PRIVILEGES, connect, grant_sql

API_TIMEOUT_SECONDS = 20


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    warn: bool = False  # passed, but the pipeline works around what it found (shown WARN; exit 0)


def _plugins(settings: Settings) -> Check:
    root = settings.meltano_dir
    wanted = {
        meltano_cli.TAP: root / "extractors",
        meltano_cli.TARGET: root / "loaders",
    }
    missing = [name for name, kind in wanted.items() if not (kind / name / "venv").is_dir()]
    if missing:
        return Check(
            "plugins", False, f"not installed: {', '.join(missing)}: run `qtickets-pipeline install`"
        )
    return Check("plugins", True, "tap-qtickets and target-clickhouse installed")


def _api(settings: Settings) -> Check:
    try:
        config = meltano_cli.output_json(settings, ["config", "--unsafe", "print", meltano_cli.TAP])
    except meltano_cli.MeltanoError as exc:
        return Check("api", False, f"cannot read tap-qtickets' configuration: {exc}")
    config = config if isinstance(config, dict) else {}
    base_url = str(config.get("base_url") or "https://qtickets.ru/api/rest/v1").rstrip("/")
    token = str(config.get("api_token") or "")
    if not token:
        return Check(
            "api",
            False,
            name_user_settings("the api_token setting is not set (QTICKETS_TOKEN)", settings.env),
        )
    try:
        answer = requests.get(
            f"{base_url}/events",
            json={"page": 1, "per_page": 1},
            timeout=API_TIMEOUT_SECONDS,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
    except requests.RequestException as exc:
        reason = type(exc).__name__
        hint = (
            " (start the demo's sandbox: qtickets-pipeline sandbox)" if settings.environment == "demo" else ""
        )
        return Check("api", False, f"{base_url} cannot be reached ({reason}){hint}")
    if answer.status_code == requests.codes.forbidden:
        return Check(
            "api",
            False,
            name_user_settings(
                f"{base_url} answered 403: the api_token setting is wrong or revoked", settings.env
            ),
        )
    if "html" in answer.headers.get("Content-Type", "") or answer.status_code != requests.codes.ok:
        return Check(
            "api",
            False,
            name_user_settings(
                f"{base_url}/events answered HTTP {answer.status_code}: check the base_url setting",
                settings.env,
            ),
        )
    total = (answer.json().get("paging") or {}).get("total")
    return Check("api", True, f"{base_url}: token accepted, {total} events")


def _lock(settings: Settings) -> Check | None:
    if not settings.is_embedded:
        return None
    path = chdb_path(settings.clickhouse_url) or ""
    if Path(path).is_dir() and directory_is_locked(path):
        return Check(
            "embedded lock", False, f"{path} is held by {directory_holder(path) or 'another process'}"
        )
    return Check("embedded lock", True, f"{path} is free")


def _clickhouse(settings: Settings) -> list[Check]:
    try:
        with connect(replace(settings, lock_wait_seconds=0)) as client:
            version = client.command("SELECT version()")
            user = client.command("SELECT currentUser()")
            missing = missing_privileges(client, settings.database)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        message = name_user_settings(redact(first, *settings.secrets), settings.env)
        return [Check("clickhouse", False, f"{redact(settings.clickhouse_url)}: {message}")]
    reached = f"{redact(settings.clickhouse_url)}: ClickHouse {version}, user {user}{_tls_note(settings)}"
    checks = [Check("clickhouse", True, reached)]
    if missing:
        checks.append(
            Check(
                "privileges",
                False,
                f"user {user} lacks {', '.join(missing)} on {settings.database}: "
                f"{grant_sql(settings.database, str(user))}",
            )
        )
    else:
        checks.append(Check("privileges", True, f"all {len(REQUIRED_PRIVILEGES)} on {settings.database}.*"))
    return checks


def _tls_note(settings: Settings) -> str:
    if not settings.clickhouse_url.startswith("https:"):
        return ""
    if not settings.tls.verify:
        return "; certificate NOT checked (CLICKHOUSE_VERIFY=false: unsafe, set CLICKHOUSE_CA_CERT instead)"
    return f"; certificate checked against {settings.tls.ca_cert or 'the system CAs'}"


def missing_privileges(client, database: str) -> list[str]:
    """The privileges of REQUIRED_PRIVILEGES the connected user lacks on `database` (CHECK GRANT)."""
    return [
        p
        for p in REQUIRED_PRIVILEGES
        if str(client.command(f"CHECK GRANT {p} ON {database}.*")).strip() != "1"
    ]


def run_checks(settings: Settings) -> list[Check]:
    checks = [
        Check("settings", True, f"environment {settings.environment}, warehouse {settings.warehouse}"),
        _plugins(settings),
        _api(settings),
    ]
    missing = _missing_directory(settings)
    if missing is not None:  # looked at, not created: doctor changes nothing
        return [*checks, missing]
    lock = _lock(settings)
    if lock is not None:
        checks.append(lock)
    if lock is None or lock.ok:
        checks += _clickhouse(settings)
    return checks


def _missing_directory(settings: Settings) -> Check | None:
    """An embedded directory that does not exist yet: fine if the first run can create it."""
    if not settings.is_embedded:
        return None
    path = Path(chdb_path(settings.clickhouse_url) or "")
    if path.is_dir():
        return None
    parent = next((p for p in path.parents if p.exists()), Path("/"))
    if os.access(parent, os.W_OK):
        return Check("clickhouse", True, f"{path} does not exist yet: the first run creates it")
    return Check("clickhouse", False, f"{path} does not exist and {parent} is not writable by this user "
                                      "(CLICKHOUSE_URL)")


def render(checks: t.Iterable[Check]) -> str:
    return "\n".join(f"{'FAIL' if not c.ok else 'WARN' if c.warn else 'OK  '}  {c.name:<13} {c.detail}"
                     for c in checks)
