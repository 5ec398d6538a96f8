"""TLS to a managed ClickHouse (`https://`, the provider's own root CA): the settings `ca_cert`, `verify`,
`client_cert`, `client_cert_key` checked before connecting, and every handshake failure told in one line
naming the setting to fix.

A real ClickHouse server cannot be installed here, so the server is a stand-in for its HTTPS interface
(tests/support/clickhouse_https.py) with certificates made by the `openssl` CLI for 127.0.0.1."""

from __future__ import annotations

import logging

import pytest
from clickhouse_https import ClickHouseHttpsStandIn, issue, make_ca, make_pki
from target_clickhouse.connector import ClickHouseConnector
from target_clickhouse.errors import ClickHouseConnectionError, ConfigError

PASSWORD = "tls-test-secret"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server(pki):
    with ClickHouseHttpsStandIn(pki.server_cert, pki.server_key) as standin:
        yield standin


def connector(url: str, **settings) -> ClickHouseConnector:
    return ClickHouseConnector({"url": url, "username": "loader", "password": PASSWORD, **settings})


def connect_error(url: str, **settings) -> str:
    with pytest.raises(ClickHouseConnectionError) as err:
        connector(url, **settings).open_client()
    message = str(err.value)
    assert "\n" not in message and PASSWORD not in message
    return message


@pytest.mark.integration
def test_without_the_providers_ca_the_handshake_fails_naming_ca_cert(server):
    message = connect_error(server.url)
    assert message == (f"cannot connect to ClickHouse at {server.url} (setting 'url') as user 'loader': "
                       "its certificate is not signed by a CA this machine trusts: set 'ca_cert' to the "
                       "provider's CA certificate (a PEM file)")


@pytest.mark.integration
def test_with_ca_cert_it_connects_and_queries(server, pki):
    with connector(server.url, ca_cert=str(pki.ca), database="zakaz") as warehouse:
        assert warehouse.client.command("SELECT 1") == 1
        assert warehouse.client.query("SELECT 1").result_rows == [(1,)]
    assert "CREATE DATABASE IF NOT EXISTS `zakaz`" in server.queries
    assert server.users[-1] == "loader"


@pytest.mark.integration
def test_verify_false_connects_without_the_ca_and_says_it_is_unsafe(server, caplog):
    with caplog.at_level(logging.WARNING, logger="target-clickhouse.connection"), \
            connector(server.url, verify="false") as warehouse:
        assert warehouse.client.command("SELECT 1") == 1
    assert any("'verify' is false" in r.message and "NOT checked" in r.message for r in caplog.records)


@pytest.mark.integration
@pytest.mark.parametrize("case", ["another CA", "another host", "expired"])
def test_each_certificate_problem_names_what_to_fix(pki, tmp_path, case):
    ca_key = pki.ca.with_suffix(".key")
    if case == "another CA":
        trusted, _ = make_ca(tmp_path / "other")
        cert, key = pki.server_cert, pki.server_key
        expected = f"is not signed by the CA in setting 'ca_cert' ({trusted})"
    elif case == "another host":
        trusted = pki.ca
        cert, key = issue(tmp_path, pki.ca, ca_key, "elsewhere", san="DNS:clickhouse.example")
        expected = "its certificate is not issued for '127.0.0.1': put the host name the provider gives in " \
                   "setting 'url'"
    else:
        trusted = pki.ca
        cert, key = issue(tmp_path, pki.ca, ca_key, "expired", san="IP:127.0.0.1",
                          dates=("20200101000000Z", "20200201000000Z"))
        expected = "its certificate has expired: check this machine's clock"
    with ClickHouseHttpsStandIn(cert, key) as standin:
        assert expected in connect_error(standin.url, ca_cert=str(trusted))


@pytest.mark.integration
def test_mutual_tls_client_certificate_is_asked_for_then_presented(pki):
    with ClickHouseHttpsStandIn(pki.server_cert, pki.server_key, client_ca=pki.ca) as standin:
        message = connect_error(standin.url, ca_cert=str(pki.ca))
        assert "set 'client_cert' and 'client_cert_key'" in message
        pair = {"client_cert": str(pki.client_cert), "client_cert_key": str(pki.client_key)}
        with connector(standin.url, ca_cert=str(pki.ca), **pair) as warehouse:
            assert warehouse.client.command("SELECT 1") == 1
        assert standin.users[-1] == "loader"  # with a password, the password logs in (not the certificate)


@pytest.mark.unit
@pytest.mark.parametrize(("settings", "expected"), [
    ({"ca_cert": "/nonexistent/CA.pem"}, "setting 'ca_cert': /nonexistent/CA.pem does not exist"),
    ({"ca_cert": "{key}"}, "setting 'ca_cert': {key} holds no PEM certificate"),
    ({"verify": "maybe"}, "setting 'verify': must be true or false, got 'maybe'"),
    ({"client_cert": "{client}", "client_cert_key": "{key}"},
     "cannot load the client certificate {client} with the key {key} (setting 'client_cert_key') "
     "(KEY_VALUES_MISMATCH)"),
    ({"client_cert_key": "{key}"}, "setting 'client_cert_key' needs setting 'client_cert'"),
    ({"url": "http://127.0.0.1:8123", "ca_cert": "{ca}"}, "setting 'ca_cert' applies to https:// only"),
])
def test_bad_tls_settings_are_refused_before_connecting(pki, settings, expected):
    files = {"key": pki.server_key, "client": pki.client_cert, "ca": pki.ca}
    settings = {name: value.format(**files) for name, value in settings.items()}
    with pytest.raises(ConfigError) as err:
        ClickHouseConnector({"url": "https://127.0.0.1:8443", **settings})
    assert expected.format(**files) in str(err.value)
