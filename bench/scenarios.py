"""The scenarios, each followed by its invariant check.

Every scenario talks to the service over HTTP on 127.0.0.1 only (bench/loadgen.py), and
checks its outcome against the contract in the database the service wrote, or in the mail
the SMTP sink received. A scenario returns a dict of figures for the JSON report; the
`violations` figure counts broken invariants, and any violation, 5xx answer or failed
connection fails the run.

Order (`ORDER`): pgbench, then the mail-heavy scenarios while the Celery workers are idle,
then, back to back, the floor and the HTTP scenarios divided by it: the reads, then the bid
scenarios, whose notification emails keep the mailer busy for a while after they end.
"""

import asyncio
import contextlib
import json
import math
import random
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psutil
import psycopg

from bench.data import Client, Layout, Sizes, email
from bench.loadgen import (
    CpuAccount,
    HttpClient,
    Stats,
    percentile,
    process_cpu_seconds,
    run_users,
    timed,
)
from bench.services import Stack
from bench.sink import SinkLog

API = "/api/v1"
USERS = 16  # concurrent virtual users in every HTTP scenario
PG_CLIENTS = 8
ORDER = ("pg", "fanout", "closing", "floor", "list", "detail", "hot", "spread")


@dataclass
class Context:
    stack: Stack
    sizes: Sizes
    layout: Layout
    clients: list[Client]
    conn: psycopg.Connection  # the bench's own connection to the bench database (autocommit)
    sink: SinkLog
    tag: str  # 6 hex digits, unique to this run, put in titles the sink must recognise
    keepalive: bool = False
    closing_create: str = "sql"
    results: dict = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.stack.http_port

    def http(self, client: Client | None = None) -> HttpClient:
        token = client.token if client else None
        return HttpClient(self.port, token=token, keepalive=self.keepalive)

    def log(self, message: str) -> None:
        print(f"bench: {message}", flush=True)

    def stats(self, name: str) -> Stats:
        """A scenario's Stats, with the CPU of every component of the stack accounted."""
        groups: dict[str, list[int]] = {}
        for proc in self.stack.procs:
            component = "mailer" if proc.name.startswith("mailer") else proc.name
            groups.setdefault(component, []).append(proc.popen.pid)
        return Stats(name, cpu_account=CpuAccount(groups))


# --- limits -------------------------------------------------------------------------------

PGBENCH_SCRIPT = """\
\\set uid random(1, {clients})
{aid}
BEGIN;
SELECT id, owner_id, closes_at, current_price, price_step, bid_count
  FROM auctions_auction WHERE id = :aid FOR UPDATE;
INSERT INTO auctions_bid (auction_id, bidder_id, amount, created_at)
  SELECT id, :uid, current_price + price_step, now() FROM auctions_auction WHERE id = :aid;
UPDATE auctions_auction
  SET current_price = current_price + price_step, bid_count = bid_count + 1, leader_id = :uid
  WHERE id = :aid;
COMMIT;
"""


def _pgbench(ctx: Context, name: str, aid_line: str, duration: float) -> float:
    script = ctx.stack.workdir / f"pgbench-{name}.sql"
    script.write_text(PGBENCH_SCRIPT.format(clients=len(ctx.clients), aid=aid_line))
    argv = ["pgbench", "-n", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]
    argv += ["-c", str(PG_CLIENTS), "-j", "2", "-T", str(math.ceil(duration))]
    argv += ["-f", str(script), ctx.stack.db_name]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    (ctx.stack.workdir / f"pgbench-{name}.log").write_text(result.stdout + result.stderr)
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout)
    if result.returncode != 0 or not match:
        raise RuntimeError(f"pgbench ({name}) failed:\n{result.stdout}\n{result.stderr}")
    return float(match.group(1))


async def scenario_pg(ctx: Context) -> dict:
    """The bid transaction alone, by pgbench: the database's ceiling for this work."""
    layout = ctx.layout
    hot = _pgbench(ctx, "hot", f"\\set aid {layout.pg_hot_id}", ctx.sizes.pg_s)
    lo, hi = layout.pg_spread
    spread = _pgbench(ctx, "spread", f"\\set aid random({lo}, {hi})", ctx.sizes.pg_s)
    ids = [layout.pg_hot_id, *range(lo, hi + 1)]
    check = bid_invariants(ctx.conn, ids)
    ctx.log(f"pgbench: hot {hot:.0f} tps, spread {spread:.0f} tps")
    return {
        "hot_tps": hot,
        "spread_tps": spread,
        "clients": PG_CLIENTS,
        "duration_s": ctx.sizes.pg_s,
        # The same checks as the API's bid scenarios: a self-test of the checks.
        "violations": check["violations"],
    }


