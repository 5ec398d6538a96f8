"""Preflight checks against the repository's real meltano.yml: the effective API token per environment and
the validation of `select` patterns against a tap catalog."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from qtickets_pipeline import preflight
from qtickets_pipeline.settings import SettingsError

STREAMS = ["discounts", "events", "inventory", "orders", "promo_codes", "sales", "shows"]


def with_env(settings, environment: str = "demo", **env: str):
    return replace(settings, environment=environment, env=env)


def test_demo_environment_supplies_the_sandbox_token(settings):
    preflight.require_api_token(with_env(settings, "demo"))


def test_prod_without_token_is_rejected_naming_the_variable(settings):
    with pytest.raises(SettingsError, match="QTICKETS_TOKEN is not set") as err:
        preflight.require_api_token(with_env(settings, "prod", QTICKETS_TOKEN="  "))
    assert "prod" in str(err.value)


@pytest.mark.parametrize("var", ["QTICKETS_TOKEN", "TAP_QTICKETS_API_TOKEN"])
def test_prod_with_token_passes(settings, var):
    preflight.require_api_token(with_env(settings, "prod", **{var: "secret-xyz"}))


def test_select_from_environment_wins_over_meltano_yml(settings):
    source, patterns = preflight.select_patterns(with_env(settings))
    assert source == "meltano.yml select" and "orders.*" in patterns and "!sales.barcode" in patterns
    source, patterns = preflight.select_patterns(with_env(settings, TAP_QTICKETS__SELECT='["events.*"]'))
    assert (source, patterns) == ("TAP_QTICKETS__SELECT", ["events.*"])


def test_unparsable_select_names_the_variable(settings):
    with pytest.raises(SettingsError, match="TAP_QTICKETS__SELECT must be a JSON list"):
        preflight.select_patterns(with_env(settings, TAP_QTICKETS__SELECT="events.*"))


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"streams": [{"tap_stream_id": s} for s in STREAMS]}))
    return path


def test_meltano_yml_selection_matches_the_catalog(settings, catalog):
    preflight.check_selection(with_env(settings), catalog)
    glob = with_env(settings, TAP_QTICKETS__SELECT='["*.*", "!orders.client", "promo_*.id"]')
    preflight.check_selection(glob, catalog)


def test_unknown_stream_is_rejected_listing_known_streams(settings, catalog):
    bad = with_env(settings, TAP_QTICKETS__SELECT='["events.*", "!tickets_v2.price"]')
    with pytest.raises(SettingsError) as err:
        preflight.check_selection(bad, catalog)
    message = str(err.value)
    assert "'tickets_v2'" in message and "TAP_QTICKETS__SELECT" in message
    assert message.endswith("known streams: " + ", ".join(STREAMS))
