"""Synthetic staging data for bench/views.py, written straight into ClickHouse with `INSERT … SELECT …
FROM numbers(…)` (millions of rows in seconds) into tables the target itself creates from the tap's schemas,
so the columns and types are exactly those of a real load.

The account: `days` of history, tickets paid evenly over it (ticket ids grow with time, as in QTickets), 8
events go on sale every 14 days and sell for 6 weeks, 4 shows each, the first one 2 weeks after its sale
window; 5 zones, 20 cities in 10 time zones. 97 % of tickets are paid, 3 % of those refunded, 1 % deleted,
1 % in deleted orders; 80 % of the sold tickets of past shows were scanned. Every load re-sends all events
and shows and snapshots the seat inventory of live shows.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime

from tap_qtickets.schemas import stream_schema
from target_clickhouse import ClickHouseConnector

# The tap's keys (`account` last): the marts compare accounts, so staging must hold one (here '').
KEYS = {"events": ["id", "account"], "shows": ["id", "account"], "orders": ["id", "account"],
        "sales": ["id", "account"], "inventory": ["show_id", "zone_id", "snapshot_at", "account"]}
WINDOW_S = 14 * 86400
EVENTS_PER_WINDOW = 8
ZONES = ["PARTERRE", "BALCONY", "AMPHI", "LOGE", "VIP"]
TIME_ZONES = ["Europe/Moscow", "Asia/Novosibirsk", "Asia/Yekaterinburg", "Europe/Kaliningrad",
              "Asia/Krasnoyarsk", "Europe/Samara", "Asia/Omsk", "Asia/Vladivostok", "Asia/Irkutsk",
              "Europe/Volgograd"]
VERSION_STEP = 10**12  # load L's versions start at L × 10^12: increasing across loads, like the target's

SALES_COLUMNS = ("id, order_id, event_id, show_id, seat_id, zone_id, price, original_price, "
                 "discount_value, refunded_amount, payed, payed_at, order_updated_at, order_deleted_at, "
                 "checked_at, created_at, updated_at, deleted_at, refunded_at, _sdc_extracted_at, "
                 "_sdc_received_at, _sdc_batched_at, _sdc_version")

# One ticket per row of `ids` (id, t = paid at in epoch seconds, scan_now, refund_now): a function of the id
# only, so re-sending an id re-sends the same ticket (unless scan_now / refund_now change it).
TICKETS = """
SELECT id, intDiv(id, 3), ev, ev * 10 + k, concat(zone, '-', toString(h % 30), ';', toString(id % 50)), zone,
       price, price + 100, toDecimal64(100, 2), if(refunded, price, NULL), paid, if(paid, at(t), NULL),
       at(t + 120), if(odel, at(t + 3600), NULL),
       if(scan_now, at({now}), if(scanned, at(show_s - 1800 + h2 % 3600), NULL)), at(t - 60),
       if(scan_now OR refund_now, at({now}), at(t + 60)), if(del, at(t + 7200), NULL),
       if(refunded, if(refund_now, at({now}), at(t + 86400)), NULL), at({batch}), at({batch}), at({batch}),
       {version} + rowNumberInAllBlocks()
FROM
(
    SELECT id, t, scan_now, refund_now, h, h2, ev, k, show_s,
           ['PARTERRE', 'BALCONY', 'AMPHI', 'LOGE', 'VIP'][intDiv(h, 96) % 5 + 1] AS zone,
           toDecimal64(500 + intDiv(h, 480) % 20 * 250, 2) AS price,
           intDiv(h2, 10) % 100 < 97 AS paid,
           refund_now OR (paid AND intDiv(h2, 1000) % 100 < 3) AS refunded,
           intDiv(h2, 100000) % 100 = 0 AS del, intDiv(h2, 10000000) % 100 = 0 AS odel,
           paid AND NOT refunded AND show_s + 3600 < {now} AND h2 % 10 < 8 AS scanned
    FROM
    (
        SELECT id, t, scan_now, refund_now, cityHash64(id) AS h, cityHash64(id, 2) AS h2,
               (intDiv(t - {start}, {window}) + h % 3) * {per_window} + intDiv(h, 3) % {per_window} + 1 AS ev,
               intDiv(h, 24) % 4 AS k,
               {start} + (intDiv(ev - 1, {per_window}) + 1) * {window} + k * 86400 + 19 * 3600 AS show_s
        FROM ({ids})
    )
)
"""


def ts(seconds: str) -> str:
    """Epoch seconds (a SQL expression) as the target's DateTime64(6, 'UTC')."""
    return f"toDateTime64({seconds}, 6, 'UTC')"


