"""`qtickets-sandbox serve|demo`."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path

from . import api
from .clock import start_time
from .query import DEFAULT_PER_PAGE, MAX_PER_PAGE
from .server import Sandbox, base_url, make_server
from .simulate import HISTORY_DAYS
from .webhook_config import BadWebhooks, parse_config

DEFAULT_TOKEN = "sandbox-token"
ENDPOINTS = [
    "GET /events",
    "GET /events/{id}",
    "GET /orders",
    "GET /orders/{id}",
    "GET /shows/{id}/seats",
    "GET /shows/{id}/barcodes",
    "GET /shows/{id}/barcode/{code}",
    "GET /clients",
    "GET /clients/{id}",
    "GET /discounts",
    "GET /discounts/{id}",
    "GET /promo-codes",
    "GET /color-themes",
]
CONTROL = [
    'POST /_sandbox/advance {"minutes": M}',
    "GET /_sandbox/truth",
    "GET|DELETE /_sandbox/requests",
    "GET|POST|DELETE /_sandbox/faults",
    'GET|POST /_sandbox/semantics {"refund_bumps_order": false}',
    'GET|POST|DELETE /_sandbox/webhooks {"url": URL, "secret": S, "time_scale": 1, "faults": {...}}',
    "GET|DELETE /_sandbox/webhooks/log",
    'GET|POST|DELETE /_sandbox/live {"changes_per_second": 100, "seconds": 60}',
]


def _positive(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qtickets-sandbox", description="A local fake of the QTickets REST API."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("serve", "serve the API until interrupted"),
        ("demo", "start on a free port, print what is served, exit"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=_positive, default=0, help="0 picks a free port")
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--orders", type=_positive, default=2000 if name == "serve" else 500)
        p.add_argument("--events", type=_positive, default=12 if name == "serve" else 8)
        p.add_argument("--history-days", type=_positive, default=HISTORY_DAYS,
                       help="the orders are spread over this many days before the clock")
        p.add_argument("--token", default=DEFAULT_TOKEN)
        p.add_argument("--start-date", default=None, help="YYYY-MM-DD; the clock starts at 12:00 Moscow time")
        p.add_argument("--start-at", default=None,
                       help="ISO date-time the clock starts at (wins over --start-date)")
        p.add_argument("--refund-bumps-order", choices=("true", "false"), default="true",
                       help="whether a refund changes the order's updated_at (production: unknown)")
        if name == "serve":
            p.add_argument("--webhook-url", default=None,
                           help="POST a webhook to this URL for every order change from start-up on")
            p.add_argument("--webhook-secret", default="", help="shared secret of the X-Signature HMAC")
            p.add_argument("--webhook-time-scale", type=float, default=1.0,
                           help="divides the retry waits (n**3 s) and delays; 1 = real time")
            p.add_argument("--clock-file", default=None,
                           help="keep the clock here: every /advance writes it, and a restart moves the "
                                "clock on to it (the same seed replays the same history)")
    return parser


def _build(args) -> Sandbox:
    try:
        now = start_time(args.start_date, args.start_at)
    except ValueError as exc:
        raise SystemExit(f"qtickets-sandbox: {exc}") from exc
    if args.events < 1:
        raise SystemExit("qtickets-sandbox: --events must be at least 1")
    semantics = {"refund_bumps_order": args.refund_bumps_order == "true"}
    webhooks = None
    if getattr(args, "webhook_url", None) is not None:
        webhooks = {"url": args.webhook_url, "secret": args.webhook_secret,
                    "time_scale": args.webhook_time_scale}
        try:  # before the history is generated, so a typo fails at once
            parse_config(webhooks)
        except BadWebhooks as exc:
            raise SystemExit(f"qtickets-sandbox: --webhook-* options: {exc}") from exc
    return Sandbox(args.seed, now, args.orders, args.events, args.token, semantics, webhooks,
                   args.history_days)


def serve(args) -> int:
    sandbox = _build(args)
    if args.clock_file:
        sandbox.keep_clock(Path(args.clock_file))
    try:
        server = make_server(sandbox, args.host, args.port)
    except OSError as exc:
        raise SystemExit(f"qtickets-sandbox: cannot listen on {args.host}:{args.port}: {exc}") from exc
    print(f"qtickets-sandbox listening on {base_url(server)}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _get(url: str, token: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method="GET",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def demo(args) -> int:
    import threading

    sandbox = _build(args)
    server = make_server(sandbox, args.host, args.port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = base_url(server)
    try:
        out = sys.stdout
        out.write(f"qtickets-sandbox listening on {url}\n")
        out.write(f"token: {args.token}  (header: Authorization: Bearer <token>)\n")
        out.write(
            f"clock: {sandbox.state.now.isoformat()}  seed: {args.seed}\n\nAPI endpoints "
            f"(options as a JSON body on GET: where, orderBy, page, per_page|perPage <= {MAX_PER_PAGE}):\n"
        )
        for line in ENDPOINTS:
            out.write(f"  {line}\n")
        out.write("control endpoints:\n" + "".join(f"  {line}\n" for line in CONTROL))
        out.write("\npaging totals (default page size):\n")
        for name in api.RESOURCE_NAMES:
            page = _get(f"{url}/{name}", args.token)
            out.write(f"  /{name}: total {page['paging']['total']} (perPage {DEFAULT_PER_PAGE[name]})\n")
        orders = _get(
            f"{url}/orders",
            args.token,
            {"where": [{"column": "payed", "value": 1}], "orderBy": {"id": "desc"}, "per_page": 1},
        )
        events = _get(
            f"{url}/events",
            args.token,
            {"per_page": 1, "select": ["id", "name", "city", "shows.id", "shows.start_date"]},
        )
        if orders["data"]:
            order = orders["data"][0]
            order["baskets"] = order["baskets"][:1]
            out.write("\nsample paid order (first basket only):\n")
            out.write(json.dumps(order, ensure_ascii=False, indent=2) + "\n")
        if events["data"]:
            out.write("\nsample event (selected fields):\n")
            out.write(json.dumps(events["data"][0], ensure_ascii=False, indent=2) + "\n")
        out.write(
            f"\ntry: curl -s -X GET {url}/orders -H 'Authorization: Bearer {args.token}' "
            "-H 'Content-Type: application/json' -d '{\"page\":1,\"per_page\":2}'\n"
        )
        out.flush()
    finally:
        server.shutdown()
        server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return serve(args) if args.command == "serve" else demo(args)


if __name__ == "__main__":
    sys.exit(main())
