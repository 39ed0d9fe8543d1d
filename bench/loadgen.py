"""A lean HTTP/1.1 load generator: one event loop (uvloop), raw sockets, no HTTP library.

The load generator shares the machine's two cores with the service it measures, so every
microsecond it spends is taken from the server. Requests are built with one bytes
formatting, responses parsed only as far as the status line and the framing headers
(`Content-Length`, `Transfer-Encoding: chunked`, `Connection: close`); bodies stay bytes
unless a scenario needs a field out of them.

Connections: gunicorn's sync workers answer `Connection: close` to every request (a sync
worker serves one connection at a time, so it never keeps one open), so by default each
request opens a new loopback connection. With `keepalive=True` the client asks for
keep-alive and reuses a connection whenever the server lets it; against sync workers the
two modes measure the same (see bench/README.md, "Connections").

Only 127.0.0.1 is ever contacted.
"""

import asyncio
import math
import os
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

HOST = "127.0.0.1"
T = TypeVar("T")


def loop_run(main: Awaitable[T]) -> T:
    """Run `main` to completion on uvloop's event loop (libuv), which spends a fraction of
    asyncio's own CPU per socket operation; on asyncio's where uvloop is missing."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


class HttpError(Exception):
    """The connection failed or the response was malformed: the outcome is unknown."""


@dataclass
class Response:
    status: int
    body: bytes


class HttpClient:
    """One virtual user's connection to 127.0.0.1:port."""

    def __init__(self, port: int, *, token: str | None = None, keepalive: bool = False) -> None:
        self.port = port
        self.keepalive = keepalive
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        conn = "keep-alive" if keepalive else "close"
        self._head = f"Host: {HOST}:{port}\r\n{auth}Connection: {conn}\r\n".encode()
        self.connects = 0  # how many connections this client opened

    async def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        """Send one request and read its whole response. Raises HttpError on any failure."""
        if body is None:
            extra = b""
            body = b""
        else:
            extra = b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        data = b"%s %s HTTP/1.1\r\n%s%s\r\n%s" % (
            method.encode(),
            path.encode(),
            self._head,
            extra,
            body,
        )
        try:
            if self._writer is None or self._reader is None:
                self._reader, self._writer = await asyncio.open_connection(HOST, self.port)
                self.connects += 1
            self._writer.write(data)
            return await self._read_response(self._reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            self.close()
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc

    async def _read_response(self, reader: asyncio.StreamReader) -> Response:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = -1
        chunked = False
        close = not self.keepalive
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = close or value.strip().lower() == b"close"
        if chunked:
            body = await self._read_chunked(reader)
        elif length >= 0:
            body = await reader.readexactly(length)
        else:
            body = await reader.read()  # framed by the end of the connection
            close = True
        if close:
            self.close()
        return Response(status, body)

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are expected
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


@dataclass
class Stats:
    """What one scenario saw: latencies of answered requests, statuses, failures."""

    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, answered requests only
    statuses: Counter = field(default_factory=Counter)
    conn_errors: int = 0
    started: float = 0.0
    ended: float = 0.0
    cpu_start: float = 0.0
    cpu_end: float = 0.0
    cpu_account: "CpuAccount | None" = None
    error_samples: list[str] = field(default_factory=list)

    def begin(self) -> None:
        """Start the clocks: wall time, the load generator's CPU, the stack's CPU."""
        if self.cpu_account:
            self.cpu_account.begin()
        self.cpu_start = process_cpu_seconds()
        self.started = time.perf_counter()

    def finish(self) -> None:
        self.ended = time.perf_counter()
        self.cpu_end = process_cpu_seconds()
        if self.cpu_account:
            self.cpu_account.finish()

    def record(self, status: int, seconds: float) -> None:
        self.latencies.append(seconds)
        self.statuses[status] += 1

    def record_failure(self, message: str) -> None:
        self.conn_errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(message)

    @property
    def wall(self) -> float:
        return max(self.ended - self.started, 1e-9)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.requests / self.wall

    def count(self, status: int) -> int:
        return self.statuses.get(status, 0)

    @property
    def errors_5xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def percentile_ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000.0

    @property
    def loadgen_cpu_share(self) -> float:
        """The load generator's CPU time over the wall time of both cores (0..1)."""
        return (self.cpu_end - self.cpu_start) / self.wall / 2.0

    def summary(self) -> dict:
        return {
            "requests": self.requests,
            "rps": self.rps,
            "p50_ms": self.percentile_ms(50),
            "p90_ms": self.percentile_ms(90),
            "p99_ms": self.percentile_ms(99),
            "max_ms": self.percentile_ms(100),
            "errors_5xx": self.errors_5xx,
            "conn_errors": self.conn_errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "duration_s": self.wall,
            "loadgen_cpu_share": self.loadgen_cpu_share,
            "cpu_shares": self.cpu_account.shares() if self.cpu_account else {},
        }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; 0.0 for an empty list."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = math.ceil(q / 100.0 * len(ordered))
    return ordered[max(0, min(len(ordered), rank) - 1)]


class CpuAccount:
    """Where the machine's cores went during a run: CPU seconds of each component (a process
    tree of the stack, PostgreSQL's and Redis's server processes, the load generator) and
    idle time, as shares of the wall time of all cores (they add up to about 1)."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups  # component name -> root pids (children are included)
        self.start: dict[str, float] = {}
        self.end: dict[str, float] = {}
        self.wall = 0.0

    def _snapshot(self) -> dict[str, float]:
        import psutil  # the bench group's; imported here so loadgen stays importable alone

        owner = {}
        for name, pids in self.groups.items():
            for pid in pids:
                try:
                    root = psutil.Process(pid)
                    for proc in (root, *root.children(recursive=True)):
                        owner[proc.pid] = name
                except psutil.Error:
                    continue
        owner[os.getpid()] = "loadgen"
        totals: Counter = Counter()
        for proc in psutil.process_iter(["name"]):
            name = owner.get(proc.pid)
            if name is None:
                process_name = proc.info["name"] or ""
                if process_name.startswith("postgres"):
                    name = "postgres"
                elif process_name.startswith("redis"):
                    name = "redis"
                else:
                    name = "other"
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            totals[name] += times.user + times.system
        totals["idle"] = psutil.cpu_times().idle
        return dict(totals)

    def begin(self) -> None:
        self.start = self._snapshot()
        self.wall = -time.perf_counter()

    def finish(self) -> None:
        self.wall += time.perf_counter()
        self.end = self._snapshot()

    def shares(self) -> dict[str, float]:
        cores = os.cpu_count() or 1
        out = {}
        for name, seconds in self.end.items():
            used = seconds - self.start.get(name, 0.0)  # a process that started counts whole
            out[name] = round(max(used, 0.0) / max(self.wall, 1e-9) / cores, 3)
        return dict(sorted(out.items(), key=lambda item: -item[1]))


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def timed(stats: Stats, client: HttpClient, method: str, path: str, body=None):
    """One request, recorded in `stats`. Returns the Response, or None when it failed."""
    start = time.perf_counter()
    try:
        response = await client.request(method, path, body)
    except HttpError as exc:
        stats.record_failure(f"{method} {path}: {exc}")
        return None
    stats.record(response.status, time.perf_counter() - start)
    return response


async def run_users(
    stats: Stats, users: list[Callable[[float], Awaitable[None]]], duration: float
) -> Stats:
    """Run every user coroutine until `duration` seconds from now; time and CPU the run.

    Each user is called with the deadline (a `time.perf_counter()` value) and loops until
    it passes; the run's wall time ends when the last user returns.
    """
    stats.begin()
    await asyncio.gather(*(user(stats.started + duration) for user in users))
    stats.finish()
    return stats
