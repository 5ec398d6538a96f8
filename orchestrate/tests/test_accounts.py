"""Several QTickets accounts in one warehouse, end to end (docs/production.md 5.1): two sandboxes whose
ticket, order and show ids overlap, loaded by `tap-qtickets` and an extractor inheriting from it; each
account's rows equal its own truth, each has its own bookmark and ledger rows, and one failing neither blocks
nor loses the other. And a single-account warehouse from before accounts upgraded in place: its rows take the
configured name, and the next run is incremental (nothing reloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_testing import PROJECT_PARTS, REPO, TOKEN, Pipeline, assert_exact, runs
from qtickets_sandbox.testing import SandboxServer

pytestmark = pytest.mark.e2e

SPB_TOKEN = "spb-token-51c0"
HEIR = """
  - name: tap-qtickets--spb
    inherit_from: tap-qtickets
    config:
      account: spb
      api_token: $QTICKETS_SPB_TOKEN
      base_url: $QTICKETS_SPB_BASE_URL
"""
STAGING = ("events", "shows", "orders", "sales", "inventory", "discounts", "promo_codes")


def with_heir(project: Path, root: Path) -> Path:
    """The installed project with a second account declared as in docs/production.md 5.1 (its plugins'
    installs shared: an heir with the same pip_url uses tap-qtickets' venv). The pip_urls name the installed
    project's paths: Meltano fingerprints a venv by its pip_url, and another one would reinstall the shared
    venvs under the other tests' feet."""
    root.mkdir()
    text = (REPO / "meltano.yml").read_text().replace("${MELTANO_PROJECT_ROOT}", str(project))
    loaders = "\n  loaders:\n"
    assert loaders in text
    (root / "meltano.yml").write_text(text.replace(loaders, HEIR + loaders, 1))
    for name in PROJECT_PARTS:
        (root / name).symlink_to(REPO / name)
    (root / ".meltano").mkdir()
    for kind in ("extractors", "loaders"):
        (root / ".meltano" / kind).symlink_to(project / ".meltano" / kind)
    return root


@pytest.fixture
def main_sb():
    with SandboxServer(seed=8, orders=250, events=4, token=TOKEN) as sb:
        yield sb


@pytest.fixture
def spb_sb():
    with SandboxServer(seed=9, orders=200, events=4, token=SPB_TOKEN) as sb:
        yield sb


def overlap(a: SandboxServer, b: SandboxServer) -> set[int]:
    return {t["ticket_id"] for t in a.truth()["tickets"]} & {t["ticket_id"] for t in b.truth()["tickets"]}


def test_two_accounts_with_overlapping_ids_each_equal_their_own_truth(project, main_sb, spb_sb, tmp_path):
    assert overlap(main_sb, spb_sb), "no shared ticket id: the test would not prove the keys hold account"
    pipe = Pipeline(with_heir(project, tmp_path / "project"), tmp_path / "work", main_sb.base_url)
    pipe.env.update(QTICKETS_SPB_TOKEN=SPB_TOKEN, QTICKETS_SPB_BASE_URL=spb_sb.base_url)

    done = pipe.cli("run")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_exact(pipe, main_sb, "main")
    assert_exact(pipe, spb_sb, "spb")
    loads = pipe.query("SELECT account, status FROM zakaz.meta_job_runs FINAL ORDER BY started_at")
    assert loads == [("main", "success"), ("spb", "success")]

    # A revoked token on one account: the other's changes still land; the failure is recorded as its own.
    main_sb.advance(240)
    spb_sb.advance(240)
    revoked = pipe.cli("run", QTICKETS_SPB_TOKEN="tok-9f8e7d")
    assert revoked.returncode == 1
    assert "tap-qtickets--spb" in revoked.stderr and "tok-9f8e7d" not in revoked.stderr
    assert_exact(pipe, main_sb, "main")
    last = pipe.query("SELECT account, status, error != '' FROM zakaz.meta_job_runs FINAL "
                      "ORDER BY started_at DESC LIMIT 2")
    assert sorted(last) == [("main", "success", False), ("spb", "failed", True)]

    # The bookmark of each account is its own: spb resumes where it stood and catches up.
    again = pipe.cli("run", "--account", "tap-qtickets--spb")
    assert again.returncode == 0, again.stderr[-3000:]
    assert_exact(pipe, spb_sb, "spb")
    assert_exact(pipe, main_sb, "main")
    spb = pipe.query("SELECT full_refresh FROM zakaz.meta_job_runs FINAL WHERE account = 'spb' "
                     "AND status = 'success' ORDER BY started_at")
    assert spb == [(True,), (False,)]


def strip_accounts(pipe: Pipeline) -> None:
    """Turn the warehouse into one written before accounts: staging without the `account` column (keys
    without it), ledger rows without it, and no record of the models applied."""
    with pipe.client() as client:
        for stream in STAGING:
            table = f"zakaz.stg_qtickets_{stream}_raw"
            keys = client.query(f"SELECT sorting_key FROM system.tables WHERE database = 'zakaz' "
                                f"AND name = 'stg_qtickets_{stream}_raw'").result_rows[0][0]
            old_keys = ", ".join(k.strip() for k in keys.split(",") if k.strip() != "account")
            client.command(f"RENAME TABLE {table} TO {table}_new")
            client.command(f"CREATE TABLE {table} ENGINE = ReplacingMergeTree(_sdc_version) ORDER BY "
                           f"({old_keys}) AS SELECT * EXCEPT account FROM {table}_new")
            client.command(f"DROP TABLE {table}_new")
        client.command("ALTER TABLE zakaz.meta_job_runs DROP COLUMN account")
        client.command("DROP TABLE zakaz.meta_models")


def test_a_warehouse_from_before_accounts_upgrades_in_place(project, main_sb, tmp_path):
    pipe = Pipeline(project, tmp_path, main_sb.base_url)
    first = pipe.cli("run")
    assert first.returncode == 0, first.stderr[-3000:]
    strip_accounts(pipe)
    held = pipe.query("SELECT count() FROM zakaz.stg_qtickets_sales_raw")[0][0]

    main_sb.advance(120)
    upgraded = pipe.cli("run", QTICKETS_ACCOUNT="msk")
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]
    assert_exact(pipe, main_sb, "msk")
    for view in ("v_sales_latest", "v_attendance_by_show", "v_inventory_latest", "dim_events"):
        assert pipe.query(f"SELECT DISTINCT account FROM zakaz.{view}") == [("msk",)], view
    history = runs(pipe)
    assert len(history) == 2 and history[-1][0] == "success"
    reloaded = history[-1][1]["sales"]
    assert reloaded < held, "the upgrade reloaded the account instead of resuming from its bookmark"
    full = pipe.query("SELECT full_refresh FROM zakaz.meta_job_runs FINAL ORDER BY started_at")
    assert [flag for (flag,) in full] == [True, False]

