"""tap-qtickets: QTickets REST API v1 → Singer (events, shows, orders, sales, inventory, reference lists)."""

from __future__ import annotations

import gc
import json
import sys
import typing as t

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from tap_qtickets._fastpath import ReportedSync
from tap_qtickets.errors import QTicketsError
from tap_qtickets.normalize import parse_api_datetime
from tap_qtickets.orders import OrdersStream
from tap_qtickets.sales import SalesStream
from tap_qtickets.schemas import ACCOUNT_PATTERN, DEFAULT_ACCOUNT, mark_account, mark_pii
from tap_qtickets.shared import DEFAULT_START_DAYS, RunShared
from tap_qtickets.streams import (
    ClientsStream,
    ColorThemesStream,
    DiscountsStream,
    EventsStream,
    InventoryStream,
    PromoCodesStream,
    ShowsStream,
)
from tap_qtickets.sync_report import SyncReport, failed_state
from tap_qtickets.writer import BufferedMsgSpecWriter

# http(s)://host[:port] then nothing, or a path/query: checked by the SDK before any request is made.
BASE_URL_PATTERN = r"^https?://[^\s/:?#]+(:[0-9]+)?([/?#]\S*)?$"
GC_YOUNG_THRESHOLD = 50_000  # allocations between young collections (CPython's default: 700)
GIL_SWITCH_SECONDS = 0.0005
STREAM_TYPES = [EventsStream, ShowsStream, InventoryStream, OrdersStream, SalesStream, ClientsStream,
                DiscountsStream, PromoCodesStream, ColorThemesStream]


