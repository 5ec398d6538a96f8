"""TLS to a ClickHouse server (`https://` URLs): the settings `ca_cert`, `verify`, `client_cert` and
`client_cert_key`, checked before any connection is tried; the options they give clickhouse-connect's
`get_client`; and a failed handshake told in one line naming the setting that fixes it.

Managed ClickHouse services (Yandex Cloud, VK Cloud, Selectel) sign their servers' certificates with the
provider's own root CA, which operating systems do not trust by default: `ca_cert` names that CA's PEM file.
"""

from __future__ import annotations

import logging
import ssl
import typing as t
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from urllib3.exceptions import InsecureRequestWarning

from target_clickhouse.errors import ConfigError
from target_clickhouse.redaction import redact_url

logger = logging.getLogger("target-clickhouse.connection")

# OpenSSL's verify codes (X509_V_ERR_*) of a certificate chain that ends in a CA nobody here trusts.
UNTRUSTED_ISSUER = {2, 18, 19, 20, 21, 27}
NOT_YET_VALID, EXPIRED = 9, 10
NAME_MISMATCH = {62, 64}  # the certificate names another host / another IP address
TLS_SETTINGS = ("ca_cert", "verify", "client_cert", "client_cert_key")


def parse_verify(value: object) -> bool:
    """`verify` as given: a boolean, or the text true/false (any case); unset or "" means true."""
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ConfigError(f"setting 'verify': must be true or false, got {value!r}")


def _readable_file(setting: str, value: str) -> Path:
    path = Path(value).expanduser()
    if not path.exists():
        raise ConfigError(f"setting '{setting}': {path} does not exist")
    if not path.is_file():
        raise ConfigError(f"setting '{setting}': {path} is not a file")
    try:
        path.open("rb").close()
    except OSError as exc:
        raise ConfigError(f"setting '{setting}': {path} cannot be read ({exc.strerror})") from None
    return path.resolve()


def _check_ca(value: str) -> str:
    path = _readable_file("ca_cert", value)
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(path))
    except ssl.SSLError:
        raise ConfigError(
            f"setting 'ca_cert': {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----); a DER file "
            f"(.cer, .der) converts with: openssl x509 -inform der -in {path.name} -out ca.pem") from None
    return str(path)


def _check_client_pair(cert: str, key: str | None) -> tuple[str, str | None]:
    cert_path = _readable_file("client_cert", cert)
    key_path = _readable_file("client_cert_key", key) if key else None
    try:  # an encrypted key would prompt for its pass phrase: answered empty, it fails here instead
        ssl.create_default_context().load_cert_chain(cert_path, key_path, password=lambda: "")
    except ssl.SSLError as exc:
        raise ConfigError(
            f"setting 'client_cert': cannot load the client certificate {cert_path}"
            f"{f' with the key {key_path} (setting ' + repr('client_cert_key') + ')' if key_path else ''} "
            f"({exc.reason or exc}): both must be PEM, the key unencrypted and matching the certificate"
        ) from None
    return str(cert_path), str(key_path) if key_path else None


