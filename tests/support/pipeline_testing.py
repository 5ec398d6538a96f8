"""Test helpers shared by the pipeline's end-to-end suite (orchestrate/tests), the reliability suite
(tests/reliability) and bench/soak.py: an installed throw-away Meltano project (with the tap's catalog
cached), a runner of the real `qtickets-pipeline` and `meltano` CLIs with an isolated chdb directory, Meltano
system database and run directory, and the comparisons of the loaded views with the sandbox's
`/_sandbox/truth`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from qtickets_pipeline import meltano_cli, preflight
from qtickets_pipeline.settings import load_settings
from qtickets_pipeline.warehouse import connect, query_rows
from qtickets_sandbox.inventory import TICKET_TRUTH_FIELDS
from qtickets_sandbox.testing import comparable_ticket, expected_tickets

REPO = Path(__file__).resolve().parents[2]  # tests/support/ → the repository
BIN = Path(sys.executable).parent
TOKEN = "e2e-token-7f3a"
PROJECT_PARTS = ("tap-qtickets", "target-clickhouse", "orchestrate", "transform", "requirements.lock")
CATALOG_CACHE = "catalog-cache"  # in an installed project: the work dir of the Pipeline that made the catalog


def install_project(root: Path, meltano_yml: str | None = None) -> Path:
    """A throw-away Meltano project at `root`: the repo's meltano.yml (or `meltano_yml`), plugins and
    transforms linked in, plugins installed by the real `meltano install`."""
    root.mkdir(parents=True, exist_ok=True)
    text = meltano_yml if meltano_yml is not None else (REPO / "meltano.yml").read_text()
    (root / "meltano.yml").write_text(text)
    for name in PROJECT_PARTS:
        (root / name).symlink_to(REPO / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QTICKETS_", "CLICKHOUSE_", "MELTANO_"))}
    settings = load_settings(environment="demo", project_root=root)
    meltano_cli.install(type(settings)(**{**settings.__dict__, "env": env}))
    # The tap's catalog, made once here (two Meltano commands, ~3 s) and given to every Pipeline: a test's
    # first run then starts as every scheduled run does. A test with another selection makes its own.
    preflight.catalog(Pipeline(root, root / CATALOG_CACHE, "http://127.0.0.1:9").settings())
    return root


class Pipeline:
    """Runs the CLI in a shared installed project with everything of its own: a chdb directory, a Meltano
    system database and Meltano's run directory (MELTANO_SYS_DIR_ROOT, the plugins' venvs linked in), so
    tests can run in parallel."""

    def __init__(self, project: Path, work: Path, base_url: str) -> None:
        self.project, self.work = project, work
        meltano_dir = work / "meltano"
        meltano_dir.mkdir(parents=True, exist_ok=True)
        for kind in ("extractors", "loaders"):
            if not (meltano_dir / kind).exists():
                (meltano_dir / kind).symlink_to(project / ".meltano" / kind)
        cached = project / CATALOG_CACHE / "meltano" / "run" / "qtickets-pipeline"
        if cached.is_dir() and work != project / CATALOG_CACHE:
            own = meltano_dir / "run" / "qtickets-pipeline"
            own.mkdir(parents=True, exist_ok=True)
            for catalog in cached.glob("catalog-*.json"):
                shutil.copy(catalog, own / catalog.name)
        self.env = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("QTICKETS_", "CLICKHOUSE_", "LOG_", "TAP_QTICKETS", "TARGET_CLICKHOUSE"))
        }
        self.env.update(
            {
                "MELTANO_PROJECT_ROOT": str(project),
                "MELTANO_SYS_DIR_ROOT": str(meltano_dir),
                "MELTANO_ENVIRONMENT": "demo",
                "MELTANO_DATABASE_URI": f"sqlite:///{work / 'meltano.db'}",
                "CLICKHOUSE_URL": f"chdb://{work / 'ch'}",
                "QTICKETS_BASE_URL": base_url,
                "QTICKETS_TOKEN": TOKEN,
            }
        )

    def cli(self, *args: str, **overrides: str) -> subprocess.CompletedProcess:
        env = dict(self.env, **overrides)
        return subprocess.run(
            [str(BIN / "qtickets-pipeline"), *args],
            env=env,
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def meltano(self, *args: str, **overrides: str) -> subprocess.CompletedProcess:
        """The real `meltano` CLI in the project, as a user runs it (its plugin settings from TAP_QTICKETS_*,
        which win over the demo environment's sandbox URL and token)."""
        env = {**self.env, "TAP_QTICKETS_BASE_URL": self.env["QTICKETS_BASE_URL"],
               "TAP_QTICKETS_API_TOKEN": self.env["QTICKETS_TOKEN"], "MELTANO_CLI_DISABLE_VERSION_CHECK": "1",
               "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **overrides}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        return subprocess.run([str(BIN / "meltano"), *args], env=env, cwd=self.project, capture_output=True,
                              text=True, timeout=300)

    def settings(self, url: str | None = None):
        env = dict(self.env)
        if url:
            env["CLICKHOUSE_URL"] = url
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            return load_settings(environment="demo", project_root=self.project)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    @contextmanager
    def client(self):
        """An open client on the run's warehouse (a reader holding the embedded directory)."""
        with connect(self.settings()) as client:
            yield client

    def query(self, sql: str, url: str | None = None) -> list[tuple]:
        with connect(self.settings(url)) as client:  # closed again before the next CLI run
            return query_rows(client, sql)[1]

    def query_dicts(self, sql: str) -> list[dict]:
        with connect(self.settings()) as client:
            names, rows = query_rows(client, sql)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def state(self) -> dict:
        """The job's Singer state, through `meltano state get`."""
        return meltano_cli.state_get(self.settings())

    def bookmark(self) -> str | None:
        orders = self.state().get("singer_state", {}).get("bookmarks", {}).get("orders", {})
        return orders.get("replication_key_value")


def utc(value: str | datetime) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value).astimezone(UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


SALES_COLUMNS = ", ".join(TICKET_TRUTH_FIELDS)  # every field of the truth, all of them columns of the view
INVENTORY_COLUMNS = "show_id, zone_id, capacity, free, sold, held, disabled"


def expected_sales(truth: dict) -> dict[int, tuple]:
    """ticket_id → the v_sales_latest row the sandbox truth implies (every field, comparable form)."""
    return expected_tickets(truth)


def of_account(account: str | None) -> str:
    """The WHERE clause keeping one account's rows (all of them without one)."""
    return f" WHERE account = '{account}'" if account else ""


def actual_sales(pipe: Pipeline, account: str | None = None) -> tuple[dict[int, tuple], int]:
    """ticket_id → v_sales_latest row (comparable form), and the row count (more than ids: duplicates)."""
    result = pipe.query_dicts(f"SELECT {SALES_COLUMNS} FROM zakaz.v_sales_latest{of_account(account)}")
    return {r["ticket_id"]: comparable_ticket(r) for r in result}, len(result)


def sales_differences(expected: dict[int, tuple], actual: dict[int, tuple]) -> dict[str, list]:
    """What differs, field by field: lost / extra ticket ids and {field: [ticket ids]} for the rest."""
    out: dict[str, list] = {"lost": sorted(expected.keys() - actual.keys()),
                            "extra": sorted(actual.keys() - expected.keys())}
    for ticket_id in expected.keys() & actual.keys():
        for field, want, got in zip(TICKET_TRUTH_FIELDS, expected[ticket_id], actual[ticket_id], strict=True):
            if want != got:
                out.setdefault(field, []).append(ticket_id)
    return {k: v for k, v in out.items() if v}


def inventory_pair(pipe: Pipeline, truth: dict, account: str | None = None) -> tuple[dict, dict]:
    """(view, truth) rows per show × zone, for the shows the tap snapshotted."""
    rows = pipe.query(f"SELECT {INVENTORY_COLUMNS} FROM zakaz.v_inventory_latest{of_account(account)}")
    actual = {(r[0], r[1]): tuple(r[2:]) for r in rows}
    shows = {show for show, _ in actual}
    expected = {
        (i["show_id"], i["zone_id"]): (i["capacity"], i["free"], i["sold"], i["held"], i["disabled"])
        for i in truth["inventory"]
        if i["show_id"] in shows
    }
    return actual, expected


def assert_sales_exact(pipe: Pipeline, truth: dict, account: str | None = None) -> None:
    """Every paid ticket of the truth is in v_sales_latest once, equal in every field."""
    expected = expected_sales(truth)
    actual, row_count = actual_sales(pipe, account)
    assert row_count == len(actual), "duplicate ticket ids in v_sales_latest"
    assert sales_differences(expected, actual) == {}
    status = TICKET_TRUTH_FIELDS.index("status")
    assert {t[status] for t in expected.values()} >= {"sold", "refunded"}


def expected_attendance(truth: dict) -> dict[tuple[int, str], tuple[int, int]]:
    """(show_id, zone_id) → (tickets sold, checked in) from the truth."""
    out: dict[tuple[int, str], tuple[int, int]] = {}
    for t in truth["tickets"]:
        if t["status"] == "sold":
            sold, checked = out.get((t["show_id"], t["zone_id"]), (0, 0))
            out[(t["show_id"], t["zone_id"])] = (sold + 1, checked + (t["checked_at"] is not None))
    return out


def attendance_pair(pipe: Pipeline, truth: dict, account: str | None = None) -> tuple[dict, dict]:
    """(view, truth): (show_id, zone_id) → (tickets sold, checked in); the view's derived columns checked."""
    rows = pipe.query("SELECT show_id, zone_id, tickets_sold, checked_in, not_checked_in, checked_in_share "
                      f"FROM zakaz.v_attendance_by_show{of_account(account)}")
    for _show, _zone, sold, checked, not_checked, share in rows:
        assert not_checked == sold - checked and abs(share - checked / sold) < 1e-9
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}, expected_attendance(truth)


