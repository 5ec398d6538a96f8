"""The Meltano SDK's standard tap test suite, run against a live sandbox over loopback HTTP."""

from __future__ import annotations

import atexit

import pytest
from qtickets_sandbox.testing import SandboxServer
from singer_sdk.testing import get_tap_test_class
from tap_qtickets.tap import TapQTickets
from tapqt_helpers import TOKEN, sandbox_config

pytestmark = pytest.mark.integration

# get_tap_test_class needs the config (and so the sandbox URL) when the class is built.
_SANDBOX = SandboxServer(seed=7, orders=150, events=4, token=TOKEN).start()
atexit.register(_SANDBOX.stop)

TestTapQTickets = get_tap_test_class(TapQTickets, config=sandbox_config(_SANDBOX))
