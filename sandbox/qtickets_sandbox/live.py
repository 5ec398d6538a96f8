"""Live activity (/_sandbox/live): real order changes at a steady real-time rate, for webhook benches.

Each tick moves the sandbox clock by `clock_step_seconds`, lets the simulation make whatever it had queued
for that moment (payments, expiries, scans… of earlier orders) and, if that changed nothing, makes one change
itself through the simulation's own handlers (so the consequences of a new order or payment are queued like
any other). The pace counts order changes, i.e. webhooks: `changes_per_second` of them in real time.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import timedelta

from .simulate import Simulation
from .timefmt import fmt

DEFAULT_MIX = {"create": 30, "pay": 25, "scan": 18, "edit": 7, "cancel": 8, "refund": 8, "uncheck": 4}
LIMITS = {"changes_per_second": (1e-3, 5000.0), "seconds": (1e-3, 86400.0),
          "clock_step_seconds": (0.0, 3600.0)}
DEFAULT_CLOCK_STEP = 1.0


class BadLive(ValueError):
    pass


class LiveBusy(RuntimeError):
    pass


def parse_live(raw) -> dict:
    if not isinstance(raw, dict):
        raise BadLive('live body must be an object like {"changes_per_second": 100, "seconds": 60}, '
                      f"got {raw!r}")
    unknown = sorted(set(raw) - {*LIMITS, "mix"})
    if unknown:
        raise BadLive(f"live: unknown key(s) {unknown}; known: {sorted({*LIMITS, 'mix'})}")
    out: dict = {}
    for key, (low, high) in LIMITS.items():
        value = raw.get(key, DEFAULT_CLOCK_STEP if key == "clock_step_seconds" else None)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise BadLive(f"live {key!r} must be a number in [{low}, {high}], got {value!r}")
        out[key] = float(value)
    mix = raw.get("mix", DEFAULT_MIX)
    if (not isinstance(mix, dict) or set(mix) - set(DEFAULT_MIX)
            or any(isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 for w in mix.values())
            or not any(mix.values())):
        raise BadLive(f"live 'mix' must map some of {sorted(DEFAULT_MIX)} to weights >= 0 (not all 0), "
                      f"got {mix!r}")
    out["mix"] = dict(mix)
    return out


class LiveActivity:
    def __init__(self, sim: Simulation):
        self.sim = sim
        self.state = sim.state
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._runs = 0
        self._status: dict = {"running": False}
        self.rng = random.Random(0)
        # Candidates for each kind of change, kept between ticks; stale members are dropped when drawn.
        self.pending: list[int] = []
        self.paid: list[int] = []
        self.checked: list[tuple[int, int]] = []

    # ---- control -------------------------------------------------------------------------------------
    def start(self, raw) -> dict:
        options = parse_live(raw)
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise LiveBusy("live activity is already running; DELETE /_sandbox/live stops it")
            self._runs += 1
            self.rng = random.Random(self.state.seed * 1009 + self._runs)
            self._stop.clear()
            with self.state.lock:
                self._build_pools()
                clock = fmt(self.state.now)
            self._status = {
                "running": True, **{k: v for k, v in options.items() if k != "mix"}, "mix": options["mix"],
                "goal": round(options["changes_per_second"] * options["seconds"]), "changes": 0,
                "explicit": {}, "scheduled": 0, "idle_ticks": 0, "elapsed_seconds": 0.0,
                "started_clock": clock, "clock": clock, "error": None,
            }
            self._thread = threading.Thread(target=self._run, args=(options,), name="qtickets-sandbox-live",
                                            daemon=True)
            self._thread.start()
        return self.status()

    def stop(self) -> dict:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=30)
        return self.status()

    def status(self) -> dict:
        with self._lock:
            return dict(self._status)

    # ---- the run ---------------------------------------------------------------------------------------
    def _build_pools(self) -> None:
        orders = self.state.orders.values()
        self.pending = [o["id"] for o in orders if not o["payed"] and not o["deleted_at"]]
        self.paid = [o["id"] for o in orders if o["payed"] and not o["deleted_at"]]
        self.checked = [(oid, i) for oid in self.paid
                        for i, b in enumerate(self.state.orders[oid]["baskets"]) if b["checked_at"]]

    def _run(self, options: dict) -> None:
        rate, step = options["changes_per_second"], timedelta(seconds=options["clock_step_seconds"])
        kinds, weights = zip(*options["mix"].items(), strict=True)
        goal = round(rate * options["seconds"])
        started = time.monotonic()
        deadline = started + options["seconds"] * 2 + 5  # stop even if the machine cannot keep up
        made = idle = 0
        explicit: Counter = Counter()
        try:
            while made < goal and time.monotonic() < deadline:
                pause = started + (made + idle) / rate - time.monotonic()
                if pause > 0 and self._stop.wait(pause):
                    break
                if self._stop.is_set():
                    break
                st = self.state
                with st.lock:
                    before = st.order_changes
                    self.sim.run_until(st.now + step)
                    scheduled = st.order_changes - before
                    kind = None if scheduled else self._change(kinds, weights)
                    changes = st.order_changes - before
                    clock = fmt(st.now)
                made += changes
                idle += not changes
                if kind:
                    explicit[kind] += 1
                with self._lock:
                    self._status.update(changes=made, scheduled=self._status["scheduled"] + scheduled,
                                        idle_ticks=idle, explicit=dict(explicit), clock=clock,
                                        elapsed_seconds=round(time.monotonic() - started, 3))
        except Exception as exc:  # surfaced in GET /_sandbox/live rather than lost in a thread
            with self._lock:
                self._status["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self._status.update(running=False, elapsed_seconds=round(time.monotonic() - started, 3))

    def _change(self, kinds, weights) -> str | None:
        """One change at the clock: the drawn kind if it is possible now, else the first possible one."""
        first = self.rng.choices(kinds, weights)[0]
        for kind in (first, "create", *DEFAULT_MIX):
            if self._try(kind):
                return kind
        return None

    def _pick(self, pool: list, valid):
        """A random live member of `pool`; members no longer valid are dropped on the way."""
        while pool:
            i = int(self.rng.random() * len(pool))
            if valid(pool[i]):
                return pool[i]
            pool[i] = pool[-1]
            pool.pop()
        return None

    def _try(self, kind: str) -> bool:
        st, sim, rng = self.state, self.sim, self.rng
        t, counts, before = st.now, Counter[str](), st.order_changes
        orders = st.orders
        pending = lambda oid: not orders[oid]["payed"] and not orders[oid]["deleted_at"]  # noqa: E731
        paid = lambda oid: orders[oid]["payed"] and not orders[oid]["deleted_at"]  # noqa: E731
        if kind == "create":
            order = sim.apply("create", t, counts)
            if order is not None:
                self.pending.append(order["id"])
        elif kind in ("pay", "cancel"):
            oid = self._pick(self.pending, pending)
            if oid is not None:
                sim.apply(kind, t, counts, oid)
                if kind == "pay" and orders[oid]["payed"]:
                    self.paid.append(oid)
        elif kind == "uncheck":
            pair = self._pick(self.checked,
                              lambda p: paid(p[0]) and orders[p[0]]["baskets"][p[1]]["checked_at"])
            if pair is not None:
                sim.apply("uncheck", t, counts, *pair)
        else:  # scan, edit, refund: a paid order with a ticket that allows it
            for _ in range(8):
                oid = self._pick(self.paid, paid)
                if oid is None:
                    break
                open_tickets = [i for i, b in enumerate(orders[oid]["baskets"]) if not b["refunded_at"]
                                and not (kind != "edit" and b["checked_at"])]
                if not open_tickets:
                    continue
                if kind == "refund":
                    sim.apply("refund", t, counts, oid, rng.random() < 0.5)
                else:
                    index = rng.choice(open_tickets)
                    sim.apply("scan" if kind == "scan" else "ticket_edit", t, counts, oid, index)
                    if kind == "scan":
                        self.checked.append((oid, index))
                break
        return st.order_changes > before
