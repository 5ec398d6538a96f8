"""Benchmark: the same records through (a) the target-clickhouse CLI (Singer messages on stdin, as
Meltano runs it: `python -m target_clickhouse`, the console script's entry point), (b) a direct
clickhouse-connect insert of the same rows (Native format, values already typed in Python: the minimal
loader) and (c) a direct insert of the records' JSON as JSONEachRow (the format the target sends), in
one run. `--compare-with DIR` also runs the CLI of another checkout's `target-clickhouse` directory
(e.g. a `git archive` of an older commit) on the same records, for an A/B of the target itself.

Prints wall-clock and CPU seconds (user+system of the process, all threads incl. the embedded
ClickHouse engine) for both, records/s, the ratio, the CLI's start-up cost (0 records), and the
target's peak RSS at two batch sizes and with twice the records (memory bounded by the batch size,
not by the number of rows). The machine may be shared: CPU seconds are the steadier figure.
Goals (issue 4): >= 45k records/s through the target, >= 0.25x the direct insert.

    .venv/bin/python bench/target.py [--records 100000] [--batch-size-rows 20000] [--small-batch 5000]
                                     [--compare-with /tmp/old/target-clickhouse]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from target_clickhouse import DEFAULT_DATABASE, ClickHouseConnector, table_name
from target_clickhouse.rows import INPUT_SETTINGS

STREAM = "sales"
KEY = ["id"]
MONEY = {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 18, "scale": 2}
WHEN = {"type": ["string", "null"], "format": "date-time"}
INT = {"type": ["integer", "null"]}
TEXT = {"type": ["string", "null"]}
SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "order_id": INT,
        "event_id": INT,
        "show_id": INT,
        "seat_id": TEXT,
        "zone_id": TEXT,
        "price": MONEY,
        "original_price": MONEY,
        "discount_value": MONEY,
        "refunded_amount": MONEY,
        "payed": {"type": ["boolean", "null"]},
        "payed_at": WHEN,
        "checked_at": WHEN,
        "created_at": WHEN,
        "updated_at": WHEN,
        "deleted_at": WHEN,
        "refunded_at": WHEN,
        "currency_id": TEXT,
        "promo_code_id": INT,
        "utm": {"type": ["object", "null"]},
    },
}
COLUMN_TYPES = {
    "id": "Int64",
    "order_id": "Nullable(Int64)",
    "event_id": "Nullable(Int64)",
    "show_id": "Nullable(Int64)",
    "seat_id": "Nullable(String)",
    "zone_id": "Nullable(String)",
    "price": "Nullable(Decimal(18, 2))",
    "original_price": "Nullable(Decimal(18, 2))",
    "discount_value": "Nullable(Decimal(18, 2))",
    "refunded_amount": "Nullable(Decimal(18, 2))",
    "payed": "Nullable(Bool)",
    "payed_at": "Nullable(DateTime64(6, 'UTC'))",
    "checked_at": "Nullable(DateTime64(6, 'UTC'))",
    "created_at": "Nullable(DateTime64(6, 'UTC'))",
    "updated_at": "Nullable(DateTime64(6, 'UTC'))",
    "deleted_at": "Nullable(DateTime64(6, 'UTC'))",
    "refunded_at": "Nullable(DateTime64(6, 'UTC'))",
    "currency_id": "Nullable(String)",
    "promo_code_id": "Nullable(Int64)",
    "utm": "Nullable(String)",
}
MSK = dt.timezone(dt.timedelta(hours=3))
START = dt.datetime(2025, 3, 1, 10, 0, tzinfo=MSK)


def make_record(i: int) -> dict:
    """A QTickets-like sales row: distinct +03:00 timestamps, money strings, some nulls, a nested object."""
    created = START + dt.timedelta(seconds=i * 7, microseconds=i % 1000)
    payed = i % 5 != 0
    return {
        "id": i,
        "order_id": i // 3,
        "event_id": i % 40,
        "show_id": i % 400,
        "seat_id": f"PARTER-{i % 30};{i % 25}",
        "zone_id": "PARTER" if i % 2 else "BALCONY",
        "price": f"{500 + i % 2000}.{i % 100:02d}",
        "original_price": f"{600 + i % 2000}.00",
        "discount_value": f"{i % 100}.00" if i % 4 else None,
        "refunded_amount": "250.50" if i % 50 == 0 else None,
        "payed": payed,
        "payed_at": (created + dt.timedelta(minutes=3)).isoformat() if payed else None,
        "checked_at": (created + dt.timedelta(days=2)).isoformat() if i % 3 == 0 else None,
        "created_at": created.isoformat(),
        "updated_at": (created + dt.timedelta(seconds=40)).isoformat(),
        "deleted_at": None,
        "refunded_at": (created + dt.timedelta(hours=5)).isoformat() if i % 50 == 0 else None,
        "currency_id": "RUB",
        "promo_code_id": i % 90 if i % 6 == 0 else None,
        "utm": {"utm_source": "vk", "utm_campaign": f"spring-{i % 12}"} if i % 3 else None,
    }


def write_singer_input(path: Path, records: int) -> None:
    extracted = "2025-03-30T12:00:00.000000+00:00"
    with path.open("w") as out:
        out.write(json.dumps({"type": "SCHEMA", "stream": STREAM, "schema": SCHEMA, "key_properties": KEY}))
        out.write("\n")
        for i in range(records):
            message = {
                "type": "RECORD",
                "stream": STREAM,
                "record": make_record(i),
                "time_extracted": extracted,
            }
            out.write(json.dumps(message, separators=(",", ":")) + "\n")
        out.write(json.dumps({"type": "STATE", "value": {"bookmarks": {STREAM: {"n": records}}}}) + "\n")


def run_target_measured(
    input_path: Path, directory: Path, batch_size_rows: int, source: Path | None = None
) -> tuple[float, float, int, str]:
    """Run the CLI with the file on stdin; returns (seconds, CPU seconds, peak RSS bytes, last STATE).
    `source`: a directory holding another `target_clickhouse` package to run instead of the installed one.

    A small wrapper process starts the target and reaps it with wait4, so the peak RSS is that one
    run's, not the maximum over every child this benchmark started."""
    script = (
        "import os,subprocess,sys,time,json;"
        "t=time.perf_counter();p=subprocess.Popen(sys.argv[1:],stdin=sys.stdin,stdout=subprocess.PIPE,"
        "stderr=subprocess.DEVNULL);out=p.stdout.read();_,status,ru=os.wait4(p.pid,0);"
        "print(json.dumps({'s':time.perf_counter()-t,'rss':ru.ru_maxrss*1024,'cpu':ru.ru_utime+ru.ru_stime,'status':status,"
        "'last':out.decode().strip().splitlines()[-1] if out.strip() else ''}))"
    )
    config = directory.parent / f"{directory.name}.json"
    config.write_text(json.dumps({"url": f"chdb://{directory}", "batch_size_rows": batch_size_rows}))
    # The environment is passed on unchanged (PYTHONDONTWRITEBYTECODE included): start-up is measured
    # as a user's run pays it.
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    with input_path.open() as stdin:
        result = subprocess.run(
            [sys.executable, "-c", script, sys.executable, "-m", "target_clickhouse", "--config", config],
            stdin=stdin,
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
    report = json.loads(result.stdout)
    if report["status"] != 0:
        raise SystemExit(f"target-clickhouse exited with status {report['status']}")
    return report["s"], report["cpu"], report["rss"], report["last"]


def python_rows(records: int) -> list[list]:
    """The same rows typed the way clickhouse-connect takes them (UTC datetimes, Decimals, JSON text)."""
    datetime_columns = {name for name, t in COLUMN_TYPES.items() if "DateTime64" in t}
    decimal_columns = {name for name, t in COLUMN_TYPES.items() if "Decimal" in t}
    rows = []
    for i in range(records):
        record = make_record(i)
        row = []
        for name in COLUMN_TYPES:
            value = record[name]
            if value is not None and name in datetime_columns:
                value = dt.datetime.fromisoformat(value).astimezone(dt.UTC)
            elif value is not None and name in decimal_columns:
                value = Decimal(value)
            elif name == "utm" and value is not None:
                value = json.dumps(value, separators=(",", ":"))
            row.append(value)
        rows.append(row)
    return rows


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads, including ClickHouse's
    return usage.ru_utime + usage.ru_stime


def direct_insert(directory: Path, records: int, batch_size_rows: int) -> tuple[float, float]:
    rows = python_rows(records)
    with ClickHouseConnector.from_url(f"chdb://{directory}", database="bench") as connector:
        client = connector.client
        columns = ", ".join(f"{connector.quote(name)} {ctype}" for name, ctype in COLUMN_TYPES.items())
        client.command(f"CREATE TABLE direct ({columns}) ENGINE = ReplacingMergeTree ORDER BY id")
        names, types = list(COLUMN_TYPES), list(COLUMN_TYPES.values())
        started, cpu_started = time.perf_counter(), _cpu()
        for offset in range(0, records, batch_size_rows):
            block = rows[offset : offset + batch_size_rows]
            client.insert("direct", block, column_names=names, column_type_names=types)
        elapsed, cpu = time.perf_counter() - started, _cpu() - cpu_started
        assert client.command("SELECT count() FROM direct") == records
        return elapsed, cpu


def direct_json_insert(directory: Path, records: int, batch_size_rows: int) -> tuple[float, float]:
    """The records' JSON (as the Singer messages carry it) inserted as JSONEachRow, parsed by ClickHouse."""
    lines = [json.dumps(make_record(i), separators=(",", ":")).encode() + b"\n" for i in range(records)]
    with ClickHouseConnector.from_url(f"chdb://{directory}", database="bench") as connector:
        client = connector.client
        columns = ", ".join(f"{connector.quote(name)} {ctype}" for name, ctype in COLUMN_TYPES.items())
        client.command(f"CREATE TABLE direct ({columns}) ENGINE = ReplacingMergeTree ORDER BY id")
        names = list(COLUMN_TYPES)
        settings = {**INPUT_SETTINGS, "async_insert": 0}
        started, cpu_started = time.perf_counter(), _cpu()
        for offset in range(0, records, batch_size_rows):
            body = b"".join(lines[offset : offset + batch_size_rows])
            client.raw_insert("direct", names, insert_block=body, fmt="JSONEachRow", settings=settings)
        elapsed, cpu = time.perf_counter() - started, _cpu() - cpu_started
        assert client.command("SELECT count() FROM direct") == records
        return elapsed, cpu


def count_loaded(directory: Path) -> tuple[int, int]:
    with ClickHouseConnector.from_url(f"chdb://{directory}", database=DEFAULT_DATABASE) as connector:
        table = connector.full_table_name(table_name(STREAM))
        total = connector.client.command(f"SELECT count() FROM {table}")
        final = connector.client.command(f"SELECT count() FROM {table} FINAL")
        return int(total), int(final)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-size-rows", type=int, default=20_000)
    parser.add_argument("--small-batch", type=int, default=5_000, help="second batch size for peak RSS")
    parser.add_argument("--compare-with", type=Path, help="another checkout's target-clickhouse directory")
    args = parser.parse_args()
    n, batch, small, other = args.records, args.batch_size_rows, args.small_batch, args.compare_with
    if other is not None and not (other / "target_clickhouse" / "__init__.py").is_file():
        raise SystemExit(f"--compare-with: no target_clickhouse package in {other}")

    with tempfile.TemporaryDirectory(prefix="bench-target-") as tmp:
        root = Path(tmp)
        empty, full, double = root / "empty.jsonl", root / "full.jsonl", root / "double.jsonl"
        write_singer_input(empty, 0)
        write_singer_input(full, n)
        write_singer_input(double, 2 * n)
        size_mb = full.stat().st_size / 1e6

        run_target_measured(empty, root / "ch-warmup", batch)  # warm the page cache
        startup, startup_cpu, startup_rss, _ = run_target_measured(empty, root / "ch-empty", batch)
        seconds, cpu, rss, last_state = run_target_measured(full, root / "ch-target", batch)
        _, small_cpu, rss_small, _ = run_target_measured(full, root / "ch-small", small)
        _, _, rss_double, _ = run_target_measured(double, root / "ch-double", batch)
        loaded, visible = count_loaded(root / "ch-target")
        if other is not None:
            other_startup, other_startup_cpu, _, _ = run_target_measured(empty, root / "o0", batch, other)
            other_s, other_cpu, other_rss, _ = run_target_measured(full, root / "ch-other", batch, other)
        direct, direct_cpu = direct_insert(root / "ch-direct", n, batch)
        direct_json, direct_json_cpu = direct_json_insert(root / "ch-direct-json", n, batch)

    net, net_cpu = max(seconds - startup, 1e-9), max(cpu - startup_cpu, 1e-9)
    rate, net_rate, direct_rate = n / seconds, n / net, n / direct
    cpu_rate, net_cpu_rate, direct_cpu_rate = n / cpu, n / net_cpu, n / max(direct_cpu, 1e-9)
    load = os.getloadavg()[0]
    print(
        f"records: {n:,} ({size_mb:.1f} MB of Singer messages), batch_size_rows={batch:,}, "
        f"{os.cpu_count()} CPUs, load average {load:.1f}"
    )
    print(f"{'':38} {'wall s':>7}  {'records/s':>10}  {'CPU s':>7}  {'records/CPU-s':>12}")
    target_row = "(a) target-clickhouse CLI, end to end"
    row = "{:38} {:7.2f}  {:>10}  {:7.2f}  {:>12}"
    print(row.format(target_row, seconds, f"{rate:,.0f}", cpu, f"{cpu_rate:,.0f}"))
    print(row.format("    CLI start-up/shutdown, 0 records", startup, "", startup_cpu, ""))
    print(row.format("    target minus start-up", net, f"{net_rate:,.0f}", net_cpu, f"{net_cpu_rate:,.0f}"))
    if other is not None:
        o_net, o_net_cpu = max(other_s - other_startup, 1e-9), max(other_cpu - other_startup_cpu, 1e-9)
        print(row.format("(a') --compare-with target, end to end", other_s, f"{n / other_s:,.0f}", other_cpu,
                         f"{n / other_cpu:,.0f}"))
        print(row.format("    CLI start-up/shutdown, 0 records", other_startup, "", other_startup_cpu, ""))
        print(row.format("    target minus start-up", o_net, f"{n / o_net:,.0f}", o_net_cpu,
                         f"{n / o_net_cpu:,.0f}"))
    direct_row = "(b) direct clickhouse-connect insert"
    print(row.format(direct_row, direct, f"{direct_rate:,.0f}", direct_cpu, f"{direct_cpu_rate:,.0f}"))
    print(row.format("(c) direct JSONEachRow insert", direct_json, f"{n / direct_json:,.0f}", direct_json_cpu,
                     f"{n / max(direct_json_cpu, 1e-9):,.0f}"))
    print(
        f"ratio target/direct (goal >= 0.25x): end to end {rate / direct_rate:.2f}x wall, "
        f"{cpu_rate / direct_cpu_rate:.2f}x CPU; minus start-up {net_rate / direct_rate:.2f}x wall, "
        f"{net_cpu_rate / direct_cpu_rate:.2f}x CPU"
    )
    verdict = {True: "met", False: "NOT met"}
    print(
        f"goal >= 45,000 records/s: end to end {verdict[rate >= 45_000]} (wall), "
        f"{verdict[cpu_rate >= 45_000]} (CPU); minus start-up {verdict[net_rate >= 45_000]} (wall), "
        f"{verdict[net_cpu_rate >= 45_000]} (CPU)"
    )
    if other is not None:
        print(
            f"--compare-with target/direct: minus start-up {n / o_net / direct_rate:.2f}x wall, "
            f"{n / o_net_cpu / direct_cpu_rate:.2f}x CPU; its peak RSS {other_rss / 2**20:.0f} MiB "
            f"(this target {rss / 2**20:.0f} MiB); this target / it: minus start-up "
            f"{net_rate / (n / o_net):.2f}x wall, {net_cpu_rate / (n / o_net_cpu):.2f}x CPU"
        )
    print(
        f"peak RSS of the target (embedded ClickHouse included): {startup_rss / 2**20:.0f} MiB with 0 "
        "records; "
        f"{n:,} records: {rss / 2**20:.0f} MiB at batch_size_rows={batch:,}, {rss_small / 2**20:.0f} MiB at "
        f"{small:,} ({small_cpu:.2f} CPU s); {2 * n:,} records at {batch:,}: {rss_double / 2**20:.0f} MiB"
    )
    print(f"loaded rows: {loaded:,} (FINAL {visible:,}); last STATE: {last_state}")
    if loaded != n or visible != n:
        raise SystemExit("row count mismatch")


if __name__ == "__main__":
    main()
