"""`qtickets-pipeline doctor --api`: what production has never shown about the QTickets API
(qtickets-api.md §17), answered by a few read-only requests before the first run — one line per question,
each saying what the pipeline will do about the answer.

GET only, through tap-qtickets' own GET-only session (a POST to QTickets creates orders); at most
MAX_REQUESTS requests; nothing is written anywhere (no Meltano, no warehouse, no files). The request bodies
and the row checks are the tap's own (`order_queries.IdKeyset`, `ticket_changes`, `streams.SEAT_FIELDS`),
so each answer is about the requests the tap really sends.
"""

from __future__ import annotations

import datetime as dt
import itertools
import typing as t
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import requests
from tap_qtickets import ticket_changes as tc
from tap_qtickets.auth import QTicketsAuthenticator
from tap_qtickets.client import GetOnlySession
from tap_qtickets.normalize import parse_api_datetime, to_api_datetime
from tap_qtickets.order_queries import FiltersIgnoredError, IdKeyset
from tap_qtickets.orders import BASKET_FILTER
from tap_qtickets.streams import SEAT_FIELDS
from tap_qtickets.tap import TapQTickets

from .doctor import Check
from .settings import DEMO, Settings

MAX_REQUESTS = 20
SMALL_PAGE = 7  # a page size no list of the API defaults to (orders: 50)
LARGE_PAGE = 1000  # the largest page asked for (orders carry their tickets: ~2 KB each)
TIMEOUT_SECONDS = 30
REPORT = "report it with this output"
REFUSED = f"→ the tap would retry it, then fail the run: run this again; if it repeats, {REPORT}"
FALLBACK_SCAN = ("→ the tap notices on the first page and reads every order by id instead, keeping the "
                 "changed ones (slower: every order on every run; nothing is skipped)")
RECHECK_HOURS = tc.RECHECK_AFTER.total_seconds() / 3600
BASKET_FALLBACK = ("→ basket_filter auto {how} and re-reads the orders of events with live shows instead, "
                   f"trying the filter again every {RECHECK_HOURS:.0f} h "
                   "(TAP_QTICKETS_BASKET_FILTER=off skips it)")
NOTICES = "notices it (self-check)"
SELF_CHECKED = "→ the tap checks every page itself and falls back if needed"


def tap_default(setting: str) -> t.Any:
    """A tap setting's default, from the tap's own settings schema."""
    return TapQTickets.config_jsonschema["properties"][setting].get("default")


@dataclass
class Answer:
    status: int | None  # None: no answer (the error says why)
    body: t.Any = None
    error: str = ""
    server_now: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status == requests.codes.ok and isinstance(self.body, dict) and not self.error

    @property
    def rows(self) -> list:
        data = self.body.get("data") if isinstance(self.body, dict) else None
        return data if isinstance(data, list) else []

    @property
    def paging(self) -> dict:
        paging = self.body.get("paging") if isinstance(self.body, dict) else None
        return paging if isinstance(paging, dict) else {}

    def problem(self) -> str:
        """What went wrong, in a few words (HTTP status and the API's error code)."""
        if self.status is None:
            return self.error
        code = self.body.get("code") or self.body.get("error") if isinstance(self.body, dict) else None
        return f"HTTP {self.status}{f' {code}' if code else ''}{f' ({self.error})' if self.error else ''}"