@dataclasses.dataclass
class Account:
    """The synthetic account and the loads written so far."""

    client: object
    database: str
    tickets: int
    days: int
    now_s: int = dataclasses.field(default_factory=lambda: int(datetime.now(UTC).timestamp()) // 60 * 60)
    loads: int = 0
    rows: int = 0
    added: int = 0  # tickets written by half-hour loads after the first `tickets`

    @property
    def start_s(self) -> int:
        return self.now_s - self.days * 86400

    @property
    def events(self) -> int:
        return (self.days * 86400 // WINDOW_S + 4) * EVENTS_PER_WINDOW

    def table(self, stream: str) -> str:
        return f"{self.database}.stg_qtickets_{stream}_raw"

    def ticket_time(self, id_expr: str) -> str:
        return f"{self.start_s} + intDiv(({id_expr}) * {self.days * 86400}, {self.tickets})"

    def insert_tickets(self, ids: str, batch_s: int, version: int) -> None:
        sql = expand_at(TICKETS).format(
            ids=ids, now=self.now_s, batch=batch_s, version=version, start=self.start_s, window=WINDOW_S,
            per_window=EVENTS_PER_WINDOW)
        self.client.command(f"INSERT INTO {self.table('sales')} ({SALES_COLUMNS}) {sql}")

    def reference_data(self, batch_s: int, version: int) -> None:
        """Every event and show again (as each run of the tap sends them), and the inventory of live shows."""
        cities = ", ".join(f"'{tz}'" for tz in TIME_ZONES)
        start = ts(str(self.start_s))
        self.client.command(f"""
            INSERT INTO {self.table('events')} (id, name, is_active, city_id, city_name, city_timezone,
                place_name, created_at, updated_at, deleted_at, _sdc_batched_at, _sdc_version)
            SELECT number + 1, concat('Event ', toString(number + 1)), 1, number % 20 + 1,
                   concat('City ', toString(number % 20 + 1)), [{cities}][number % 10 + 1], 'Hall',
                   {start}, {start}, if(number % 97 = 5, {start}, NULL),
                   {ts(str(batch_s))}, {version} + number
            FROM numbers({self.events})""")
        show = f"{self.start_s} + (intDiv(e - 1, {EVENTS_PER_WINDOW}) + 1) * {WINDOW_S} + k * 86400 + 68400"
        self.client.command(f"""
            INSERT INTO {self.table('shows')} (id, event_id, is_active, start_date, finish_date, created_at,
                updated_at, deleted_at, _sdc_batched_at, _sdc_version)
            SELECT e * 10 + k, e, 1, {ts(show)}, {ts(show + ' + 10800')}, {start}, {start},
                   if(cityHash64(e, k) % 100 = 0, {start}, NULL),
                   {ts(str(batch_s))}, {version} + 1000000 + number
            FROM (SELECT intDiv(number, 4) + 1 AS e, number % 4 AS k, number
                  FROM numbers({self.events * 4}))""")
        zones = ", ".join(f"'{z}'" for z in ZONES)
        self.client.command(f"""
            INSERT INTO {self.table('inventory')} (show_id, event_id, zone_id, snapshot_at, capacity, free,
                sold, held, disabled, _sdc_batched_at, _sdc_version)
            SELECT e * 10 + k, e, [{zones}][z + 1], {ts(str(batch_s))}, 1000, 1000 - s - 10 - 2, s, 10, 2,
                   {ts(str(batch_s))}, {version} + 2000000 + number
            FROM (SELECT intDiv(number, 20) + 1 AS e, intDiv(number, 5) % 4 AS k, number % 5 AS z,
                         toInt64(cityHash64(number, {batch_s}) % 900) AS s, number
                  FROM numbers({self.events * 20}))
            WHERE {show} + 10800 + 86400 > {batch_s} AND {show} - 60 * 86400 < {batch_s}""")

    def load(self, lo: int, hi: int, reloaded: float) -> None:
        """One load: tickets [lo, hi) and new versions of `reloaded` × (hi - lo) earlier tickets."""
        batch_s = self.now_s - (10 - self.loads) * 1800
        version = (self.loads + 1) * VERSION_STEP
        self.insert_tickets(f"SELECT number AS id, {self.ticket_time('number')} AS t, false AS scan_now, "
                            f"false AS refund_now FROM numbers({lo}, {hi - lo})", batch_s, version)
        again = int((hi - lo) * reloaded) if lo else 0
        if again:
            ids = f"cityHash64({self.loads}, number) % {lo}"
            self.insert_tickets(f"SELECT {ids} AS id, {self.ticket_time(ids)} AS t, false AS scan_now, "
                                f"false AS refund_now FROM numbers({again})", batch_s,
                                version + VERSION_STEP // 2)
        self.reference_data(batch_s, version + VERSION_STEP // 4)
        self.loads += 1
        self.rows += hi - lo + again


def expand_at(template: str) -> str:
    """The template's `at(x)` shorthand as ClickHouse: toDateTime64(x, 6, 'UTC')."""
    out, i = [], 0
    while (j := template.find("at(", i)) != -1:
        if j and (template[j - 1].isalnum() or template[j - 1] == "_"):
            out.append(template[i:j + 3])
            i = j + 3
            continue
        depth, k = 1, j + 3
        while depth:
            depth += {"(": 1, ")": -1}.get(template[k], 0)
            k += 1
        out.append(template[i:j] + f"toDateTime64({expand_at(template[j + 3:k - 1])}, 6, 'UTC')")
        i = k
    out.append(template[i:])
    return "".join(out)


def create_staging(connector: ClickHouseConnector) -> None:
    """The staging tables, made by the target from the tap's schemas (the same DDL as a real load)."""
    for stream, keys in KEYS.items():
        connector.prepare_table(stream, connector.table_name(stream), stream_schema(stream), keys)


def build(connector: ClickHouseConnector, tickets: int, loads: int, reloaded: float, days: int) -> Account:
    create_staging(connector)
    account = Account(connector.client, connector.database, tickets, days)
    bounds = [tickets * i // loads for i in range(loads + 1)]
    for lo, hi in itertools.pairwise(bounds):
        account.load(lo, hi, reloaded)
    return account


def half_hour_load(account: Account, new: int, resent: int, scanned: int, refunded: int) -> dict[str, int]:
    """A typical 30-minute load: new tickets paid in the last half hour, the tickets of the last 2 hours
    sent again unchanged (the tap's look-back), scans at the next shows and refunds of tickets bought in
    the last 60 days, plus events, shows and inventory as every run sends them. Returns the tickets of
    each kind actually written."""
    a, now, top = account, account.now_s, account.tickets + account.added
    version = (a.loads + 1) * VERSION_STEP
    live = (f"SELECT DISTINCT id FROM {a.table('sales')} WHERE show_id IN (SELECT id FROM {a.table('shows')} "
            f"WHERE start_date >= {ts(str(now - 10800))} ORDER BY start_date LIMIT 4) AND payed "
            f"AND refunded_at IS NULL LIMIT {scanned}")
    recent = (f"SELECT DISTINCT id FROM {a.table('sales')} WHERE id >= {top - a.tickets * 60 // a.days} AND "
              f"refunded_at IS NULL AND payed ORDER BY cityHash64(id) LIMIT {refunded}")
    kinds = {
        "new": f"SELECT {top} + number AS id, {now} - 1800 + intDiv(number * 1800, {new}) AS t, "
               f"false AS scan_now, false AS refund_now FROM numbers({new})",
        # A re-read sends a ticket as it is now: not one a half-hour load scanned or refunded (their rows
        # carry `now`), whose re-sent original would be an older state by the source's clock.
        "resent": f"SELECT id, {a.ticket_time('id')} AS t, false AS scan_now, false AS refund_now FROM "
                  f"(SELECT {a.tickets} - 1 - number AS id FROM numbers({resent})) WHERE id NOT IN "
                  f"(SELECT id FROM {a.table('sales')} WHERE updated_at >= {ts(str(now))})",
        "scanned": f"SELECT id, {a.ticket_time('id')} AS t, true AS scan_now, false AS refund_now "
                   f"FROM ({live})",
        "refunded": f"SELECT id, {a.ticket_time('id')} AS t, false AS scan_now, true AS refund_now "
                    f"FROM ({recent})",
    }
    written = {}
    for i, (kind, ids) in enumerate(kinds.items()):
        first = version + i * 10**9
        a.insert_tickets(ids, now, first)
        written[kind] = int(a.client.command(f"SELECT count() FROM {a.table('sales')} "
                                             f"WHERE _sdc_version BETWEEN {first} AND {first + 10**9 - 1}"))
    a.reference_data(now, version + len(kinds) * 10**9)
    a.loads += 1
    a.added += new
    return written

