"""`qtickets-pipeline doctor --api`: the read-only probe of the real API answers each open question
(qtickets-api.md §17) and says what the pipeline will do — checked against the sandbox healthy and in each
of its filter fault modes, with the sandbox's request log proving it sent only GETs, at most 20."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from qtickets_pipeline.api_probe import MAX_REQUESTS, Answer, _page_size, run_probe
from qtickets_pipeline.settings import load_settings
from qtickets_sandbox.testing import SandboxServer
from tap_qtickets.streams import SEAT_FIELDS

REPO = Path(__file__).resolve().parents[2]
ORDERS = "/api/rest/v1/orders"
TOKEN = "probe-token-31"

# mode → (fault rules, GETs of /orders, {line: (status, what it says)}); other lines are the healthy ones.
HEALTHY = {
    "api": ("OK", "token accepted; 300 orders, 50 per page by default"),
    "page size": ("OK", "per_page and perPage honoured, all 300 orders in one page → the tap's per_page=100"),
    "orders filter": ("OK", "honoured"),
    "orders order": ("OK", "honoured → the order pass pages by (updated_at, id)"),
    "basket filter": ("OK", "honoured"),
    "seats": ("OK", "every field the tap selects → inventory sums them per zone"),
    "requests": ("OK", "9 GET requests, nothing written"),
}
MODES = {
    "healthy": ([], 7, {}),
    "ignore_filters": ([{"match": ORDERS, "fault": "ignore_filters"}], 6, {  # no nested-filter request
        "orders filter": ("WARN", "ignored (updated_at filter: order"),
        "orders order": ("WARN", "ignored → the tap notices on the first page and reads every order by id"),
        "basket filter": ("WARN", "not tried: plain filters do not work"),
        "requests": ("OK", "8 GET requests, nothing written"),
    }),
    "dotted ignore": ([{"match": ORDERS, "fault": "dotted_filters", "mode": "ignore"}], 7, {
        "basket filter": ("WARN", "ignored (nested filter: order"),
    }),
    "dotted reject": ([{"match": ORDERS, "fault": "dotted_filters", "mode": "reject"}], 7, {
        "basket filter": ("WARN", "refused (HTTP 503 UNKNOWN_ERROR) → basket_filter auto gives up on it "
                                  "after its retries"),
    }),
    "dotted empty": ([{"match": ORDERS, "fault": "dotted_filters", "mode": "empty"}], 7, {
        "basket filter": ("WARN", "matches nothing"),
    }),
}


def shown(check) -> str:
    return "FAIL" if not check.ok else "WARN" if check.warn else "OK"


@pytest.fixture(scope="module")
def sandbox():
    with SandboxServer(seed=4, orders=300, events=8, token=TOKEN, start_date="2026-12-01") as sb:
        yield sb


def probe_settings(base_url: str, token: str = TOKEN):
    return load_settings(environment="prod", project_root=REPO, overrides={
        "QTICKETS_BASE_URL": base_url, "QTICKETS_TOKEN": token, "CLICKHOUSE_URL": "https://ch.example:8443"})


@pytest.mark.integration
@pytest.mark.parametrize("mode", list(MODES))
def test_each_answer_and_what_the_pipeline_does(sandbox, mode):
    faults, orders_requests, expected = MODES[mode]
    sandbox.set_faults(faults)
    sandbox.clear_requests()
    try:
        checks = {check.name: check for check in run_probe(probe_settings(sandbox.base_url))}
    finally:
        sandbox.clear_faults()
    for name, (status, says) in {**HEALTHY, **expected}.items():
        assert (shown(checks[name]), says in checks[name].detail) == (status, True), checks[name].detail
    asked = sandbox.requests()
    assert {entry["method"] for entry in asked} == {"GET"}
    assert len(asked) <= MAX_REQUESTS
    paths = [entry["path"] for entry in asked]
    assert paths[:-1] == [ORDERS] * orders_requests + ["/api/rest/v1/events"]
    assert re.fullmatch(r"/api/rest/v1/shows/\d+/seats", paths[-1])
    assert asked[-1]["body"] == {"flat": True, "select": SEAT_FIELDS}  # what the inventory stream sends


@pytest.mark.integration
def test_a_wrong_token_stops_at_the_first_request(sandbox):
    sandbox.clear_requests()
    checks = run_probe(probe_settings(sandbox.base_url, token="wrong-probe-token"))
    assert [(c.name, c.ok) for c in checks] == [("settings", True), ("api", False)]
    assert checks[-1].detail.endswith("answered 403: QTICKETS_TOKEN is wrong or revoked")
    assert len(sandbox.requests()) == 1


@pytest.mark.e2e
def test_doctor_api_prints_one_line_per_answer_and_writes_nothing(sandbox, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QTICKETS_", "CLICKHOUSE_", "LOG_"))}
    env.update(MELTANO_PROJECT_ROOT=str(REPO), MELTANO_SYS_DIR_ROOT=str(tmp_path / "meltano"),
               MELTANO_DATABASE_URI=f"sqlite:///{tmp_path / 'meltano.db'}", MELTANO_ENVIRONMENT="demo",
               QTICKETS_BASE_URL=sandbox.base_url, QTICKETS_TOKEN=TOKEN)
    work = tmp_path / "cwd"
    work.mkdir()
    cli = str(Path(sys.executable).parent / "qtickets-pipeline")
    done = subprocess.run([cli, "doctor", "--api"], env=env, cwd=work, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    names = [line[6:19].strip() for line in done.stdout.splitlines()]  # render(): status, name, detail
    assert names == ["settings", "api", "page size", "orders filter", "orders order", "basket filter",
                     "seats", "requests"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd"] and not any(work.iterdir())

    refused = subprocess.run([cli, "doctor", "--api"], env={**env, "QTICKETS_TOKEN": "wrong-probe-token"},
                             cwd=work, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert refused.stdout.splitlines()[-1].startswith("FAIL  api")
    assert "wrong-probe-token" not in refused.stdout + refused.stderr


class PagingApi:
    """An API whose paging the sandbox does not have (it honours both keys up to 1000 and reports the size
    it used): it honours only `keys`, caps pages at `cap` and reports `reported` (None: the size used)."""

    def __init__(self, keys: tuple[str, ...], cap: int, reported: int | None = None, total: int = 5000):
        self.keys, self.cap, self.reported, self.total = keys, cap, reported, total

    def get(self, path: str, body: dict) -> Answer:
        asked = next((body[key] for key in self.keys if key in body), 50)
        size = min(asked, self.cap, self.total)
        paging = {"perPage": self.reported or size, "currentPage": 1, "total": self.total}
        return Answer(200, {"data": [{"id": n} for n in range(size)], "paging": paging})


@pytest.mark.unit
@pytest.mark.parametrize(("api", "page_size", "status", "says"), [
    (PagingApi(("per_page",), cap=500, reported=1000), "1000", "FAIL",
     "at most 500 per page (1000 asked, paging.perPage 1000) → with page_size 1000 the tap would take the "
     "first, short page for the last one: set TAP_QTICKETS_PAGE_SIZE=500"),
    (PagingApi(("per_page",), cap=500), "1000", "WARN", "page_size 1000 gets 500 per page"),
    (PagingApi(("perPage",), cap=1000), "100", "WARN", "the tap sends per_page, so it gets 50 per page"),
    (PagingApi((), cap=50), "100", "WARN", "per_page and perPage ignored: always 50 per page"),
])
def test_page_size_answers_an_api_the_sandbox_cannot_be(tmp_path, api, page_size, status, says):
    settings = load_settings(environment="prod", project_root=tmp_path, overrides={
        "CLICKHOUSE_URL": "https://ch.example:8443", "TAP_QTICKETS_PAGE_SIZE": page_size})
    check = _page_size(api, settings, api.total, 50)  # type: ignore[arg-type]
    assert (shown(check), says in check.detail) == (status, True), check.detail
