"""Pipeline settings: the shell environment, the project's .env and an optional --env file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from dotenv.parser import parse_stream
from target_clickhouse import (
    DEFAULT_DATABASE,
    DEFAULT_LOCK_WAIT_SECONDS,
    ConfigError,
    TlsSettings,
    check_cluster,
    check_engine_flavour,
    redact_url,
)

DEFAULT_DAYS_BACK = 30
DEFAULT_REPORT_TZ = "Europe/Moscow"
JOB_NAME = "qtickets_load"  # the Meltano job: tap-qtickets → target-clickhouse
LEDGER_JOB = "tap-qtickets"  # the job_name of its loads in meta_job_runs (the tap's name, as it reports it)
WEBHOOK_JOB = "qtickets-webhooks"  # the job_name of the webhook receiver's batches in meta_job_runs


# What a user sets → the plugin setting meltano.yml feeds it to (`config: <setting>: $VARIABLE`; a test
# keeps the two in step). Plugin errors name the setting; the user sees the variable they set.
USER_VARIABLES = {
    "QTICKETS_TOKEN": ("tap-qtickets", "api_token"),
    "QTICKETS_BASE_URL": ("tap-qtickets", "base_url"),
    "QTICKETS_ACCOUNT": ("tap-qtickets", "account"),
    "CLICKHOUSE_URL": ("target-clickhouse", "url"),
    "CLICKHOUSE_USER": ("target-clickhouse", "username"),
    "CLICKHOUSE_PASSWORD": ("target-clickhouse", "password"),
    "CLICKHOUSE_DATABASE": ("target-clickhouse", "database"),
    "CLICKHOUSE_CLUSTER": ("target-clickhouse", "cluster"),
    "CLICKHOUSE_ENGINE_FLAVOUR": ("target-clickhouse", "engine_flavour"),
    "CLICKHOUSE_CA_CERT": ("target-clickhouse", "ca_cert"),
    "CLICKHOUSE_VERIFY": ("target-clickhouse", "verify"),
    "CLICKHOUSE_CLIENT_CERT": ("target-clickhouse", "client_cert"),
    "CLICKHOUSE_CLIENT_KEY": ("target-clickhouse", "client_cert_key"),
}
# TLS to a server (target_clickhouse/tls.py): every one but CLICKHOUSE_VERIFY names a file.
TLS_VARIABLES = ("CLICKHOUSE_CA_CERT", "CLICKHOUSE_VERIFY", "CLICKHOUSE_CLIENT_CERT", "CLICKHOUSE_CLIENT_KEY")


def name_user_settings(text: str, env: dict[str, str] | None = None) -> str:
    """A plugin's message with each setting it names shown as the variable the user sets. With `env`, a
    tap setting is renamed only when its variable is set there: the demo environment in meltano.yml gives
    the tap a token and URL of its own. Every target setting comes from its variable alone (or from the
    pipeline), so it is always named by it, also in a hint to set one."""
    for variable, (plugin, setting) in USER_VARIABLES.items():
        if env is not None and plugin == "tap-qtickets" and not env.get(variable):
            continue
        forms = (f"config['{setting}']", f"the {setting} setting", f"(setting '{setting}')",
                 f"setting '{setting}'", f"'{setting}'")
        for form in forms:
            shown = f"({variable})" if form.startswith("(") else f"{variable} (setting {setting})"
            text = text.replace(form, shown)
    return text


@dataclass(frozen=True)
class DemoSandbox:
    """The demo's organiser. Host, port and token are the demo environment's in meltano.yml (a test keeps
    them equal)."""

    host: str = "127.0.0.1"
    port: int = 8765
    token: str = "sandbox-token"
    seed: int = 1
    orders: int = 3000
    events: int = 12

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/api/rest/v1"


DEMO = DemoSandbox()  # the demo environment's sandbox

class SettingsError(ValueError):
    """A setting has a bad value; the message names the setting and the value (never a secret)."""


def find_project_root(start: Path | None = None) -> Path:
    """The Meltano project: $MELTANO_PROJECT_ROOT, else the nearest folder holding meltano.yml."""
    if os.environ.get("MELTANO_PROJECT_ROOT"):
        return Path(os.environ["MELTANO_PROJECT_ROOT"]).resolve()
    for folder in [(start or Path.cwd()).resolve(), *(start or Path.cwd()).resolve().parents]:
        if (folder / "meltano.yml").is_file():
            return folder
    # Installed editable from the repository: orchestrate/qtickets_pipeline/settings.py → repo root.
    repo = Path(__file__).resolve().parents[2]
    if (repo / "meltano.yml").is_file():
        return repo
    raise SettingsError("no meltano.yml found: run from the project folder or set MELTANO_PROJECT_ROOT")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an .env file; a line that is neither that, blank nor a comment is an error naming
    the file and the line (python-dotenv would drop it silently)."""
    with open(path, encoding="utf-8") as handle:
        for binding in parse_stream(handle):
            if binding.error:
                line = binding.original.string.strip()
                shown = line.split("=", 1)[0] + "=…" if "=" in line else line[:40]
                raise SettingsError(f"{path} line {binding.original.line} is not KEY=VALUE: {shown!r}")
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_env(project_root: Path, env_file: str | os.PathLike | None = None) -> dict[str, str]:
    """Merged variables: project .env < shell < --env FILE (an explicit file wins over everything)."""
    merged: dict[str, str] = {}
    dot_env = project_root / ".env"
    if dot_env.is_file():
        merged.update(read_env_file(dot_env))
    merged.update(os.environ)
    if env_file is not None:
        path = Path(env_file)
        if not path.is_file():
            raise SettingsError(f"--env: file not found: {path}")
        merged.update(read_env_file(path))
    return merged


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _int(env: dict[str, str], name: str, default: int, unit: str = "days", minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number of {unit}, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    project_root: Path
    environment: str
    env: dict[str, str] = field(repr=False)
    clickhouse_url: str
    clickhouse_user: str | None
    clickhouse_password: str | None = field(repr=False)
    database: str
    days_back: int
    lock_wait_seconds: int  # how long an embedded-ClickHouse open waits for another process to let go
    report_tz: str
    engine_flavour: str = "plain"  # plain | replicated | cloud: the engines the target and transforms create
    cluster: str | None = None  # every DDL statement runs ON CLUSTER it (docs/scaling.md)
    tls: TlsSettings = field(default_factory=TlsSettings)  # https:// only: CA, verify, client certificate

    @property
    def transform_dir(self) -> Path:
        return self.project_root / "transform"

    @property
    def meltano_dir(self) -> Path:
        """Meltano's system directory: the plugins' venvs, `run/` (MELTANO_SYS_DIR_ROOT moves it)."""
        return Path(self.env.get("MELTANO_SYS_DIR_ROOT") or self.project_root / ".meltano")

    @property
    def state_dir(self) -> Path:
        """Where the overlap lock and the cached catalog live."""
        return self.meltano_dir / "run" / "qtickets-pipeline"

    @property
    def is_embedded(self) -> bool:
        return self.clickhouse_url.startswith("chdb:")

    @property
    def warehouse(self) -> str:
        """Which warehouse run rows belong to: the ClickHouse URL (without credentials) and database."""
        return f"{redact_url(self.clickhouse_url)}#{self.database}"

    @property
    def secrets(self) -> list[str]:
        """Values that must never be shown or stored (token, ClickHouse password)."""
        return [s for s in (self.env.get("QTICKETS_TOKEN"), self.clickhouse_password) if s]


def load_settings(
    env_file: str | os.PathLike | None = None,
    environment: str | None = None,
    project_root: Path | None = None,
    overrides: dict[str, str] | None = None,
) -> Settings:
    """The settings from `.env`, the shell and `env_file`; `overrides` win over all of them."""
    root = project_root or find_project_root()
    env = {**load_env(root, env_file), **(overrides or {})}
    meltano_env = environment or env.get("MELTANO_ENVIRONMENT") or "demo"
    if meltano_env not in ("demo", "prod"):
        raise SettingsError(f"MELTANO_ENVIRONMENT must be demo or prod, got {meltano_env!r}")
    url = env.get("CLICKHOUSE_URL", "").strip()
    if not url:
        if meltano_env == "prod":
            raise SettingsError("CLICKHOUSE_URL is required in the prod environment (http(s)://host:port)")
        url = f"chdb://{root / 'data' / 'clickhouse'}"
    if not url.startswith(("chdb:", "http://", "https://")):
        raise SettingsError(
            f"CLICKHOUSE_URL must start with chdb://, http:// or https://, got {url.split('@')[-1]!r}"
        )
    if url.startswith("chdb:") and not url.startswith("chdb:///"):
        raise SettingsError(f"CLICKHOUSE_URL {url!r} must name an absolute directory: chdb:///abs/path "
                            "(three slashes), so that every process means the same one")
    database = env.get("CLICKHOUSE_DATABASE", "").strip() or DEFAULT_DATABASE
    if not database.replace("_", "").isalnum():
        raise SettingsError(f"CLICKHOUSE_DATABASE must be a plain identifier, got {database!r}")
    report_tz = env.get("REPORT_TZ", "").strip() or DEFAULT_REPORT_TZ
    if not all(c.isalnum() or c in "/_+-" for c in report_tz) or not _known_zone(report_tz):
        raise SettingsError(f"REPORT_TZ must be a time zone name like Europe/Moscow, got {report_tz!r}")
    try:
        flavour = check_engine_flavour(env.get("CLICKHOUSE_ENGINE_FLAVOUR", "").strip())
        cluster = check_cluster(env.get("CLICKHOUSE_CLUSTER", "").strip(), flavour)
        tls = TlsSettings.from_config(_tls_config(env, root), url)
    except ConfigError as exc:
        raise SettingsError(name_user_settings(str(exc))) from None
    return Settings(
        project_root=root,
        environment=meltano_env,
        env=env,
        clickhouse_url=url,
        clickhouse_user=env.get("CLICKHOUSE_USER") or None,
        clickhouse_password=env.get("CLICKHOUSE_PASSWORD") or None,
        database=database,
        days_back=_int(env, "QTICKETS_DAYS_BACK", DEFAULT_DAYS_BACK),
        lock_wait_seconds=_int(env, "CLICKHOUSE_LOCK_WAIT_SECONDS", DEFAULT_LOCK_WAIT_SECONDS, "seconds", 0),
        report_tz=report_tz,
        engine_flavour=flavour,
        cluster=cluster,
        tls=tls,
    )


def _tls_config(env: dict[str, str], root: Path) -> dict[str, str]:
    """The target's TLS settings from their variables; relative file paths resolve against the project, so
    that every process (this one, Meltano's plugins) means the same file."""
    config = {}
    for variable in TLS_VARIABLES:
        value = env.get(variable, "").strip()
        if value and variable != "CLICKHOUSE_VERIFY":
            value = str(root / Path(value).expanduser())
        config[USER_VARIABLES[variable][1]] = value
    return config
