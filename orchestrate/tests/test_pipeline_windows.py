"""The window a run asks the tap for (`--days`, `--since/--to`, `--full-refresh`): contradictions are
refused naming the flag, before anything runs. How the CLI shows them (one line, exit 1), the other
contradictions and what a window loads: test_run.py."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from qtickets_pipeline.pipeline import resolve_window
from qtickets_pipeline.settings import SettingsError

pytestmark = pytest.mark.unit

DAY = date(2026, 11, 10)


@pytest.mark.parametrize(("arguments", "named"), [
    ({"since": DAY + timedelta(days=10), "to": DAY}, "--to 2026-11-10 is before --since 2026-11-20"),
    ({"to": DAY}, "--to needs --since"),
    ({"days": 0}, "--days must be positive"),
    ({"full_refresh": True, "days": 3}, "--full-refresh"),
])
def test_contradicting_window_arguments_are_refused_naming_the_flag(settings, arguments, named):
    with pytest.raises(SettingsError, match=named):
        resolve_window(settings, **arguments)

