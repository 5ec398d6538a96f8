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


def rejected_stream(*patterns: str) -> str | None:
    """The stream check_selection names as unknown for these patterns (None: it accepts them all)."""
    try:
        preflight.check_selection(selection(*patterns), "meltano.yml select")
    except SettingsError as exc:
        return re.search(r"stream '([^']+)'", str(exc)).group(1)
    return None


@pytest.mark.parametrize(("patterns", "unknown"), [
    (("events.*", "orders.*"), None),
    (("*.*", "!orders.client", "promo_*.id"), None),
    (("event.*", "orders.*"), "event"),  # a stream's prefix is no stream
    (("orders.*", "promo_x*.id"), "promo_x*"),
])
def test_every_pattern_must_match_a_stream_of_the_tap(patterns, unknown):
    assert rejected_stream(*patterns) == unknown


def test_unknown_stream_is_rejected_listing_known_streams():
    with pytest.raises(SettingsError) as err:
        preflight.check_selection(selection("events.*", "!tickets_v2.price"), "TAP_QTICKETS__SELECT")
    message = str(err.value)
    assert "'tickets_v2'" in message and "TAP_QTICKETS__SELECT" in message
    assert message.endswith("known streams: " + ", ".join(STREAMS))


def test_unparsable_select_names_the_variable(settings, tmp_path):
    bad = with_env(settings, TAP_QTICKETS__SELECT="events.*", MELTANO_SYS_DIR_ROOT=str(tmp_path))
    with pytest.raises(SettingsError, match="TAP_QTICKETS__SELECT must be a JSON list"):
        preflight.catalog(bad)  # before any Meltano command
    assert list(tmp_path.iterdir()) == []  # and no catalog cached


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
