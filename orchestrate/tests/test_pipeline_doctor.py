"""`qtickets-pipeline doctor`: one line per check, exit 0 when all pass, exit 1 naming each failure."""

from __future__ import annotations

import pytest
from pipeline_testing import TOKEN, Pipeline
from qtickets_pipeline.doctor import missing_privileges
from qtickets_pipeline.warehouse import REQUIRED_PRIVILEGES, grant_sql
from qtickets_sandbox.testing import SandboxServer


@pytest.mark.e2e
def test_doctor_passes_then_names_each_failure(project, tmp_path):
    with SandboxServer(seed=2, orders=60, events=3, token=TOKEN) as sb:
        pipe = Pipeline(project, tmp_path, sb.base_url)
        first = pipe.cli("doctor")  # the embedded directory does not exist yet: looked at, not created
        assert first.returncode == 0, first.stdout + first.stderr[-2000:]
        assert "does not exist yet: the first run creates it" in first.stdout
        assert not (tmp_path / "ch").exists()

        ran = pipe.cli("run")
        assert ran.returncode == 0, ran.stderr[-3000:]
        good = pipe.cli("doctor")
        assert good.returncode == 0, good.stdout + good.stderr[-2000:]
        names = [line.split()[1] for line in good.stdout.splitlines()]
        assert names == ["settings", "plugins", "api", "embedded", "clickhouse", "privileges"]
        assert all(line.startswith("OK") for line in good.stdout.splitlines())
        assert "token accepted, 3 events" in good.stdout

        bad = pipe.cli("doctor", QTICKETS_TOKEN="wrong-doctor-token")
        assert bad.returncode == 1
        api = next(line for line in bad.stdout.splitlines() if " api " in line)
        assert api.startswith("FAIL") and "QTICKETS_TOKEN" in api and "403" in api
        assert "wrong-doctor-token" not in bad.stdout + bad.stderr
        assert "1 check(s) failed: api" in bad.stderr

        with pipe.client():  # a reader holds the embedded directory
            busy = pipe.cli("doctor")
        assert busy.returncode == 1
        lock = next(line for line in busy.stdout.splitlines() if "embedded lock" in line)
        assert lock.startswith("FAIL") and "held by pid" in lock

        down = pipe.cli("doctor", CLICKHOUSE_URL="http://127.0.0.1:1")
        assert down.returncode == 1
        assert any(line.startswith("FAIL  clickhouse") and "CLICKHOUSE_URL" in line and "refused" in line
                   for line in down.stdout.splitlines())


class Grants:
    """A ClickHouse user without some privileges: a real restricted server user cannot exist here
    (embedded ClickHouse has no access control), so CHECK GRANT answers come from this stand-in."""

    def __init__(self, lacking: set[str]) -> None:
        self.lacking, self.asked = lacking, []

    def command(self, sql: str) -> str:
        self.asked.append(sql)
        privilege = sql.removeprefix("CHECK GRANT ").split(" ON ")[0]
        return "0" if privilege in self.lacking else "1"


@pytest.mark.unit
def test_missing_privileges_are_named_with_the_grant_that_adds_them():
    client = Grants({"ALTER", "DROP VIEW"})
    assert missing_privileges(client, "zakaz") == ["ALTER", "DROP VIEW"]
    assert client.asked == [f"CHECK GRANT {p} ON zakaz.*" for p in REQUIRED_PRIVILEGES]
    assert grant_sql("zakaz", "qtickets").startswith("GRANT SELECT, INSERT, ALTER, ")
