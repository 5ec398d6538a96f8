"""`qtickets-pipeline webhooks serve`: the HTTP endpoint QTickets posts order changes to (aiohttp).

`POST /qtickets/webhook[/<account>]` (secrets.py says whose):
- a body over 1 MB → 413 (aiohttp's `client_max_size`, before the body is read in full);
- no or a wrong `X-Signature` (hex HMAC-SHA1 of the raw body) → 403; an account without a secret → 404;
- a body that is not a JSON object with an order `id` → 400;
- otherwise the raw body is appended to the spool and fsync'd (spool.py) and only then answered 200, so a
  payload QTickets was told is received survives a `kill -9` right after. Nothing is stored for any other
  answer, so QTickets' retries (n³ s, 10 attempts) bring it again.
`GET /qtickets/webhook/health` → 200 with what the receiver holds (no secrets): for monitoring.

The loader thread (loader.py) takes the bodies from the spool into the warehouse.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path

from aiohttp import web

from .. import logs
from ..settings import Settings
from . import payloads
from .loader import Loader
from .secrets import Endpoints, endpoints
from .spool import Spool

log = logs.get("webhooks")

PATH = "/qtickets/webhook"
MAX_BODY_BYTES = 1 << 20
SPOOL_DIR = "webhooks"
ENDPOINTS: web.AppKey[Endpoints] = web.AppKey("endpoints", Endpoints)
SPOOL: web.AppKey[Spool] = web.AppKey("spool", Spool)
LOADER: web.AppKey[Loader] = web.AppKey("loader", Loader)


def spool_dir(settings: Settings) -> Path:
    """Where the receiver spools (under the pipeline's state directory)."""
    return settings.state_dir / SPOOL_DIR


async def receive(request: web.Request) -> web.Response:
    endpoint = request.app[ENDPOINTS].find(request.match_info.get("account"))
    if endpoint is None:
        return web.Response(status=404, text="unknown account (or its secret is not set)\n")
    body = await request.read()  # raises 413 beyond client_max_size
    if not endpoint.verifies(body, request.headers.get("X-Signature")):
        log.warning("webhooks: %s for %s: bad or missing X-Signature (403; nothing stored)",
                    request.path, endpoint.account)
        return web.Response(status=403, text="bad signature\n")
    try:
        order = payloads.decode(body)
    except payloads.PayloadError as exc:
        return web.Response(status=400, text=f"{exc}\n")
    if order.get("id") is None:
        return web.Response(status=400, text="not an order: no id\n")
    event = request.headers.get("X-Event-Type", "")[:64]
    await request.app[SPOOL].append(endpoint.account, event, time.time(), body)
    return web.Response(text="ok\n")


async def health(request: web.Request) -> web.Response:
    spool, loader = request.app[SPOOL], request.app[LOADER]
    return web.json_response({"loaded": loader.loaded, "spooled_bytes": spool.backlog(spool.cursor()),
                              "accounts": sorted(request.app[ENDPOINTS].by_account)})


def make_app(found: Endpoints, spool: Spool, loader: Loader) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[ENDPOINTS], app[SPOOL], app[LOADER] = found, spool, loader
    app.router.add_get(f"{PATH}/health", health)
    app.router.add_post(PATH, receive)
    app.router.add_post(PATH + "/{account}", receive)
    return app


async def _serve(settings: Settings, host: str, port: int, latency_log: Path | None) -> None:
    found = endpoints(settings)
    for variable in found.unset:
        log.warning("webhooks: %s is not set: that account's URL answers 404", variable)
    spool = Spool(spool_dir(settings))
    loader = Loader(settings, spool, latency_log=latency_log)
    loader.start()
    runner = web.AppRunner(make_app(found, spool, loader), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    log.info("webhooks: listening on http://%s:%s%s (accounts: %s), spool %s", bound[0], bound[1], PATH,
             ", ".join(f"{a} → {PATH}" + ("" if e is found.base else f"/{a}")
                       for a, e in found.by_account.items()), spool.directory)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):  # plain handlers: they survive embedded ClickHouse's start
        signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop.set))
    try:
        await stop.wait()
    finally:
        log.info("webhooks: stopping (the batch in hand is finished, the rest stays in the spool)")
        await runner.cleanup()
        await asyncio.to_thread(loader.stop)
        spool.close()


def serve(settings: Settings, host: str, port: int, latency_log: Path | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(settings, host, port, latency_log))
