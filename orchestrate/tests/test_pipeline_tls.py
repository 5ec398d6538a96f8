"""TLS to a managed ClickHouse from the pipeline: CLICKHOUSE_CA_CERT / CLICKHOUSE_VERIFY /
CLICKHOUSE_CLIENT_CERT / CLICKHOUSE_CLIENT_KEY checked up front in one line naming the variable, passed to
the target as absolute paths, and a certificate problem reported by `doctor` in one line naming the
variable to set (the server is the HTTPS stand-in of tests/support/clickhouse_https.py: no ClickHouse
server can be installed here)."""

from __future__ import annotations

import pytest
from clickhouse_https import ClickHouseHttpsStandIn, make_pki
from pipeline_testing import TOKEN, Pipeline
from qtickets_pipeline.meltano_cli import build_env
from qtickets_pipeline.settings import TLS_VARIABLES, SettingsError, load_settings, name_user_settings
from qtickets_sandbox.testing import SandboxServer

SERVER = "https://clickhouse.example:8443"


@pytest.fixture
def clean_env(monkeypatch):
    for variable in (*TLS_VARIABLES, "CLICKHOUSE_URL", "MELTANO_ENVIRONMENT", "MELTANO_PROJECT_ROOT"):
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.unit
@pytest.mark.parametrize(("variables", "expected"), [
    ({"CLICKHOUSE_VERIFY": "maybe"},
     "CLICKHOUSE_VERIFY (setting verify): must be true or false, got 'maybe'"),
    ({"CLICKHOUSE_CA_CERT": "/etc/no-such/CA.pem"},
     "CLICKHOUSE_CA_CERT (setting ca_cert): /etc/no-such/CA.pem does not exist"),
    ({"CLICKHOUSE_CLIENT_KEY": "/etc/no-such/client.key"},
     "CLICKHOUSE_CLIENT_KEY (setting client_cert_key) needs CLICKHOUSE_CLIENT_CERT (setting client_cert)"),
])
def test_bad_tls_variables_stop_before_anything_runs(tmp_path, clean_env, variables, expected):
    with pytest.raises(SettingsError) as err:
        load_settings(project_root=tmp_path, environment="prod",
                      overrides={"CLICKHOUSE_URL": SERVER, **variables})
    assert expected in str(err.value) and "\n" not in str(err.value)


@pytest.mark.unit
def test_a_hint_names_the_variable_to_set_even_when_it_is_unset():
    hint = "its certificate is not signed by a CA this machine trusts: set 'ca_cert' to the provider's CA"
    assert "set CLICKHOUSE_CA_CERT (setting ca_cert) to" in name_user_settings(hint, env={})
    # tap settings keep their name unless the user set the variable: the demo environment sets them itself
    assert name_user_settings("the api_token setting is wrong", env={}) == "the api_token setting is wrong"


@pytest.mark.integration
def test_relative_certificate_paths_reach_the_target_as_absolute_ones(tmp_path, clean_env):
    pki = make_pki(tmp_path / "certs")
    settings = load_settings(project_root=tmp_path, environment="prod", overrides={
        "CLICKHOUSE_URL": SERVER, "CLICKHOUSE_CA_CERT": "certs/ca.pem", "CLICKHOUSE_VERIFY": "true",
        "CLICKHOUSE_CLIENT_CERT": "certs/client.pem", "CLICKHOUSE_CLIENT_KEY": "certs/client.key"})
    env = build_env(settings)
    assert env["TARGET_CLICKHOUSE_CA_CERT"] == settings.tls.ca_cert == str(pki.ca)
    assert env["TARGET_CLICKHOUSE_CLIENT_CERT"] == str(pki.client_cert)
    assert env["TARGET_CLICKHOUSE_CLIENT_CERT_KEY"] == str(pki.client_key)
    assert env["TARGET_CLICKHOUSE_VERIFY"] == "true"


@pytest.mark.e2e
def test_doctor_names_clickhouse_ca_cert_for_an_unknown_ca_then_passes_with_it(project, tmp_path):
    pki = make_pki(tmp_path / "pki")
    with SandboxServer(seed=3, orders=40, events=2, token=TOKEN) as sb, \
            ClickHouseHttpsStandIn(pki.server_cert, pki.server_key) as server:
        pipe = Pipeline(project, tmp_path, sb.base_url)
        tls = {"CLICKHOUSE_URL": server.url, "CLICKHOUSE_USER": "loader", "CLICKHOUSE_PASSWORD": "doctor-pw"}

        unknown = pipe.cli("doctor", **tls)
        assert unknown.returncode == 1
        line = next(x for x in unknown.stdout.splitlines() if " clickhouse " in x)
        assert line.startswith("FAIL") and line.endswith(
            "its certificate is not signed by a CA this machine trusts: set CLICKHOUSE_CA_CERT (setting "
            "ca_cert) to the provider's CA certificate (a PEM file)")
        assert "1 check(s) failed: clickhouse" in unknown.stderr and "doctor-pw" not in unknown.stdout

        trusted = pipe.cli("doctor", **tls, CLICKHOUSE_CA_CERT=str(pki.ca))
        assert trusted.returncode == 0, trusted.stdout + trusted.stderr[-2000:]
        assert f"ClickHouse 26.1.2.3, user loader; certificate checked against {pki.ca}" in trusted.stdout
        assert any(x.startswith("OK    privileges") for x in trusted.stdout.splitlines())
