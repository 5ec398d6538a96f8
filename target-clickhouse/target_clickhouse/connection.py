"""The one client factory: a clickhouse-connect client from one URL, `chdb:///dir` (embedded) or
`http(s)://[user:pass@]host:port` (with `https://`, the TLS settings of `tls.py`).

`ClickHouseConnector` opens its client here; `open_client(url, username=None, password=None,
database=None, tls=None)` is the same factory for code that wants a bare client (the pipeline, benchmarks).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from target_clickhouse import defaults
from target_clickhouse.ddl import on_cluster
from target_clickhouse.errors import ClickHouseConnectionError, ConfigError, DirectoryLockedError
from target_clickhouse.identifiers import quote_identifier
from target_clickhouse.redaction import redact, redact_url
from target_clickhouse.tls import TlsSettings

DEFAULT_EMBEDDED_DIR = Path("data") / "clickhouse"
LOCK_POLL_SECONDS = 0.5  # between two tries to open after a failed start with the directory free
# While the directory is held, its flock is probed this often (a cheap syscall, not an open): a process that
# holds it only now and then (the webhook receiver, between batches) is taken turns with at once.
LOCK_PROBE_SECONDS = 0.05
RETRIED_FAILED_STARTS = 3
logger = logging.getLogger("target-clickhouse.connection")
# clickhouse-connect logs "Unexpected Http Driver Exception" before raising what `_open_http` reports in
# one clear line: the log line only repeats it.
logging.getLogger("clickhouse_connect.driver._backend.http_sync").setLevel(logging.ERROR)
# urllib3 logs a warning when it retries a failed TLS handshake (which cannot succeed on a retry either).
logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)


def default_url() -> str:
    """The default `url`: an embedded directory `data/clickhouse` under the current working directory."""
    return "chdb://" + str(DEFAULT_EMBEDDED_DIR.resolve())


def chdb_path(url: str) -> str | None:
    """The absolute directory of a `chdb://` URL (relative paths resolve against the cwd), else None."""
    parts = urlsplit(url)
    if parts.scheme != "chdb":
        return None
    location = unquote(parts.netloc + parts.path)
    if not location or location in ("memory", ":memory:"):
        raise ConfigError(
            f"setting 'url': {url!r} names no directory; use chdb:///absolute/dir (an in-memory engine "
            "would lose every row when the process ends)"
        )
    return str(Path(location).expanduser().resolve())


def directory_is_locked(path: str) -> bool:
    """ClickHouse holds an exclusive flock on `<dir>/status` while a process has the directory open."""
    status = Path(path) / "status"
    if not status.exists():
        return False
    with open(status, "rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def holder_file(path: str) -> Path:
    """Beside an embedded directory: who opened it last (pid and command), to name it while it is busy."""
    return Path(path).with_name(Path(path).name + ".holder")


def directory_holder(path: str) -> str | None:
    """`pid N (command)` of the process that holds `path`, when it is ours and still alive; else None."""
    try:
        pid_text, _, command = holder_file(path).read_text(encoding="utf-8").partition(" ")
        pid = int(pid_text)
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return f"pid {pid} ({command.strip() or 'unknown command'})" if pid != os.getpid() else None


def _announce_holder(path: str) -> None:
    command = " ".join(Path(arg).name if i == 0 else arg for i, arg in enumerate(sys.argv[:2]))
    with contextlib.suppress(OSError):
        holder_file(path).write_text(f"{os.getpid()} {command}", encoding="utf-8")


def _open_chdb(path: str, wait_seconds: float) -> Client:
    # The directory is passed as `path`, not as a chdb:// DSN: clickhouse-connect's DSN form takes
    # `chdb://a/b` as location `a` plus database `b` and does not percent-decode, while this target
    # resolves relative paths, `~` and %-escapes itself (`chdb_path`).
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ClickHouseConnectionError(
            f"cannot create the embedded ClickHouse directory {path} (setting 'url'): {exc.strerror}"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ClickHouseConnectionError(
            f"the embedded ClickHouse directory {path} (setting 'url') is not writable by this user: "
            "embedded ClickHouse writes even to read; fix its permissions or point 'url' elsewhere")
    deadline = time.monotonic() + wait_seconds
    waited, failed_starts = False, 0
    while True:
        try:
            client = clickhouse_connect.get_client(interface="chdb", path=path)
        except Exception as exc:
            # The directory's flock says whether another process holds it (chdb's own error does not: it
            # reports Code 36 "Error initializing EmbeddedServer" either way). Two processes starting on one
            # directory at once can leave the loser a failed start with the lock free: tried a few times.
            locked = directory_is_locked(path)
            failed_starts += not locked
            if (locked or 0 < failed_starts <= RETRIED_FAILED_STARTS) and time.monotonic() < deadline:
                if locked and not waited:
                    holder = directory_holder(path) or "another process"
                    logger.warning("embedded ClickHouse directory %s is in use by %s; waiting up to %.0f s",
                                   path, holder, wait_seconds)
                    waited = True
                if locked:
                    while directory_is_locked(path) and time.monotonic() < deadline:
                        time.sleep(LOCK_PROBE_SECONDS)
                else:
                    time.sleep(LOCK_POLL_SECONDS)
                continue
            if locked:
                holder = directory_holder(path) or "another process"
                raise DirectoryLockedError(
                    f"embedded ClickHouse directory {path} is in use by {holder} (Code: 76, Cannot lock "
                    f"file status; waited {wait_seconds:.0f} s): only one process at a time may open a chdb "
                    "directory. Stop the other process (a running pipeline, target, notebook or query tool) "
                    "and retry, or point 'url' at a ClickHouse server."
                ) from exc
            raise ClickHouseConnectionError(f"cannot open embedded ClickHouse at {path}: {exc}") from exc
        _announce_holder(path)
        return client


def _open_http(url: str, username: str | None, password: str | None, tls: TlsSettings) -> Client:
    """A server client; clickhouse-connect parses the DSN (host, port, credentials, query options)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ConfigError(f"setting 'url': {redact_url(url)!r} has no host")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ConfigError(f"setting 'url': {redact_url(url)!r} has an invalid port") from exc
    url_password = unquote(parts.password or "")
    user = username or (unquote(parts.username) if parts.username else None) or "default"  # for messages
    # The `database` setting is the one source of the database: a path in the URL is ignored.
    dsn = urlunsplit((parts.scheme, parts.netloc, "", parts.query, ""))
    try:
        # Settings override URL credentials; "" counts as unset (Meltano passes unset values so).
        return clickhouse_connect.get_client(
            dsn=dsn, interface=parts.scheme, username=username or None, password=password or "",
            **tls.client_options(url, password or url_password),
        )
    except Exception as exc:
        text = str(exc)
        tls_problem = tls.explain(exc, parts.hostname)
        if tls_problem:
            message = tls_problem
        elif "Connection refused" in text:
            message = "nothing listens there (connection refused)"
        elif "Name or service not known" in text or "nodename nor servname" in text:
            message = f"host {parts.hostname!r} is not known (DNS)"
        else:
            message = redact(text.splitlines()[0] if text else type(exc).__name__, password, url_password)
        raise ClickHouseConnectionError(
            f"cannot connect to ClickHouse at {redact_url(url)} (setting 'url') as user '{user}': {message}"
        ) from None