class TapQTickets(ReportedSync, Tap):
    """Read-only Singer tap for the QTickets organiser REST API."""

    name = "tap-qtickets"
    message_writer_class = BufferedMsgSpecWriter  # msgspec encoding, RECORDs written in 1 MB batches

    config_jsonschema = th.PropertiesList(
        th.Property("api_token", th.StringType, required=True, secret=True,
                    description="QTickets REST API token (cabinet → Settings → Main). Sent only as a "
                                "Bearer header; never logged."),
        th.Property("base_url", th.StringType(pattern=BASE_URL_PATTERN), default="https://qtickets.ru/api/rest/v1",
                    description="REST API base URL: http(s)://host[:port]/path, without a trailing slash."),
        th.Property("start_date", th.DateTimeType,
                    description="Earliest order `updated_at` to load on the first run "
                                f"(default: {DEFAULT_START_DAYS} days before now). Ignored once a "
                                "bookmark exists."),
        th.Property("end_date", th.DateTimeType,
                    description="Optional latest order `updated_at` to load (inclusive)."),
        th.Property("lookback_minutes", th.IntegerType(minimum=0), default=120,
                    description="Orders and tickets are re-read from their bookmark minus this many "
                                "minutes, to catch late or clock-skewed updates (default 2 h)."),
        th.Property("deep_lookback_minutes", th.IntegerType(minimum=0), default=3 * 24 * 60,
                    description="The look-back of the deep pass (default 3 days)."),
        th.Property("deep_pass_hours", th.IntegerType(minimum=1), default=23,
                    description="A run makes a deep pass when the last one (kept in state, server clock) is "
                                "this many hours old; with a 30-minute schedule every change reaches the "
                                "warehouse within 24 h even when the nested filter is unavailable."),
        th.Property("basket_filter", th.StringType, default="auto", allowed_values=["auto", "off"],
                    description="Ticket changes that do not touch the order (scans, refunds): `auto` reads "
                                "them with the self-checked nested filter `baskets.updated_at`, falling back "
                                "to comparing each live show's ticket list (GET /shows/{id}/barcodes, "
                                "hashed) with the previous run's and re-reading the orders of the events "
                                "whose list changed; `off` always falls back."),
        th.Property("page_size", th.IntegerType(minimum=1), default=100,
                    description="Items requested per page (`per_page` in the JSON body)."),
        th.Property("refund_horizon_days", th.IntegerType(minimum=0), default=14,
                    description="Without the nested filter, the deep pass also compares the ticket lists of "
                                "shows finished up to this many days ago (late refunds); changes to tickets "
                                "of shows finished earlier are only found by the nested filter."),
        th.Property("inventory_show_window", th.IntegerType(minimum=0), default=24,
                    description="A show is live until this many hours after it finishes: seat snapshots are "
                                "taken of live shows that are not deleted (nor their event), and the ticket "
                                "fallback checks the ticket list of every live show at each run."),
        th.Property("request_timeout", th.NumberType(exclusive_minimum=0), default=60,
                    description="Seconds to wait for a response before retrying."),
        th.Property("max_retries", th.IntegerType(minimum=0), default=5,
                    description="Retries after a 5xx, 429, timeout, dropped connection or truncated "
                                "body before the run fails."),
        th.Property("retry_backoff_seconds", th.NumberType(minimum=0), default=1.0,
                    description="First retry wait; doubles each retry (max 60 s). `Retry-After` wins."),
        th.Property("account", th.StringType(pattern=ACCOUNT_PATTERN), default=DEFAULT_ACCOUNT,
                    description="The name of this QTickets account in the warehouse: every record carries it "
                                "(`account`, part of every key), so several accounts load into one warehouse "
                                "without their ids colliding. Letters, digits, `_` and `-`."),
        th.Property("include_pii", th.BooleanType, default=False,
                    description="Keep buyer/holder e-mails, phones, names, card masks, barcodes, promo "
                                "codes and pay/cancel/pdf/passbook links (dropped by default)."),
        th.Property("user_agent", th.StringType, default="tap-qtickets/0.1.0",
                    description="User-Agent header sent with every request."),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        # Before the SDK builds the streams, which keep a reference.
        self.shared = RunShared(sync=SyncReport(self.name))
        super().__init__(*args, **kwargs)
        self.shared.sync.account = str(self.config.get("account") or DEFAULT_ACCOUNT)
        if kwargs.get("validate_config", True):
            check_dates(self.config)

    def setup_mapper(self) -> None:
        # An input catalog may come from a discovery with other settings: re-mark its PII properties
        # before the mapper registers the selected schemas (what the SCHEMA messages will hold).
        # Its `account` too: the default a SCHEMA message gives is what rows loaded before the column existed
        # take in the warehouse (an in-place upgrade), so it must be this run's account.
        include_pii = bool(self.config.get("include_pii", False))
        account = str(self.config.get("account") or DEFAULT_ACCOUNT)
        for entry in self.catalog.streams:
            mark_pii(entry.metadata, entry.tap_stream_id, include_pii=include_pii)
            mark_account(entry, account)
        super().setup_mapper()

    def discover_streams(self) -> list:
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        tune_runtime()
        try:
            super().invoke(*args, **kwargs)
        except QTicketsError as exc:
            cls.logger.error("tap-qtickets failed: %s", exc)
            sys.exit(1)
        except ConfigValidationError as exc:  # the config constraints above, one line for all of them
            error = f"invalid settings: {'; '.join(exc.errors)}"
            cls.logger.error("tap-qtickets failed: %s", error)
            cls.write_failed_state(error)
            sys.exit(1)

    @classmethod
    def write_failed_state(cls, error: str) -> None:
        """A sync refused before it started still reports why, in the STATE a target reads."""
        line = json.dumps({"type": "STATE", "value": failed_state(cls.name, error)})
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def tune_runtime() -> None:
    """A run builds millions of short-lived, acyclic dicts while a worker thread reads the next page:

    - the cyclic garbage collector's passes over them, and over the objects alive after start-up (frozen
      out of collection here), cost about a sixth of the CPU at the default thresholds;
    - a page arrives in ~100 socket reads, and after each one the reader waits for the GIL until the thread
      processing the previous page gives it up: every 5 ms by default, every 0.5 ms here.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 100)
    sys.setswitchinterval(GIL_SWITCH_SECONDS)


def check_dates(config: t.Mapping[str, t.Any]) -> None:
    """The date settings parse (the SDK does not check `date-time` formats), before any request."""
    errors = []
    for name in ("start_date", "end_date"):
        value = config.get(name)
        if not value:
            continue
        try:
            parse_api_datetime(str(value))
        except ValueError as exc:
            errors.append(f"{value!r} is not a date or date-time ({exc}) in config['{name}']")
    if errors:
        raise ConfigValidationError("invalid settings", errors=errors)


if __name__ == "__main__":
    TapQTickets.cli()
