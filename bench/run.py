"""`python -m bench.run [--quick] [--keep] [--scenarios a,b,c]`: the whole benchmark.

1. a fresh PostgreSQL database and a flushed Redis database;
2. the service started as deployed (gunicorn, the Celery closer and mailer, beat) plus an
   SMTP sink, while `manage.py migrate` runs and the data is bulk-loaded (bench/data.py);
3. the scenarios, one after the other, each checked (bench/scenarios.py);
4. the report (bench/report.py); then everything is torn down, even on errors or Ctrl-C.

Exit status: 0 when every invariant held; 1 on a violated invariant, a 5xx or a lost
connection; 2 when a component crashed or the bench itself failed; 130 on Ctrl-C.
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench import data, report, scenarios
from bench.loadgen import loop_run, process_cpu_seconds
from bench.services import MAILER_NICE, ROOT, WORKERS, ComponentFailed, Stack, argv_split
from bench.sink import SinkLog


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, short runs (CI)")
    parser.add_argument(
        "--keep", action="store_true", help="leave the stack and database running at the end"
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(scenarios.ORDER),
        help=f"comma-separated subset of: {', '.join(scenarios.ORDER)} (default: all)",
    )
    parser.add_argument(
        "--keepalive",
        action="store_true",
        help="ask for keep-alive connections (gunicorn sync workers close them anyway)",
    )
    parser.add_argument(
        "--closing-create",
        choices=["sql", "api"],
        default="sql",
        help="how the closing scenario creates its auctions (api: announced to every user)",
    )
    for name in WORKERS:
        parser.add_argument(
            f"--{name}-args",
            default=None,
            help=f"arguments for the {name}'s `celery -A config worker` "
            f"(default: bench.services.{name.upper()}_ARGS)",
        )
    args = parser.parse_args(argv)
    args.selected = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.selected) - set(scenarios.ORDER)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


def _commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return result.stdout.strip() or None
    except OSError:
        return None


def _login_check(port: int) -> int:
    """One bench user logs in through the API: the bulk-loaded password hash is usable.

    (The bench clients' tokens are inserted directly, see bench/data.py.)
    """
    body = json.dumps({"username": data.username(1), "password": data.PASSWORD}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/auth/token",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _sigterm(signum, frame):
    raise KeyboardInterrupt  # the same orderly teardown as Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = data.QUICK if args.quick else data.FULL
    signal.signal(signal.SIGTERM, _sigterm)
    # Even when started with SIGINT ignored (a background job of a script), Ctrl-C or
    # `kill -INT` must reach the teardown.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="auction-bench-"))
    stack = Stack(workdir)
    for name in WORKERS:
        given = getattr(args, f"{name.rstrip('2')}_args")  # --mailer-args: both mailers
        if given is not None:
            stack.worker_args[name] = argv_split(given)
    started_at = datetime.now(UTC).replace(microsecond=0)
    cpu_start, wall_start = process_cpu_seconds(), time.perf_counter()
    status = 2
    keep_logs = True
    conn = None
    try:
        timings = {}
        t = time.perf_counter()
        print(f"bench: {'quick' if args.quick else 'full'} run; work files in {workdir}")
        stack.redis_flush()
        stack.database_create()
        # The processes boot (imports, mostly) while the database is migrated and loaded:
        # none of them reads a table before its first request or task, and the first
        # tasks come from the beat, started once the tables exist.
        facts_job = stack.django_facts_start()
        stack.start_sink()
        stack.start_gunicorn()
        stack.start_workers()
        stack.migrate()
        stack.start_beat()
        timings["migrate_s"] = time.perf_counter() - t

        t = time.perf_counter()
        facts = stack.django_facts_read(facts_job)
        conn = psycopg.connect(stack.database_url, autocommit=True)
        timings["column_defaults_set"] = data.column_defaults_apply(conn, facts["defaults"])
        now = datetime.now(UTC)
        layout = data.load(conn, sizes, now=now, password_hash=facts["password_hash"])
        data.analyze(conn)
        clients = data.tokens_insert(conn, now=now)
        timings["load_s"] = time.perf_counter() - t
        print(
            f"bench: loaded {sizes.users:,} users, {sizes.finished:,} finished and "
            f"{sizes.active:,} active auctions in {timings['load_s']:.1f} s"
        )

        t = time.perf_counter()
        stack.wait_ready()
        timings["ready_s"] = time.perf_counter() - t
        print(f"bench: stack ready\n{stack.describe()}")

        login_status = _login_check(stack.http_port)
        timings["login_status"] = login_status
        if login_status != 200:
            print(f"bench: warning: POST /api/v1/auth/token answered {login_status}")

        ctx = scenarios.Context(
            stack=stack,
            sizes=sizes,
            layout=layout,
            clients=clients,
            conn=conn,
            sink=SinkLog(stack.sink_log),
            tag=secrets.token_hex(3),
            keepalive=args.keepalive,
            closing_create=args.closing_create,
        )
        results = loop_run(scenarios.run_all(ctx, args.selected))
        stack.check_alive()

        wall = time.perf_counter() - wall_start
        results["meta"] = {
            "started_at": started_at.isoformat(),
            "mode": "quick" if args.quick else "full",
            "scenarios": args.selected,
            "commit": _commit(),
            "cpus": os.cpu_count(),
            "sizes": sizes.__dict__,
            "sizes_text": (
                f"{sizes.users:,} users, {sizes.finished:,} finished and {sizes.active:,} "
                f"active auctions, one with {sizes.detail_bids:,} bids"
            ),
            "layout": layout.as_dict(),
            "connections": "keep-alive requested" if args.keepalive else "one per request",
            "gunicorn": "2 sync workers",
            "celery_workers": stack.worker_args,
            "mailer_nice": MAILER_NICE,
            "setup": timings,
            "wall_s": wall,
            # The whole bench process (load generator, checks, reports) over both cores.
            "loadgen_cpu_share": (process_cpu_seconds() - cpu_start) / wall / 2.0,
            "mail_received_total": ctx.sink.total,
            "mail_multi_recipient_total": ctx.sink.multi_recipient,
        }
        if ctx.sink.multi_recipient:
            results.setdefault("failures", []).append(
                f"{ctx.sink.multi_recipient} messages had more than one recipient"
            )
        report.complete(results)
        paths = report.write(results)
        print()
        print(paths["md"].read_text())
        print(f"bench: wrote {', '.join(str(p.relative_to(ROOT)) for p in paths.values())}")
        status = 0 if results["ok"] else 1
        keep_logs = not results["ok"]
    except ComponentFailed as exc:
        print(f"bench: a component failed: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("bench: interrupted; tearing down", file=sys.stderr)
        status = 130
    except Exception:
        traceback.print_exc()
        print("bench: failed; process logs below", file=sys.stderr)
        for proc in stack.procs:
            print(f"--- {proc.name} ({proc.log})\n{proc.log_tail(15)}", file=sys.stderr)
    finally:
        if conn is not None:
            conn.close()
        if args.keep:
            print(
                f"bench: --keep: left running (kill the process groups yourself)\n"
                f"{stack.describe()}"
            )
        else:
            stack.close()
            if keep_logs:
                print(f"bench: logs kept in {workdir}", file=sys.stderr)
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