def assert_attendance_exact(pipe: Pipeline, truth: dict, account: str | None = None) -> None:
    actual, expected = attendance_pair(pipe, truth, account)
    assert actual == expected
    assert any(checked for _, checked in expected.values()), "no scanned ticket: attendance proves nothing"


def assert_inventory_exact(pipe: Pipeline, truth: dict, account: str | None = None) -> int:
    actual, expected = inventory_pair(pipe, truth, account)
    assert actual and actual == expected
    return len({show for show, _ in actual})


def runs(pipe: Pipeline) -> list[tuple]:
    """(status, rows_loaded, http_requests, error, trigger) per load, oldest first, from the target's own
    ledger (its view v_job_runs comes with the models, after the first successful load)."""
    return pipe.query(
        "SELECT status, rows_loaded, http_requests, error, trigger "
        "FROM zakaz.meta_job_runs FINAL ORDER BY started_at"
    )


def assert_exact(pipe: Pipeline, sandbox, account: str | None = None) -> None:
    """Every view the truth covers equals it (the account's rows of it, with one): sales, attendance,
    inventory."""
    truth = sandbox.truth()
    assert_sales_exact(pipe, truth, account)
    assert_attendance_exact(pipe, truth, account)
    assert_inventory_exact(pipe, truth, account)
