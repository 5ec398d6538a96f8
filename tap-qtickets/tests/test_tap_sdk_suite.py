"""The Meltano SDK's standard tap test suite, run against a live sandbox over loopback HTTP."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from qtickets_sandbox.testing import SandboxServer
from singer_sdk.testing import get_tap_test_class
from tap_qtickets.tap import TapQTickets
from tapqt_helpers import ALL_STREAMS, TOKEN, catalog_for, sandbox_config

pytestmark = pytest.mark.integration

# get_tap_test_class builds the class (discovery only, no request) from this config when the module is
# collected; its runner reads the same dict when the tests run, after `sandbox` put the server's URL in it.
CONFIG = sandbox_config(SimpleNamespace(base_url="http://127.0.0.1:9/api/rest/v1"))

# The suite syncs every stream; `clients` (bare ids without include_pii) is not selected by default, so a
# catalog selects it, as a user who wants it would: the mapper then holds its schema.
TestTapQTickets = get_tap_test_class(TapQTickets, config=CONFIG, catalog=catalog_for(CONFIG, ALL_STREAMS))


@pytest.fixture(scope="module", autouse=True)
def sandbox():
    with SandboxServer(seed=7, orders=150, events=4, token=TOKEN) as server:
        CONFIG["base_url"] = server.base_url
        yield server
