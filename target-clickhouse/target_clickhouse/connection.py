"""Open a clickhouse-connect client from one URL: `chdb:///dir` (embedded) or `http(s)://[user:pass@]host:port`.

Also used by the pipeline: `open_client(url, username=None, password=None, database=None)`.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from target_clickhouse.errors import ClickHouseConnectionError, ConfigError, DirectoryLockedError
from target_clickhouse.identifiers import quote_identifier

DEFAULT_EMBEDDED_DIR = Path("data") / "clickhouse"
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def default_url() -> str:
    """The default `url`: an embedded directory `data/clickhouse` under the current working directory."""
    return "chdb://" + str(DEFAULT_EMBEDDED_DIR.resolve())


def redact_url(url: str) -> str:
    """Drop `user:pass@` from a URL so it can be logged or shown in an error."""
    return _USERINFO.sub("***@", url)


def _scrub(text: str, *secrets: str | None) -> str:
    text = redact_url(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


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


def _directory_is_locked(path: str) -> bool:
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


def _open_chdb(path: str) -> Client:
    os.makedirs(path, exist_ok=True)
    try:
        return clickhouse_connect.get_client(interface="chdb", path=path)
    except Exception as exc:
        if _directory_is_locked(path):
            raise DirectoryLockedError(
                f"embedded ClickHouse directory {path} is in use by another process (Code: 76, Cannot lock "
                "file status): only one process at a time may open a chdb directory. Stop the other process "
                "(a running pipeline, target, notebook or query tool) and retry, or point 'url' at a "
                "ClickHouse server."
            ) from exc
        raise ClickHouseConnectionError(f"cannot open embedded ClickHouse at {path}: {exc}") from exc


def _open_http(url: str, username: str | None, password: str | None) -> Client:
    parts = urlsplit(url)
    if not parts.hostname:
        raise ConfigError(f"setting 'url': {redact_url(url)!r} has no host")
    secure = parts.scheme == "https"
    user = username or (unquote(parts.username) if parts.username else None) or "default"
    secret = password or (unquote(parts.password) if parts.password else "")  # "" = unset (Meltano env)
    try:
        port = parts.port or (8443 if secure else 8123)
    except ValueError as exc:
        raise ConfigError(f"setting 'url': {redact_url(url)!r} has an invalid port") from exc
    try:
        return clickhouse_connect.get_client(
            host=parts.hostname,
            port=port,
            username=user,
            password=secret,
            secure=secure,
            interface=parts.scheme,
        )
    except Exception as exc:
        message = _scrub(str(exc), secret, unquote(parts.password or ""))
        raise ClickHouseConnectionError(
            f"cannot connect to ClickHouse at {redact_url(url)} as user '{user}': {message}"
        ) from None


def use_database(client: Client, database: str, *, create: bool = True) -> None:
    """Make `database` the client's default, creating it first when missing (and `create`)."""
    if create:
        client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database, 'database')}")
    client.database = database


def open_client(
    url: str | None = None,
    username: str | None = None,
    password: str | None = None,
    database: str | None = None,
) -> Client:
    """A clickhouse-connect client for `url` (default: the embedded `data/clickhouse` directory).

    With `database`, the database is created if missing and made the client's default.
    Close the client (`client.close()`) before another process needs an embedded directory.
    """
    url = url or default_url()
    scheme = urlsplit(url).scheme
    if scheme == "chdb":
        client = _open_chdb(chdb_path(url) or "")
    elif scheme in ("http", "https"):
        client = _open_http(url, username, password)
    else:
        raise ConfigError(
            f"setting 'url': unsupported scheme in {redact_url(url)!r}; use chdb:///dir, http://host:8123 "
            "or https://host:8443"
        )
    if database:
        try:
            use_database(client, database)
        except Exception:
            client.close()
            raise
    return client
