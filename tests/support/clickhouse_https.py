"""TLS test material: a throw-away PKI made with the `openssl` CLI, and a stand-in for a ClickHouse server's
HTTPS interface (no ClickHouse server can be installed here, and embedded chdb has no TLS listener).

The stand-in answers what clickhouse-connect asks when it connects (`SELECT version(), timezone()`, the
server's settings) and what the target and `qtickets-pipeline doctor` ask next: `CREATE DATABASE IF NOT
EXISTS`, `SELECT 1`, `SELECT version()`, `SELECT currentUser()`, `CHECK GRANT`. Anything else is answered
with a ClickHouse-style error, so a test never passes on an answer the stand-in made up.
"""

from __future__ import annotations

import base64
import re
import ssl
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

VERSION = "26.1.2.3"
EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@dataclass(frozen=True)
class Pki:
    """PEM files: a CA, a server certificate it signed (with key), a client certificate it signed."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_ca(directory: Path, name: str = "Test Managed ClickHouse Root CA") -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", *EC_KEY, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj",
             f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    return directory / "ca.pem", directory / "ca.key"


def issue(directory: Path, ca: Path, ca_key: Path, name: str, *, san: str = "", client: bool = False,
          dates: tuple[str, str] | None = None) -> tuple[Path, Path]:
    """A certificate for `name` signed by `ca` (a server's with `san`, e.g. `IP:127.0.0.1`, or a client's);
    `dates` (YYYYMMDDHHMMSSZ start and end) makes one outside its validity, through `openssl ca`."""
    _openssl("req", *EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
             cwd=directory)
    usage = "clientAuth" if client else "serverAuth"
    ext = f"basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage={usage}\n"
    (directory / f"{name}.ext").write_text(ext + (f"subjectAltName={san}\n" if san else ""))
    if dates is None:
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca), "-CAkey", str(ca_key),
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
                 cwd=directory)
    else:  # `openssl x509` (3.0) cannot back-date a certificate; `openssl ca` can
        (directory / "index.txt").write_text("")
        (directory / "ca.cnf").write_text(
            "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n"
            "default_md = sha256\npolicy = any\nunique_subject = no\n[any]\ncommonName = supplied\n")
        (directory / "serial").write_text("1000\n")
        _openssl("ca", "-batch", "-config", "ca.cnf", "-cert", str(ca), "-keyfile", str(ca_key), "-in",
                 f"{name}.csr", "-out", f"{name}.pem", "-startdate", dates[0], "-enddate", dates[1],
                 "-extfile", f"{name}.ext", "-notext", cwd=directory)
    return directory / f"{name}.pem", directory / f"{name}.key"


def make_pki(directory: Path, san: str = "IP:127.0.0.1") -> Pki:
    ca, ca_key = make_ca(directory)
    server_cert, server_key = issue(directory, ca, ca_key, "server", san=san)
    client_cert, client_key = issue(directory, ca, ca_key, "client", client=True)
    return Pki(ca, server_cert, server_key, client_cert, client_key)


# --- the Native format, just enough for the answers below ------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return _varint(len(data)) + data


def native_block(columns: list[tuple[str, str, list]]) -> bytes:
    """One Native block (no block info: protocol version 0) of String / UInt8 columns."""
    rows = len(columns[0][2]) if columns else 0
    out = _varint(len(columns)) + _varint(rows)
    for name, kind, values in columns:
        out += _string(name) + _string(kind)
        out += b"".join(_string(v) for v in values) if kind == "String" else bytes(values)
    return out


# --- the server ---------------------------------------------------------------------------------------------

SETTINGS_QUERY = "SELECT name, value, readonly FROM system.settings"


class ClickHouseHttpsStandIn:
    """HTTPS on 127.0.0.1:<free port> with `cert`/`key`; with `client_ca`, a client certificate signed by it
    is required. `users` records who logged in (Basic auth or certificate-auth header), per request."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None = None) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        if client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(client_ca)
        self.users: list[str] = []
        self.queries: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._answer()

            do_POST = do_GET

            def _answer(self) -> None:
                params = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                query = params.get("query") or body
                owner.users.append(self._user())
                owner.queries.append(query)
                status, data = owner.answer(query.strip(), owner.users[-1])
                self.send_response(status)
                if status != 200:
                    self.send_header("X-ClickHouse-Exception-Code", "1000")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _user(self) -> str:
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    return base64.b64decode(auth[6:]).decode().split(":", 1)[0]
                return f"{self.headers.get('X-ClickHouse-User', 'default')} (certificate)"

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    @staticmethod
    def answer(query: str, user: str) -> tuple[int, bytes]:
        native = query.endswith("FORMAT Native")
        sql = re.sub(r"\s*FORMAT Native$", "", query)
        if sql == "SELECT version(), timezone()":
            return 200, f"{VERSION}\tUTC\n".encode()
        if sql.startswith(SETTINGS_QUERY) and native:
            return 200, native_block([("name", "String", []), ("value", "String", []),
                                      ("readonly", "UInt8", [])])
        if sql.startswith("CREATE DATABASE IF NOT EXISTS "):
            return 200, b""
        if sql == "SELECT 1":
            return 200, native_block([("1", "UInt8", [1])]) if native else b"1\n"
        if sql == "SELECT version()":
            return 200, f"{VERSION}\n".encode()
        if sql == "SELECT currentUser()":
            return 200, f"{user.split(' ')[0]}\n".encode()
        if sql.startswith("CHECK GRANT "):
            return 200, b"1\n"
        return 500, f"Code: 1000. DB::Exception: the HTTPS stand-in does not answer {sql[:60]!r}".encode()

    def start(self) -> ClickHouseHttpsStandIn:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="clickhouse-https-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> ClickHouseHttpsStandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