@dataclass(frozen=True)
class TlsSettings:
    """Checked TLS settings (absolute paths); the defaults trust this machine's CA store."""

    ca_cert: str | None = None
    verify: bool = True
    client_cert: str | None = None
    client_cert_key: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any], url: str) -> TlsSettings:
        """The TLS settings of a target configuration for `url`, each file checked (exists, is PEM, the
        client key matches its certificate). Embedded ClickHouse ignores them; an http:// URL refuses them
        (the connection would not be encrypted)."""
        given = {name: config.get(name) for name in TLS_SETTINGS}
        verify = parse_verify(given["verify"])
        scheme = urlsplit(url).scheme
        if scheme == "chdb":
            return cls()
        used = [name for name in ("ca_cert", "client_cert", "client_cert_key") if given[name]]
        used += [] if verify else ["verify"]
        if scheme != "https" and used:
            raise ConfigError(
                f"setting '{used[0]}' applies to https:// only, but setting 'url' is {redact_url(url)}: use "
                "https:// and the server's TLS port (8443)")
        if given["client_cert_key"] and not given["client_cert"]:
            raise ConfigError("setting 'client_cert_key' needs setting 'client_cert' (the key's certificate)")
        ca = _check_ca(str(given["ca_cert"])) if given["ca_cert"] else None
        cert, key = (_check_client_pair(str(given["client_cert"]), given["client_cert_key"] or None)
                     if given["client_cert"] else (None, None))
        return cls(ca_cert=ca, verify=verify, client_cert=cert, client_cert_key=key)

    def client_options(self, url: str, password: str | None) -> dict[str, t.Any]:
        """`get_client` keyword arguments for an https:// `url` (none for http://)."""
        if urlsplit(url).scheme != "https":
            return {}
        if not self.verify:
            # One warning here instead of urllib3's on every request (a line outside the log's format).
            warnings.filterwarnings("ignore", category=InsecureRequestWarning)
            logger.warning(
                "setting 'verify' is false: the certificate of %s is NOT checked, so anyone on the network "
                "path can pose as the server and read the password and the data; set 'ca_cert' instead",
                redact_url(url))
        options: dict[str, t.Any] = {"verify": self.verify}
        if self.ca_cert:
            options["ca_cert"] = self.ca_cert
        if self.client_cert:
            options["client_cert"] = self.client_cert
            if self.client_cert_key:
                options["client_cert_key"] = self.client_cert_key
            # Without a password, clickhouse-connect logs in by the certificate (ClickHouse's SSL certificate
            # authentication of `username`); with one, the certificate is only shown to the TLS layer (a
            # service that requires client certificates) and the password logs in.
            if password:
                options["tls_mode"] = "strict"
        return options

    def explain(self, exc: BaseException, host: str) -> str | None:
        """Why the TLS handshake failed, naming the setting that fixes it; None when `exc` is no TLS error."""
        error = _ssl_error(exc)
        if error is None:
            return None
        if isinstance(error, ssl.SSLCertVerificationError):
            code = error.verify_code
            if code in UNTRUSTED_ISSUER:
                if self.ca_cert:
                    return (f"its certificate is not signed by the CA in setting 'ca_cert' ({self.ca_cert}): "
                            "that is not the CA of this server; get the provider's CA certificate again")
                return ("its certificate is not signed by a CA this machine trusts: set 'ca_cert' to the "
                        "provider's CA certificate (a PEM file)")
            if code in NAME_MISMATCH:
                return (f"its certificate is not issued for {host!r}: put the host name the provider gives "
                        "in setting 'url' (not an IP address or an alias)")
            if code == EXPIRED:
                return ("its certificate has expired: check this machine's clock; if it is right, the "
                        "server's certificate must be renewed by its provider")
            if code == NOT_YET_VALID:
                return "its certificate is not valid yet: check this machine's clock"
            return f"its certificate was refused ({error.verify_message})"
        reason = str(getattr(error, "reason", "") or "")
        if reason == "WRONG_VERSION_NUMBER":
            return "it does not speak TLS on this port: use its HTTPS port (8443) or http:// in setting 'url'"
        if "CERTIFICATE_REQUIRED" in reason or (not self.client_cert and "HANDSHAKE_FAILURE" in reason):
            return ("it asks for a client certificate: set 'client_cert' and 'client_cert_key' to the "
                    "certificate and key the provider issued")
        if self.client_cert and ("BAD_CERTIFICATE" in reason or "UNKNOWN_CA" in reason):
            return f"it refused the client certificate in setting 'client_cert' ({self.client_cert})"
        if isinstance(error, ssl.SSLEOFError):  # what a server that wants a client certificate may do instead
            if self.client_cert:
                return ("it closed the connection during the TLS handshake: it may refuse the client "
                        f"certificate in setting 'client_cert' ({self.client_cert})")
            return ("it closed the connection during the TLS handshake: if it requires a client "
                    "certificate, set 'client_cert' and 'client_cert_key'")
        return f"the TLS handshake failed ({reason or error})"


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The ssl.SSLError somewhere in `exc`'s causes (clickhouse-connect wraps urllib3's wrapping of it)."""
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or any(current is s for s in seen):
            continue
        if isinstance(current, ssl.SSLError):
            return current
        seen.append(current)
        reason = getattr(current, "reason", None)  # urllib3's MaxRetryError: the error of the last try
        todo += [current.__cause__, current.__context__, *current.args, reason]
    return None
