"""Preflight: `select` patterns checked against what `meltano select --json` reports, and plugin errors
shown with the variable the user set."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from qtickets_pipeline import preflight
from qtickets_pipeline.settings import USER_VARIABLES, SettingsError, name_user_settings

pytestmark = pytest.mark.unit

STREAMS = ["discounts", "events", "inventory", "orders", "promo_codes", "sales", "shows"]


def with_env(settings, environment: str = "demo", **env: str):
    return replace(settings, environment=environment, env=env)


def selection(*patterns: str) -> dict:
    """The shape of `meltano select tap-qtickets --json --all`."""
    return {"enabled_patterns": list(patterns),
            "streams": [{"stream": s, "property": "id", "selection": "automatic"} for s in STREAMS]}


def test_patterns_matching_streams_pass():
    preflight.check_selection(selection("events.*", "orders.*"), "meltano.yml select")
    preflight.check_selection(selection("*.*", "!orders.client", "promo_*.id"), "TAP_QTICKETS__SELECT")


def test_unknown_stream_is_rejected_listing_known_streams():
    with pytest.raises(SettingsError) as err:
        preflight.check_selection(selection("events.*", "!tickets_v2.price"), "TAP_QTICKETS__SELECT")
    message = str(err.value)
    assert "'tickets_v2'" in message and "TAP_QTICKETS__SELECT" in message
    assert message.endswith("known streams: " + ", ".join(STREAMS))


def test_unparsable_select_names_the_variable(settings):
    with pytest.raises(SettingsError, match="TAP_QTICKETS__SELECT must be a JSON list"):
        preflight.ensure_selection(with_env(settings, TAP_QTICKETS__SELECT="events.*"))


@pytest.mark.parametrize(("message", "shown"), [
    ("tap-qtickets failed: invalid settings: 'api_token' is a required property", "QTICKETS_TOKEN"),
    ("QTickets answered 403 (WRONG_AUTHORIZATION): the api_token setting is wrong", "QTICKETS_TOKEN"),
    ("'htp//x' does not match '^https?://' in config['base_url']", "QTICKETS_BASE_URL"),
    ("setting 'database': 'a b' is not a plain identifier", "CLICKHOUSE_DATABASE"),
])
def test_plugin_errors_name_the_variable_the_user_set(message, shown):
    assert shown in name_user_settings(message)


def test_user_variables_are_what_meltano_yml_maps(settings):
    text = (settings.project_root / "meltano.yml").read_text()
    mapped = {(m.group(2), m.group(1)) for m in re.finditer(r"^\s+(\w+): \$(\w+)$", text, re.M)}
    assert {(variable, setting) for variable, (_, setting) in USER_VARIABLES.items()} == mapped