# Query settings every client asks for when its server knows them: views read as their defining subqueries,
# so reading the pipeline's thin views costs what reading their tables costs (without it, ClickHouse
# analyses each view apart: ~2-3 ms per query, whatever the size of the result).
READ_SETTINGS = {"analyzer_inline_views": 1}


def prefer_read_settings(client: Client) -> None:
    for name, value in READ_SETTINGS.items():
        if name in client.server_settings:
            client.set_client_setting(name, value)


def use_database(client: Client, database: str, *, create: bool = True, cluster: str | None = None) -> None:
    """Make `database` the client's default, creating it first when missing (and `create`; on every
    server of `cluster` when given)."""
    if create:
        client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database, 'database')}"
                       f"{on_cluster(cluster)}")
    client.database = database


def open_client(
    url: str | None = None,
    username: str | None = None,
    password: str | None = None,
    database: str | None = None,
    lock_wait_seconds: float = defaults.DEFAULT_LOCK_WAIT_SECONDS,
    cluster: str | None = None,
    tls: TlsSettings | None = None,
) -> Client:
    """A clickhouse-connect client for `url` (default: the embedded `data/clickhouse` directory); `tls`
    (checked `TlsSettings`) applies to https:// URLs.

    With `database`, the database is created if missing (ON CLUSTER `cluster` when given) and made the
    client's default. An embedded
    directory held by another process is waited for, up to `lock_wait_seconds`, with a log line.
    Close the client (`client.close()`) before another process needs an embedded directory.
    """
    url = url or default_url()
    scheme = urlsplit(url).scheme
    if scheme == "chdb":
        client = _open_chdb(chdb_path(url) or "", lock_wait_seconds)
    elif scheme in ("http", "https"):
        client = _open_http(url, username, password, tls or TlsSettings())
    else:
        raise ConfigError(
            f"setting 'url': unsupported scheme in {redact_url(url)!r}; use chdb:///dir, http://host:8123 "
            "or https://host:8443"
        )
    prefer_read_settings(client)
    if database:
        try:
            use_database(client, database, cluster=cluster)
        except Exception:
            client.close()
            raise
    return client