@dataclass
class ApiClient:
    """GET base_url/path with the list options as a JSON body, as the tap sends them; counts requests."""

    base_url: str
    token: str
    count: int = 0
    session: requests.Session = field(default_factory=GetOnlySession)

    def get(self, path: str, body: dict) -> Answer:
        if self.count >= MAX_REQUESTS:
            raise RuntimeError(f"the API probe is limited to {MAX_REQUESTS} requests")
        self.count += 1
        headers = {"Accept": "application/json", "Cache-Control": "no-cache",
                   "User-Agent": tap_default("user_agent")}
        request = requests.Request("GET", f"{self.base_url}{path}", json=body, headers=headers)
        prepared = QTicketsAuthenticator(self.token)(self.session.prepare_request(request))
        try:
            response = self.session.send(prepared, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            return Answer(None, error=f"{self.base_url} cannot be reached ({type(exc).__name__})")
        if "html" in response.headers.get("Content-Type", ""):
            return Answer(response.status_code, error="an HTML page: no such API route")
        try:
            body = response.json()
        except ValueError:
            return Answer(response.status_code, error="not JSON")
        return Answer(response.status_code, body, server_now=_server_time(response.headers.get("Date")))


def _server_time(date: str | None) -> dt.datetime | None:
    """The API's clock (its `Date` header), which the tap's time decisions use too."""
    try:
        return parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None


def api_target(settings: Settings) -> tuple[str, str]:
    """Base URL and token as the tap will get them: QTICKETS_* if set, else the environment's own values
    (the demo environment's sandbox; the tap's default URL in prod)."""
    demo = settings.environment == "demo"
    base_url = settings.env.get("QTICKETS_BASE_URL") or (DEMO.base_url if demo else tap_default("base_url"))
    token = settings.env.get("QTICKETS_TOKEN") or (DEMO.token if demo else "")
    return base_url.rstrip("/"), token


def _stamp(row: dict) -> dt.datetime | None:
    return parse_api_datetime(row["updated_at"]) if row.get("updated_at") else None


def _ok(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def _warn(name: str, detail: str) -> Check:
    return Check(name, True, detail, warn=True)


def _fail(name: str, detail: str) -> Check:
    return Check(name, False, detail)


def run_probe(settings: Settings) -> list[Check]:
    base_url, token = api_target(settings)
    first = _ok("settings", f"environment {settings.environment}, API {base_url}")
    if not token:
        return [first, _fail("api", "QTICKETS_TOKEN is not set")]
    api = ApiClient(base_url, token)
    baseline = api.get("/orders", {"page": 1, "orderBy": {"id": "asc"}})
    if baseline.status == requests.codes.forbidden:
        return [first, _fail("api", f"{base_url} answered 403: QTICKETS_TOKEN is wrong or revoked")]
    if not baseline.ok:
        return [first, _fail("api", f"GET {base_url}/orders: {baseline.problem()}: check QTICKETS_BASE_URL")]
    rows = baseline.rows
    total = int(baseline.paging.get("total") or 0)
    checks = [first, _ok("api", f"token accepted; {total} orders, {len(rows)} per page by default"),
              _page_size(api, settings, total, len(rows))]
    orders_filter, filters_work = _orders_filter(api, rows)
    checks += [orders_filter, _ordering(api, len(rows)), _basket_filter(api, rows, filters_work),
               _seats(api, baseline.server_now)]
    return [*checks, _ok("requests", f"{api.count} GET requests, nothing written")]


def _page_size(api: ApiClient, settings: Settings, total: int, default: int) -> Check:
    name = "page size"
    asked = SMALL_PAGE if total > SMALL_PAGE else total - 1
    if asked == default:  # a size the API would answer anyway proves nothing
        asked -= 1
    if asked < 1:
        return _warn(name, f"cannot tell with {total} orders → the tap pages by paging.perPage")
    answers = {key: api.get("/orders", {"page": 1, key: asked, "orderBy": {"id": "asc"}})
               for key in ("per_page", "perPage")}
    if not answers["per_page"].ok:
        return _fail(name, f"per_page={asked} refused ({answers['per_page'].problem()}): the tap sends "
                           f"per_page on every list {REFUSED}")
    honoured = [key for key, answer in answers.items() if len(answer.rows) == asked]
    page_size = int(settings.env.get("TAP_QTICKETS_PAGE_SIZE") or tap_default("page_size"))
    if not honoured:
        return _warn(name, f"per_page and perPage ignored: always {default} per page → the tap pages by "
                           "paging.perPage: more requests, nothing lost")
    keys = f"{' and '.join(honoured)} honoured"
    large = api.get("/orders", {"page": 1, honoured[0]: LARGE_PAGE, "orderBy": {"id": "asc"}})
    if not large.ok:
        return _warn(name, f"{keys}; {LARGE_PAGE} per page refused ({large.problem()}) → if runs fail, "
                           f"lower TAP_QTICKETS_PAGE_SIZE (now {page_size})")
    got, reported = len(large.rows), int(large.paging.get("perPage") or 0)
    cap = got if got < min(LARGE_PAGE, total) else None
    limit = (f"at most {got} per page ({LARGE_PAGE} asked, paging.perPage {reported})" if cap else
             f"{LARGE_PAGE} per page accepted" if total > LARGE_PAGE else f"all {total} orders in one page")
    if "per_page" not in honoured:
        return _warn(name, f"{keys}, {limit} → the tap sends per_page, so it gets {default} per page: more "
                           "requests, nothing lost")
    if cap and page_size > cap and reported != got:
        return _fail(name, f"{keys}, {limit} → with page_size {page_size} the tap would take the first, "
                           f"short page for the last one: set TAP_QTICKETS_PAGE_SIZE={cap}")
    if cap and page_size > cap:
        return _warn(name, f"{keys}, {limit} → page_size {page_size} gets {cap} per page (the tap follows "
                           "paging.perPage): nothing lost")
    return _ok(name, f"{keys}, {limit} → the tap's per_page={page_size} is answered as asked")


def _orders_filter(api: ApiClient, rows: list[dict]) -> tuple[Check, bool]:
    """The answer, and whether plain filters work (when not, the tap never tries the nested one)."""
    name = "orders filter"
    stamps = {row["id"]: stamp for row in rows if (stamp := _stamp(row)) and row.get("id") is not None}
    if len(set(stamps.values())) < 2:
        return _warn(name, f"cannot tell: the first orders all have one updated_at {SELF_CHECKED}"), True
    since = max(stamps.values())
    what = f"updated_at >= {to_api_datetime(since)}"

    def check(row: dict) -> str | None:  # the tap's own check of every page, made for this filter
        stamp = _stamp(row)
        return None if stamp and stamp >= since else f"has updated_at {row.get('updated_at')}, before it"

    query = IdKeyset(len(rows), "updated_at filter",
                     [{"column": "updated_at", "operator": ">=", "value": to_api_datetime(since)}], check)
    answer = api.get("/orders", query.payload(0))
    if not answer.ok:
        return _fail(name, f"{what} refused ({answer.problem()}) {REFUSED}"), False
    try:
        query.accept(answer.rows, answer.body)
    except FiltersIgnoredError as exc:
        return _warn(name, f"{what} ignored ({exc}) {FALLBACK_SCAN}"), False
    expected = {order for order, stamp in stamps.items() if stamp == since}
    missing = expected - {row.get("id") for row in answer.rows}
    if missing:
        return _fail(name, f"{what} left out order {min(missing)}, which matches it → the tap cannot see "
                           f"that, orders would be skipped: {REPORT}"), False
    return _ok(name, f"{what} honoured ({len(answer.rows)} orders back, none before it) → the order pass "
                     "reads only the orders changed since the bookmark"), True


def _ordering(api: ApiClient, size: int) -> Check:
    name = "orders order"
    # Descending, so that an API ignoring it (ascending ids) cannot pass by chance.
    answer = api.get("/orders", {"page": 1, "per_page": max(size, 2),
                                 "orderBy": {"updated_at": "desc", "id": "desc"}})
    what = "orderBy updated_at, id (asked descending; the tap asks ascending)"
    if not answer.ok:
        return _fail(name, f"{what} refused ({answer.problem()}) {REFUSED}")
    keys = [(stamp, int(row["id"])) for row in answer.rows if (stamp := _stamp(row)) and row.get("id")]
    descending = all(a > b for a, b in itertools.pairwise(keys))
    ids_ascending = all(a[1] < b[1] for a, b in itertools.pairwise(keys))
    if len(keys) < 2 or (descending and ids_ascending):
        return _warn(name, f"{what}: cannot tell from {len(keys)} orders {SELF_CHECKED}")
    if not descending:
        return _warn(name, f"{what} ignored {FALLBACK_SCAN}")
    return _ok(name, f"{what} honoured → the order pass pages by (updated_at, id): orders changed while it "
                     "reads are not lost")


def _basket_filter(api: ApiClient, rows: list[dict], filters_work: bool) -> Check:
    name = "basket filter"
    if not filters_work:
        return _warn(name, f"{BASKET_FILTER} not tried: plain filters do not work → the order pass already "
                           "reads every order, keeping those with a changed ticket")
    newest = {row["id"]: tc.newest_ticket_change(row) for row in rows if row.get("id") is not None}
    stamps = sorted({stamp for stamp in newest.values() if stamp})
    if len(stamps) < 2:
        return _warn(name, f"{BASKET_FILTER}: cannot tell (too few tickets among the first orders) → "
                           "basket_filter auto self-checks it on every run")
    since = stamps[len(stamps) // 2]  # some of the orders have a ticket changed since, some not
    expected = {order for order, stamp in newest.items() if stamp and stamp >= since}
    tracker = tc.TicketTracker(since)  # the tap's test of "a ticket changed since"
    value = to_api_datetime(parse_api_datetime(since))
    where: list[dict] = [{"column": BASKET_FILTER, "operator": ">=", "value": value},
                         {"column": "id", "operator": "in", "value": sorted(newest)}]
    query = IdKeyset(len(newest), "nested filter", where,
                     lambda row: None if tracker.changed(row) else f"has no ticket changed since {since}")
    answer = api.get("/orders", query.payload(0))
    what, fallback = f"{BASKET_FILTER} >= {value}", BASKET_FALLBACK.format(how=NOTICES)
    if not answer.ok:
        how = "gives up on it after its retries (max_retries)"
        return _warn(name, f"{what} refused ({answer.problem()}) {BASKET_FALLBACK.format(how=how)}")
    if not answer.rows:
        return _warn(name, f"{what} matches nothing ({len(expected)} of {len(newest)} orders should) "
                           f"{fallback}")
    try:
        query.accept(answer.rows, answer.body)
    except FiltersIgnoredError as exc:
        return _warn(name, f"{what} ignored ({exc}) {fallback}")
    missing = expected - {row.get("id") for row in answer.rows}
    if missing:
        return _warn(name, f"{what} left out order {min(missing)}, which matches it {fallback}")
    return _ok(name, f"{what} honoured ({len(expected)} of {len(newest)} orders back) → basket_filter auto "
                     "uses it: the ticket pass reads only orders with a changed ticket (self-checked)")


def _pick_show(events: list[dict], now: dt.datetime) -> dict | None:
    """A show the inventory stream would read (live, neither it nor its event deleted), else any show."""
    shows = [(event, show) for event in events for show in event.get("shows") or ()]
    grace = float(tap_default("inventory_show_window"))
    for event, show in shows:
        span = tc.ShowSpan.of(int(event.get("id") or 0), show, event_deleted=bool(event.get("deleted_at")))
        if span.is_live(now, grace):
            return show
    return shows[0][1] if shows else None


def _seats(api: ApiClient, server_now: dt.datetime | None) -> Check:
    name = "seats"
    events = api.get("/events", {"page": 1, "per_page": 100, "orderBy": {"id": "desc"}})
    show = _pick_show(events.rows, server_now or dt.datetime.now(dt.UTC))
    if show is None:
        why = events.problem() if not events.ok else "no event has one"
        return _warn(name, f"cannot tell: no show found ({why}) → the inventory stream reads none either")
    answer = api.get(f"/shows/{show['id']}/seats", {"flat": True, "select": SEAT_FIELDS})
    what = f"GET /shows/{show['id']}/seats (flat, the tap's select)"
    deselect = f"deselect inventory in meltano.yml and {REPORT}"
    if answer.status == requests.codes.not_found and isinstance(answer.body, dict):
        return _warn(name, f"{what}: 404, the show is gone → the inventory stream skips such a show; "
                           "run this again")
    if not answer.ok:
        return _fail(name, f"{what}: {answer.problem()} → the inventory stream would fail runs: {deselect}")
    data = answer.body.get("data")
    seats = list(data.values()) if isinstance(data, dict) else data if isinstance(data, list) else []
    if any(isinstance(seat, dict) and "seats" in seat for seat in seats):
        return _fail(name, f"{what}: zones with nested seats (flat ignored) → inventory would count nothing: "
                           f"{deselect}")
    seats = [seat for seat in seats if isinstance(seat, dict)]
    missing = [field for field in SEAT_FIELDS if any(field not in seat for seat in seats)]
    shape = (f"a {'map' if isinstance(data, dict) else 'list'} of {len(seats)} seats in "
             f"{len({seat.get('zone_root_id') for seat in seats})} zones, "
             f"{sum(int(seat.get('max_quantity') or 0) > 1 for seat in seats)} general-admission, "
             f"{sum(bool(seat.get('disabled')) for seat in seats)} disabled")
    if not seats or missing:
        lacking = f"without {', '.join(missing)}" if missing else "empty"
        return _warn(name, f"{what}: {shape}, {lacking} → inventory counts what is missing as 0")
    return _ok(name, f"{what}: {shape}, every field the tap selects → inventory sums them per zone")
