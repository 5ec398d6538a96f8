"""How the CLI ends on a failure: one line, the settings named as the variables users set, exit 1."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from qtickets_pipeline import cli

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_a_warehouse_error_names_clickhouse_url(monkeypatch, capsys):
    """The target's errors name its settings (`setting 'url'`); the CLI shows the variable instead."""
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(REPO))
    monkeypatch.setenv("CLICKHOUSE_URL", "chdb:///proc/qtickets-no-such-dir")  # /proc: nothing can be created
    monkeypatch.setattr(sys, "argv", ["qtickets-pipeline", "status"])
    with pytest.raises(SystemExit) as info:
        cli.entrypoint()
    lines = capsys.readouterr().err.splitlines()
    assert info.value.code == 1 and len(lines) == 1, lines
    assert "the embedded ClickHouse directory /proc/qtickets-no-such-dir (CLICKHOUSE_URL)" in lines[0]


@pytest.mark.parametrize(("variables", "said"), [
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got 'LOUD'"),
    ({"LOG_JSON": "maybe"}, "LOG_JSON must be true or false, got 'maybe'"),
])
def test_bad_logging_settings_end_like_every_other_failure(monkeypatch, capsys, variables, said):
    """One line in the log's usual form (`<time> ERROR   qtickets-pipeline: …`), before any command runs."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["qtickets-pipeline", "status"])
    with pytest.raises(SystemExit) as info:
        cli.entrypoint()
    lines = capsys.readouterr().err.splitlines()
    assert info.value.code == 1 and len(lines) == 1, lines
    assert lines[0].endswith(f" ERROR   qtickets-pipeline: {said}"), lines