# --- reads --------------------------------------------------------------------------------


async def _warmup(ctx: Context, path: str, count: int) -> None:
    async def one(n: int) -> None:
        client = ctx.http()
        for _ in range(n):
            await client.request("GET", path)
        client.close()

    await asyncio.gather(*(one(count // USERS + 1) for _ in range(USERS)))


async def _read_scenario(ctx: Context, name: str, paths: list[str], duration: float) -> Stats:
    """USERS users GET the paths in turn (user i starts at path i) until the deadline."""
    stats = ctx.stats(name)

    def user(i: int):
        async def run(deadline: float) -> None:
            client = ctx.http()
            n = i
            while time.perf_counter() < deadline:
                await timed(stats, client, "GET", paths[n % len(paths)])
                n += 1
            client.close()

        return run

    return await run_users(stats, [user(i) for i in range(USERS)], duration)


def _read_result(stats: Stats) -> dict:
    unexpected = sum(n for status, n in stats.statuses.items() if status != 200)
    return {**stats.summary(), "non_200": unexpected, "violations": 0}


def _floor_path(ctx: Context) -> str:
    return f"{API}/bench/floor?id={ctx.layout.active[0]}"


async def scenario_floor(ctx: Context) -> dict:
    path = _floor_path(ctx)
    await _warmup(ctx, path, ctx.sizes.warmup_requests)
    stats = await _read_scenario(ctx, "floor", [path], ctx.sizes.floor_s)
    ctx.log(f"floor: {stats.rps:.0f} req/s, p99 {stats.percentile_ms(99):.1f} ms")
    result = _read_result(stats)
    result["slices"] = [_floor_slice(None, stats)]
    return result


def _floor_slice(after: str | None, stats: Stats) -> dict:
    return {
        "after": after,
        "requests": stats.requests,
        "duration_s": stats.wall,
        "rps": stats.rps,
        "p99_ms": stats.percentile_ms(99),
    }


async def floor_again(ctx: Context, after: str) -> None:
    """The floor once more, right after `after`: that scenario's ratio divides by the mean
    of the floor just before it and this one (`<scenario>.floor_rps`), so that a machine
    that speeds up or slows down during the run moves both sides of the ratio alike.
    `floor.rps` becomes the rate over every slice (its percentiles stay the first's); a
    5xx or a lost connection in any slice fails the run like any other."""
    floor = ctx.results["floor"]
    stats = await _read_scenario(ctx, "floor", [_floor_path(ctx)], ctx.sizes.floor_slice_s)
    before = floor["slices"][-1]["rps"]
    floor["slices"].append(_floor_slice(after, stats))
    ctx.results[after]["floor_rps"] = (before + stats.rps) / 2
    requests = sum(part["requests"] for part in floor["slices"])
    floor["rps"] = requests / sum(part["duration_s"] for part in floor["slices"])
    floor["errors_5xx"] += stats.errors_5xx
    floor["conn_errors"] += stats.conn_errors
    floor["non_200"] += sum(n for status, n in stats.statuses.items() if status != 200)
    ctx.log(f"floor after {after}: {stats.rps:.0f} req/s")


async def scenario_list(ctx: Context) -> dict:
    paths = [f"{API}/auctions?status=active", f"{API}/auctions?status=finished"]
    await _warmup(ctx, paths[0], USERS)
    await _warmup(ctx, paths[1], USERS)
    stats = await _read_scenario(ctx, "list", paths, ctx.sizes.list_s)
    ctx.log(f"list: {stats.rps:.0f} req/s, p99 {stats.percentile_ms(99):.1f} ms")
    return _read_result(stats)


async def scenario_detail(ctx: Context) -> dict:
    path = f"{API}/auctions/{ctx.layout.detail_id}"
    await _warmup(ctx, path, USERS)
    stats = await _read_scenario(ctx, "detail", [path], ctx.sizes.detail_s)
    ctx.log(f"detail: {stats.rps:.0f} req/s, p99 {stats.percentile_ms(99):.1f} ms")
    return _read_result(stats)


# --- bids ---------------------------------------------------------------------------------


@dataclass
class BidOutcome:
    accepted: int = 0
    too_low: int = 0
    other_4xx: Counter = field(default_factory=Counter)


async def _bid(stats: Stats, outcome: BidOutcome, client: HttpClient, auction_id: int, amount):
    """POST one bid; returns the next amount this user believes acceptable, or None."""
    body = b'{"amount":"%s"}' % str(amount).encode()
    response = await timed(stats, client, "POST", f"{API}/auctions/{auction_id}/bids", body)
    if response is None:
        return None
    if response.status == 201:
        outcome.accepted += 1
        return "accepted"
    if response.status == 400:
        problem = json.loads(response.body)
        if problem.get("code") == "bid_too_low":
            outcome.too_low += 1
            return Decimal(problem["min_next_bid"])
    if 400 <= response.status < 500:
        outcome.other_4xx[f"{response.status} {_code(response.body)}"] += 1
    return None


def _code(body: bytes) -> str:
    try:
        return str(json.loads(body).get("code"))
    except (ValueError, AttributeError):
        return "?"


def _auction_state(conn: psycopg.Connection, ids: list[int]) -> dict[int, tuple]:
    rows = conn.execute(
        "SELECT id, CASE WHEN bid_count = 0 THEN starting_price"
        " ELSE current_price + price_step END, price_step"
        " FROM auctions_auction WHERE id = ANY(%s)",
        (ids,),
    ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def _max_bid_id(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT coalesce(max(id), 0) FROM auctions_bid").fetchone()[0]


def _bid_result(ctx: Context, phases: "BidPhases", ids: list[int], before_id: int) -> dict:
    stats, outcome = phases.stats, phases.outcome
    warm_stats, warm = phases.warmup_stats, phases.warmup
    check = bid_invariants(ctx.conn, ids)
    (new_bids,) = ctx.conn.execute(
        "SELECT count(*) FROM auctions_bid WHERE auction_id = ANY(%s) AND id > %s",
        (ids, before_id),
    ).fetchone()
    violations = check["violations"]
    conn_errors = stats.conn_errors + warm_stats.conn_errors
    # Every 201 the clients saw (warm-up included) is one bid row, and no row appeared
    # without a 201. Only checkable when no answer was lost on the way (a lost answer may
    # hide either).
    if conn_errors == 0 and new_bids != outcome.accepted + warm.accepted:
        violations += 1
        check["details"].append(
            f"{outcome.accepted + warm.accepted} bids answered 201, {new_bids} rows"
        )
    return {
        **stats.summary(),
        # A 5xx or a lost connection fails the run in the warm-up too.
        "errors_5xx": stats.errors_5xx + warm_stats.errors_5xx,
        "conn_errors": conn_errors,
        "bid_rps": stats.rps,
        "accepted": outcome.accepted,
        "accepted_per_s": outcome.accepted / stats.wall,
        "too_low": outcome.too_low,
        "other_4xx": dict(outcome.other_4xx),
        "auctions": len(ids),
        "warmup": {
            "duration_s": warm_stats.wall,
            "requests": warm_stats.requests,
            "accepted": warm.accepted,
        },
        "violations": violations,
        "invariants": check,
    }


@dataclass
class BidPhases:
    """A bid scenario's two phases: the warm-up, then the measured run. Each user records
    into the phase under way; what it saw carries over from one phase to the next."""

    stats: Stats
    outcome: BidOutcome = field(default_factory=BidOutcome)
    warmup_stats: Stats = field(default_factory=lambda: Stats("warmup"))
    warmup: BidOutcome = field(default_factory=BidOutcome)
    warming: bool = True

    def current(self) -> tuple[Stats, BidOutcome]:
        if self.warming:
            return self.warmup_stats, self.warmup
        return self.stats, self.outcome

    async def run(self, users: list, duration: float, warmup: float) -> None:
        """The users bid for `warmup` seconds unmeasured, then `duration` seconds measured,
        without a pause: a request belongs to the phase it started in.

        The warm-up runs the first bids of each worker process (first compilation of a
        statement, first PREPARE on its database session, first publication to the broker)
        and the 16 simultaneous first connections before the clock starts, as the reads'
        warm-up does: the figures describe a running service, not one starting."""
        self.warmup_stats.begin()
        deadline = self.warmup_stats.started + warmup + duration
        running = asyncio.gather(*(user(deadline) for user in users))
        await asyncio.sleep(warmup)
        self.warmup_stats.finish()
        self.stats.begin()
        self.warming = False
        await running
        self.stats.finish()


async def scenario_hot(ctx: Context) -> dict:
    """USERS bidders on one auction, each bidding the min_next_bid it last saw."""
    auction_id = ctx.layout.hot_id
    bidders = ctx.clients[:USERS]
    phases = BidPhases(ctx.stats("hot"))
    before_id = _max_bid_id(ctx.conn)

    async def user_for(client_info: Client):
        client = ctx.http(client_info)
        start = await client.request("GET", f"{API}/auctions/{auction_id}")
        auction = json.loads(start.body)
        step = Decimal(auction["price_step"])
        state = {"next": Decimal(auction["min_next_bid"])}

        async def run(deadline: float) -> None:
            while time.perf_counter() < deadline:
                stats, outcome = phases.current()
                answer = await _bid(stats, outcome, client, auction_id, state["next"])
                if answer == "accepted":
                    state["next"] += step
                elif isinstance(answer, Decimal):
                    state["next"] = answer
            client.close()

        return run

    users = [await user_for(b) for b in bidders]
    await phases.run(users, ctx.sizes.hot_s, ctx.sizes.bid_warmup_s)
    result = _bid_result(ctx, phases, [auction_id], before_id)
    ctx.log(
        f"hot: {result['bid_rps']:.0f} bids/s ({result['accepted_per_s']:.0f} accepted/s), "
        f"p99 {result['p99_ms']:.1f} ms, violations {result['violations']}"
    )
    return result


async def scenario_spread(ctx: Context) -> dict:
    """USERS bidders, each on a random active auction, bidding what it last saw there."""
    lo, hi = ctx.layout.active
    ids = list(range(lo, hi + 1))
    # What every bidder "saw" at the start, as from the list: min_next_bid and step.
    state = _auction_state(ctx.conn, ids)
    steps = {aid: step for aid, (_, step) in state.items()}
    bidders = ctx.clients[USERS : 2 * USERS]
    phases = BidPhases(ctx.stats("spread"))
    before_id = _max_bid_id(ctx.conn)

    def user_for(client_info: Client, seed: int):
        seen = {aid: next_bid for aid, (next_bid, _) in state.items()}
        rng = random.Random(seed)

        async def run(deadline: float) -> None:
            client = ctx.http(client_info)
            while time.perf_counter() < deadline:
                aid = rng.choice(ids)
                stats, outcome = phases.current()
                answer = await _bid(stats, outcome, client, aid, seen[aid])
                if answer == "accepted":
                    seen[aid] += steps[aid]
                elif isinstance(answer, Decimal):
                    seen[aid] = answer
            client.close()

        return run

    users = [user_for(b, n) for n, b in enumerate(bidders)]
    await phases.run(users, ctx.sizes.spread_s, ctx.sizes.bid_warmup_s)
    result = _bid_result(ctx, phases, ids, before_id)
    ctx.log(
        f"spread: {result['bid_rps']:.0f} bids/s ({result['accepted_per_s']:.0f} accepted/s), "
        f"p99 {result['p99_ms']:.1f} ms, violations {result['violations']}"
    )
    return result


def bid_invariants(conn: psycopg.Connection, auction_ids: list[int]) -> dict:
    """The contract's bidding rules, checked on what the database holds.

    Per auction: accepted bids, in id (commit) order, start at the starting price or above
    and each is at least the previous plus the step (so no two amounts are equal);
    `current_price` is the highest bid (the starting price without bids), `bid_count` the
    number of bids, `leader` the bidder of the highest bid.
    """
    auctions = {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT id, starting_price, price_step, current_price, bid_count, leader_id"
            " FROM auctions_auction WHERE id = ANY(%s)",
            (auction_ids,),
        )
    }
    bids: dict[int, list[tuple]] = {}
    for auction_id, amount, bidder_id in conn.execute(
        "SELECT auction_id, amount, bidder_id FROM auctions_bid"
        " WHERE auction_id = ANY(%s) ORDER BY id",
        (auction_ids,),
    ):
        bids.setdefault(auction_id, []).append((amount, bidder_id))
    counts = Counter()
    details: list[str] = []

    def violation(kind: str, text: str) -> None:
        counts[kind] += 1
        if len(details) < 10:
            details.append(text)

    for auction_id, (start, step, price, bid_count, leader_id) in auctions.items():
        rows = bids.get(auction_id, [])
        previous = None
        for amount, _ in rows:
            floor = start if previous is None else previous + step
            if amount < floor:
                violation("not_increasing", f"#{auction_id}: {amount} after {previous}")
            previous = amount
        amounts = [amount for amount, _ in rows]
        if len(set(amounts)) != len(amounts):
            violation("duplicate_amount", f"#{auction_id}: duplicate amounts")
        if price != (max(amounts) if amounts else start):
            violation("current_price", f"#{auction_id}: current_price {price}")
        if bid_count != len(rows):
            violation("bid_count", f"#{auction_id}: bid_count {bid_count} for {len(rows)} bids")
        top_bidder = max(rows)[1] if rows else None
        if leader_id != top_bidder:
            violation("leader", f"#{auction_id}: leader {leader_id}, top bidder {top_bidder}")
    return {
        "violations": sum(counts.values()),
        "by_kind": dict(counts),
        "bids": sum(len(v) for v in bids.values()),
        "details": details,
    }


# --- mail ---------------------------------------------------------------------------------


class RssSampler:
    """Peak resident memory of a process tree (a worker and its pool children, if any),
    sampled every 0.1 s while running."""

    def __init__(self, *pids: int) -> None:
        self.roots = [psutil.Process(pid) for pid in pids]
        self.peak = 0
        self.samples = 0
        self._task: asyncio.Task | None = None

    def sample(self) -> int:
        total = 0
        tree = [p for root in self.roots for p in (root, *root.children(recursive=True))]
        for proc in tree:
            with contextlib.suppress(psutil.Error):  # a pool child that just exited
                total += proc.memory_info().rss
        self.peak = max(self.peak, total)
        self.samples += 1
        return total

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.1)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


async def _post_json(ctx: Context, client: Client, path: str, payload: dict):
    http = ctx.http(client)
    try:
        return await http.request("POST", path, json.dumps(payload).encode())
    finally:
        http.close()


async def scenario_fanout(ctx: Context) -> dict:
    """One new auction announced to every user: time until the sink has every message."""
    owner = ctx.clients[0]
    title = f"fanout-{ctx.tag} announcement"
    tag = f"fanout-{ctx.tag}"
    expected = {email(u) for u in range(1, ctx.sizes.users + 1)} - {owner.email}
    # The mailers do the fan-out (their memory is summed); the closer is sampled too, for
    # information.
    sampler = RssSampler(*(p.popen.pid for p in ctx.stack.procs if p.name.startswith("mailer")))
    closer = RssSampler(ctx.stack.proc("closer").popen.pid)
    rss_before = sampler.sample()
    sampler.peak = 0
    sampler.start()
    closer.start()
    ctx.sink.poll()
    started = time.time()
    response = await _post_json(
        ctx,
        owner,
        f"{API}/auctions",
        {
            "title": title,
            "description": "An auction the benchmark announces to every user.",
            "starting_price": "10.00",
            "price_step": "1.00",
            "end_time": _iso(datetime.now(UTC) + timedelta(hours=2)),
        },
    )
    created = time.time()
    messages: list[dict] = []
    deadline = started + ctx.sizes.fanout_timeout_s
    if response.status == 201:
        while time.time() < deadline:
            ctx.sink.poll()
            messages = ctx.sink.by_tag.get(tag, [])
            if len(messages) >= len(expected):
                break
            ctx.stack.check_alive()
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # a grace period, to see duplicates arrive
        ctx.sink.poll()
        messages = ctx.sink.by_tag.get(tag, [])
    await sampler.stop()
    await closer.stop()

    # Within the timeout; a message after it counts as missing (it still shows in
    # `received_by_end_of_run`). Duplicates count whenever they come.
    on_time = [m for m in messages if m["t"] <= deadline]
    missing = expected - {r for m in on_time for r in m["rcpt"]}
    timed_out = bool(missing)
    per_recipient = Counter(r for m in messages for r in m["rcpt"])
    duplicated = {r for r, n in per_recipient.items() if n > 1}
    unexpected = set(per_recipient) - expected
    multi = sum(1 for m in messages if len(m["rcpt"]) != 1 or m["to"] > 1)
    violations = len(missing) + len(duplicated) + len(unexpected) + multi + (response.status != 201)
    # Until the last expected message (not a duplicate of the grace period), or the deadline.
    arrival = sorted(m["t"] for m in on_time)[: len(expected)]
    elapsed = (arrival[-1] if arrival and not timed_out else deadline) - started
    result = {
        "expected": len(expected),
        "received": len(on_time),
        "emails_per_s": len(arrival) / elapsed,
        "elapsed_s": elapsed,
        "first_email_s": (arrival[0] - started) if arrival else None,
        "post_status": response.status,
        "post_ms": (created - started) * 1000.0,
        "worker_peak_rss_mb": sampler.peak / 2**20,
        "worker_rss_before_mb": rss_before / 2**20,
        "closer_peak_rss_mb": closer.peak / 2**20,
        "rss_samples": sampler.samples,
        "timed_out": timed_out,
        "missing": len(missing),
        "duplicated": len(duplicated),
        "unexpected_recipients": len(unexpected),
        "multi_recipient_messages": multi,
        "violations": violations,
    }
    ctx.log(
        f"fanout: {result['received']}/{result['expected']} emails in {elapsed:.1f} s "
        f"({result['emails_per_s']:.0f}/s), mailer peak {result['worker_peak_rss_mb']:.0f} MB, "
        f"violations {violations}"
    )
    return result


# --- closing ------------------------------------------------------------------------------


@dataclass
class ClosingAuction:
    index: int
    title: str
    owner: Client
    bidders: list[Client]
    id: int = 0
    accepted: list[tuple[Client, Decimal]] = field(default_factory=list)
    closed_seen: float | None = None  # unix time the bench first saw closed_at set
    closed_at: datetime | None = None
    winner_id: int | None = None
    final_price: Decimal | None = None
    email_done: float | None = None  # unix time of the message that completed the set

    @property
    def tag(self) -> str:
        return self.title.split(" ")[0]

    def expected_mail(self) -> Counter:
        """Per recipient, how many messages the contract promises for this auction.

        A new bid: one to every earlier bidder but the new bidder. The end: one to every
        bidder and one to the owner. (The auction's creation was not announced: the bench
        inserted it, see scenario_closing.)
        """
        expected: Counter = Counter()
        seen: list[str] = []
        for bidder, _ in self.accepted:
            for earlier in dict.fromkeys(seen):
                if earlier != bidder.email:
                    expected[earlier] += 1
            seen.append(bidder.email)
        for address in dict.fromkeys(seen):
            expected[address] += 1
        expected[self.owner.email] += 1
        return expected


async def scenario_closing(ctx: Context) -> dict:
    """Many auctions ending in the same second: delay to the winner and to the last email."""
    n = ctx.sizes.closing_auctions
    pool = ctx.clients[:USERS]
    auctions = [
        ClosingAuction(
            index=i,
            title=f"closing-{ctx.tag}-{i:04d} lot",
            owner=pool[i % USERS],
            bidders=[pool[(i + 1) % USERS], pool[(i + 2) % USERS]],
        )
        for i in range(n)
    ]
    # Time to create the auctions and place two bids on each (at a pessimistic 25 bids/s),
    # plus a few seconds of calm before they all end.
    lead = max(8.0, 4.0 + 2 * n / 25)
    end = datetime.fromtimestamp(math.ceil(time.time() + lead), UTC)
    end_ts = end.timestamp()
    if ctx.closing_create == "api":
        await _closing_create_api(ctx, auctions, end)
    else:
        _closing_create_sql(ctx, auctions, end)
    await _closing_bids(ctx, auctions)
    setup_left = end_ts - time.time()
    ctx.log(f"closing: {n} auctions end at {end.time()} ({setup_left:.1f} s after setup)")

    # Bids are refused from end_time on: a few late bids must all be 409.
    await asyncio.sleep(max(0.0, end_ts + 0.05 - time.time()))
    late_accepted = await _closing_late_bids(ctx, auctions[: min(10, n)])

    deadline = end_ts + ctx.sizes.closing_timeout_s
    by_id = {a.id: a for a in auctions}
    while time.time() < deadline:
        now = time.time()
        open_ids = [a.id for a in auctions if a.closed_seen is None]
        if open_ids:
            for row in ctx.conn.execute(
                "SELECT id, closed_at, winner_id, final_price FROM auctions_auction"
                " WHERE id = ANY(%s) AND closed_at IS NOT NULL",
                (open_ids,),
            ):
                auction = by_id[row[0]]
                auction.closed_seen = now
                auction.closed_at, auction.winner_id, auction.final_price = row[1:]
        ctx.sink.poll()
        for auction in auctions:
            if auction.email_done is None:
                auction.email_done = _mail_complete(ctx.sink, auction)
        if all(a.closed_seen and a.email_done for a in auctions):
            break
        ctx.stack.check_alive()
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # a grace period, to see duplicates arrive
    ctx.sink.poll()
    return _closing_result(ctx, auctions, end_ts, late_accepted)


def _closing_create_sql(ctx: Context, auctions: list[ClosingAuction], end: datetime) -> None:
    # Inserted like the bulk data, not POSTed: each POST would announce the auction to
    # every user (closing_auctions x users emails: 2 million in the full run), and the
    # scenario would measure that backlog instead of the closing.
    now = datetime.now(UTC)
    with ctx.conn.transaction(), ctx.conn.cursor() as cur:
        for auction in auctions:
            cur.execute(
                "INSERT INTO auctions_auction (owner_id, title, description, starting_price,"
                " price_step, currency, end_time, closes_at, created_at, current_price,"
                " bid_count) VALUES (%s, %s, 'Ends with the others.', 10.00, 1.00, 'USD',"
                " %s, %s, %s, 10.00, 0) RETURNING id",
                (auction.owner.user_id, auction.title, end, end, now),
            )
            auction.id = cur.fetchone()[0]


async def _closing_create_api(ctx: Context, auctions: list[ClosingAuction], end: datetime):
    async def create(auction: ClosingAuction) -> None:
        response = await _post_json(
            ctx,
            auction.owner,
            f"{API}/auctions",
            {
                "title": auction.title,
                "description": "Ends with the others.",
                "starting_price": "10.00",
                "price_step": "1.00",
                "end_time": _iso(end),
            },
        )
        if response.status != 201:
            raise RuntimeError(f"POST /auctions: {response.status} {response.body[:300]!r}")
        auction.id = json.loads(response.body)["id"]

    await _in_parallel(create, auctions)


async def _closing_bids(ctx: Context, auctions: list[ClosingAuction]) -> None:
    stats = Stats("closing-bids")

    async def bid_twice(auction: ClosingAuction) -> None:
        amount = Decimal("10.00")
        for bidder in auction.bidders:
            client = ctx.http(bidder)
            body = b'{"amount":"%s"}' % str(amount).encode()
            path = f"{API}/auctions/{auction.id}/bids"
            response = await timed(stats, client, "POST", path, body)
            client.close()
            if response is not None and response.status == 201:
                auction.accepted.append((bidder, amount))
                amount += Decimal("1.00")

    stats.cpu_start, stats.started = process_cpu_seconds(), time.perf_counter()
    await _in_parallel(bid_twice, auctions)
    stats.cpu_end, stats.ended = process_cpu_seconds(), time.perf_counter()
    ctx.results["_closing_setup"] = stats.summary()


async def _closing_late_bids(ctx: Context, auctions: list[ClosingAuction]) -> int:
    accepted = 0

    async def late(auction: ClosingAuction) -> None:
        nonlocal accepted
        client = ctx.http(auction.bidders[0])
        response = await client.request(
            "POST", f"{API}/auctions/{auction.id}/bids", b'{"amount":"1000.00"}'
        )
        client.close()
        if response.status == 201:
            accepted += 1
            auction.accepted.append((auction.bidders[0], Decimal("1000.00")))

    await asyncio.gather(*(late(a) for a in auctions))
    return accepted


async def _in_parallel(function, items: list, width: int = USERS) -> None:
    """`await function(item)` for every item, `width` at a time."""
    queue = list(reversed(items))

    async def worker() -> None:
        while queue:
            await function(queue.pop())

    await asyncio.gather(*(worker() for _ in range(width)))


def _mail_complete(sink: SinkLog, auction: ClosingAuction) -> float | None:
    """The arrival time of the message that completed the auction's expected mail."""
    expected = auction.expected_mail()
    messages = sink.by_tag.get(auction.tag, [])
    if len(messages) < sum(expected.values()):
        return None
    got: Counter = Counter()
    for message in messages:
        for recipient in message["rcpt"]:
            got[recipient] += 1
        if all(got[r] >= n for r, n in expected.items()):
            return message["t"]
    return None


def _closing_result(
    ctx: Context, auctions: list[ClosingAuction], end_ts: float, late_accepted: int
) -> dict:
    timeout = ctx.sizes.closing_timeout_s
    winner_delays, email_delays, delays = [], [], []
    recorded_delays = []
    problems: Counter = Counter()
    details: list[str] = []
    users_by_id = {c.user_id: c for c in ctx.clients}

    def problem(kind: str, text: str) -> None:
        problems[kind] += 1
        if len(details) < 10:
            details.append(text)

    for auction in auctions:
        # Never seen: censored at the timeout (the figure is a lower bound then).
        winner = (auction.closed_seen - end_ts) if auction.closed_seen else timeout
        mail = (auction.email_done - end_ts) if auction.email_done else timeout
        winner_delays.append(winner)
        email_delays.append(mail)
        delays.append(max(winner, mail))
        if auction.closed_at:
            recorded_delays.append(auction.closed_at.timestamp() - end_ts)
        top = auction.accepted[-1] if auction.accepted else None
        if auction.closed_seen is None:
            problem("not_closed", f"{auction.title}: not closed after {timeout:.0f} s")
        elif (top[0].user_id if top else None) != auction.winner_id:
            expected_winner = top[0].username if top else None
            got = users_by_id.get(auction.winner_id)
            problem(
                "wrong_winner",
                f"{auction.title}: winner {got.username if got else auction.winner_id}, "
                f"expected {expected_winner}",
            )
        elif top and auction.final_price is not None and auction.final_price != top[1]:
            problem("final_price", f"{auction.title}: final_price {auction.final_price}")
        if auction.email_done is None:
            problem("mail_missing", f"{auction.title}: end emails incomplete")
        expected = auction.expected_mail()
        got = Counter(r for m in ctx.sink.by_tag.get(auction.tag, []) for r in m["rcpt"])
        extra = sum(max(0, n - expected.get(r, 0)) for r, n in got.items())
        if extra:
            problem("mail_extra", f"{auction.title}: {extra} messages more than promised")
    if late_accepted:
        problem("late_bid_accepted", f"{late_accepted} bids accepted after end_time")

    def stats_of(values: list[float]) -> dict:
        return {
            "p50_s": percentile(values, 50),
            "p99_s": percentile(values, 99),
            "max_s": max(values) if values else 0.0,
        }

    total = stats_of(delays)
    setup = ctx.results.pop("_closing_setup", {})
    result = {
        **total,
        "auctions": len(auctions),
        "created_via": ctx.closing_create,
        "closed": sum(1 for a in auctions if a.closed_seen),
        "mail_complete": sum(1 for a in auctions if a.email_done),
        "bids_accepted": sum(len(a.accepted) for a in auctions),
        "winner": stats_of(winner_delays),
        "email": stats_of(email_delays),
        "recorded_closed_at": stats_of(recorded_delays),
        "timeout_s": timeout,
        "violations": sum(problems.values()),
        "by_kind": dict(problems),
        "details": details,
        "setup": setup,
        "errors_5xx": setup.get("errors_5xx", 0),
        "conn_errors": setup.get("conn_errors", 0),
    }
    ctx.log(
        f"closing: {result['closed']}/{len(auctions)} closed, "
        f"{result['mail_complete']}/{len(auctions)} mailed; delay p50 {total['p50_s']:.2f} s, "
        f"p99 {total['p99_s']:.2f} s, max {total['max_s']:.2f} s; "
        f"violations {result['violations']}"
    )
    return result


SCENARIOS = {
    "pg": scenario_pg,
    "floor": scenario_floor,
    "list": scenario_list,
    "detail": scenario_detail,
    "fanout": scenario_fanout,
    "closing": scenario_closing,
    "hot": scenario_hot,
    "spread": scenario_spread,
}


async def settle(ctx: Context, *, quiet: float = 1.5, limit: float) -> dict:
    """Wait until the sink has received nothing for `quiet` seconds (at most `limit`).

    Mail still flowing from an earlier scenario (a fan-out that timed out, new-bid emails)
    would otherwise be measured as part of the next one.
    """
    started = time.perf_counter()
    before = ctx.sink.total
    last_change, last_total = started, before
    while time.perf_counter() - last_change < quiet and time.perf_counter() - started < limit:
        await asyncio.sleep(0.1)
        if ctx.sink.poll():
            last_change, last_total = time.perf_counter(), ctx.sink.total
    waited = time.perf_counter() - started
    emails = last_total - before
    if emails:
        ctx.log(f"settled: {emails} emails still arrived in {waited:.1f} s")
    return {"waited_s": waited, "emails": emails, "quiet": waited < limit}


# Scenarios measured on a quiet mail pipeline: the bench waits for it before them.
SETTLE_BEFORE = ("closing", "floor", "hot")
# Scenarios divided by the floor, each followed by the floor again (`floor_again`).
BRACKETED = ("list", "detail", "hot", "spread")
# Scenarios whose new-bid emails go on after them: the floor after them waits for the mail.
MAILING = ("hot", "spread")


async def run_all(ctx: Context, selected: list[str]) -> dict:
    for name in ORDER:
        if name not in selected:
            continue
        ctx.log(f"--- {name}")
        settled = None
        if name in SETTLE_BEFORE:
            settled = await settle(ctx, limit=ctx.sizes.fanout_timeout_s / 2)
        ctx.results[name] = await SCENARIOS[name](ctx)
        if settled is not None:
            ctx.results[name]["settle"] = settled
        ctx.stack.check_alive()
        if name in BRACKETED and "floor" in ctx.results:
            if name in MAILING:
                ctx.results[name]["settle_after"] = await settle(
                    ctx, limit=ctx.sizes.fanout_timeout_s / 2
                )
            await floor_again(ctx, name)
            ctx.stack.check_alive()
    fanout = ctx.results.get("fanout")
    if fanout is not None:
        # For information: what the fan-out had delivered once everything else was done.
        fanout["received_by_end_of_run"] = len(ctx.sink.by_tag.get(f"fanout-{ctx.tag}", []))
    return ctx.results
