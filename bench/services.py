"""The service in its production shape, on loopback, started and torn down by the bench.

`Stack` owns everything the bench starts: a fresh PostgreSQL database, a Redis database
number (flushed before and after), the SMTP sink, gunicorn, a Celery worker and Celery
beat. Every child runs in its own process group, so the teardown can kill each one with
everything it forked (gunicorn's and Celery's pool processes) and a Ctrl-C in the terminal
reaches only the bench, which then tears down in order. `Stack.close()` is idempotent and
is called from a `finally`; SIGTERM is turned into the same path by `run.py`.

The children stay in the bench's session. Linux's autogroup scheduling gives each session
one share of the cores however many processes it runs: in sessions of their own, gunicorn's
two workers would together weigh as much as one mailer, and the mailers' `nice` would count
only against their own threads. In one session every process weighs as its nice value says.
"""

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/7"

# The README's deployment: gunicorn with 2 sync workers (one per core). Sync workers do not
# keep connections alive (they close after each response whatever --keep-alive says).
# No control socket: its default path is per user, shared with any other gunicorn running.
GUNICORN_ARGS = [
    "--workers",
    os.environ.get("WEB_CONCURRENCY", "2"),
    "--worker-class",
    "sync",
    "--keep-alive",
    "5",
    "--no-control-socket",
]
# The Celery processes of the Procfile (README, Deployment), on this one machine: a closer
# for the `closing` queue, one mailer per core for `notifications`, and one beat (started
# apart).
CLOSER_ARGS = ["--queues", "closing", "--pool", "threads", "--concurrency", "4"]
MAILER_ARGS = ["--queues", "notifications", "--pool", "threads", "--concurrency", "8"]
# The README's advice for mailers that share the web workers' cores: a lower CPU priority,
# so that the API answers first and the emails take the time it leaves idle.
MAILER_NICE = 10
WORKERS = ("closer", "mailer", "mailer2")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class ComponentFailed(RuntimeError):
    """A process of the stack died or never became ready."""


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(text[-lines:])


@dataclass
class Stack:
    workdir: Path
    worker_args: dict[str, list[str]] = field(
        default_factory=lambda: {
            "closer": list(CLOSER_ARGS),
            "mailer": list(MAILER_ARGS),
            "mailer2": list(MAILER_ARGS),
        }
    )
    db_name: str = field(default_factory=lambda: f"auction_bench_{os.getpid()}")
    http_port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    procs: list[Proc] = field(default_factory=list)
    db_created: bool = False
    closed: bool = False
    _control: Any = None  # Celery's remote control, to ping the workers

    # --- wiring -------------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:5432/{self.db_name}"

    @property
    def sink_log(self) -> Path:
        return self.workdir / "sink.jsonl"

    def env(self) -> dict[str, str]:
        """The service's environment: production shape, on loopback, with BENCH_MODE on."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "CELERY_", "DATABASE_", "EMAIL_"))
        }
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "CELERY_BROKER_URL": REDIS_URL,
                "EMAIL_URL": f"smtp://127.0.0.1:{self.smtp_port}",
                "BENCH_MODE": "1",
                "PORT": str(self.http_port),
                "SECRET_KEY": f"bench-{os.getpid()}-not-secret",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DEBUG": "0",
                "LOG_LEVEL": "WARNING",
                # Keeps the bench's files (secret key, mail fallback, static) out of var/.
                "VAR_DIR": str(self.workdir / "var"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _spawn(self, name: str, argv: list[str]) -> Proc:
        log = self.workdir / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                process_group=0,  # killed with its children; the session is the bench's
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    # --- bring up -----------------------------------------------------------------------

    def database_create(self) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self.db_created = True

    def redis_flush(self) -> None:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
        try:
            client.flushdb()
        finally:
            client.close()

    def migrate(self) -> None:
        result = subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ComponentFailed(f"manage.py migrate failed:\n{result.stdout}{result.stderr}")

    def django_facts_start(self) -> subprocess.Popen:
        """The password hash and the model defaults the loader needs (bench/django_facts.py),
        computed in the background; read them with `django_facts_read`."""
        return subprocess.Popen(
            [str(VENV_BIN / "python"), "-m", "bench.django_facts"],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    @staticmethod
    def django_facts_read(popen: subprocess.Popen) -> dict:
        stdout, stderr = popen.communicate(timeout=120)
        if popen.returncode != 0:
            raise ComponentFailed(f"bench.django_facts failed:\n{stdout}{stderr}")
        return json.loads(stdout.strip().splitlines()[-1])

    def start_sink(self) -> Proc:
        return self._spawn(
            "sink",
            [
                str(VENV_BIN / "python"),
                "-m",
                "bench.sink",
                "--port",
                str(self.smtp_port),
                "--out",
                str(self.sink_log),
            ],
        )

    def start_gunicorn(self) -> Proc:
        return self._spawn(
            "gunicorn",
            [
                str(VENV_BIN / "gunicorn"),
                "config.wsgi:application",
                *GUNICORN_ARGS,
                "--bind",
                f"127.0.0.1:{self.http_port}",
            ],
        )

    def start_workers(self) -> list[Proc]:
        procs = []
        for name in WORKERS:
            # The log level of the README's deployment (Celery's default, WARNING): at INFO a
            # worker writes two lines per task, a few percent of a mailer's CPU.
            argv = [str(VENV_BIN / "celery"), "-A", "config", "worker"]
            argv += ["--hostname", f"{name}@%h", *self.worker_args[name]]
            if name.startswith("mailer"):
                argv = ["nice", "-n", str(MAILER_NICE), *argv]
            procs.append(self._spawn(name, argv))
        return procs

    def start_beat(self) -> Proc:
        return self._spawn(
            "beat",
            [
                str(VENV_BIN / "celery"),
                "-A",
                "config",
                "beat",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(self.workdir / "celerybeat-schedule"),
                "--pidfile",
                str(self.workdir / "celerybeat.pid"),
            ],
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until gunicorn answers /readyz, the sink listens and the workers say ready."""
        deadline = time.monotonic() + timeout
        pending = {"gunicorn", "sink", *WORKERS}
        while pending:
            self.check_alive()
            if "sink" in pending and port_open(self.smtp_port):
                pending.discard("sink")
            if "gunicorn" in pending and self._readyz():
                pending.discard("gunicorn")
            if pending & set(WORKERS):
                pending -= self._workers_answering()
            if not pending:
                self._wait_quiet(deadline)
                return
            if time.monotonic() > deadline:
                raise ComponentFailed(f"not ready after {timeout:.0f} s: {sorted(pending)}")
            time.sleep(0.1)

    def _workers_answering(self) -> set[str]:
        """The workers that answer a ping over the broker: their consumers are running."""
        from celery import Celery  # only here: the bench's other parts do without it

        if self._control is None:
            self._control = Celery(broker=REDIS_URL).control
        host = socket.gethostname()
        names = {f"{name}@{host}": name for name in WORKERS}
        replies = self._control.ping(destination=list(names), timeout=0.5) or []
        return {names[hostname] for reply in replies for hostname in reply if hostname in names}

    def _cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(proc.popen.pid)
                for member in (root, *root.children(recursive=True)):
                    times = member.cpu_times()
                    total += times.user + times.system
        return total

    def _wait_quiet(self, deadline: float, window: float = 0.5, busy: float = 0.1) -> None:
        """Until the stack has finished booting: over `window` seconds, its processes use
        less than `busy` of one core (the beat, started last, imports Django while the
        first scenario would already run)."""
        before = self._cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(window)
            after = self._cpu_seconds()
            if after - before < busy * window:
                return
            before = after

    def _readyz(self) -> bool:
        url = f"http://127.0.0.1:{self.http_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    # --- health and teardown ------------------------------------------------------------

    def proc(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)

    def check_alive(self) -> None:
        """Raise ComponentFailed, with the log's tail, if any process of the stack died."""
        for proc in self.procs:
            if not proc.alive():
                raise ComponentFailed(
                    f"{proc.name} exited with code {proc.popen.returncode}; "
                    f"last lines of {proc.log}:\n{proc.log_tail()}"
                )

    def describe(self) -> str:
        lines = [
            f"  database   {self.database_url}",
            f"  broker     {REDIS_URL}",
            f"  api        http://127.0.0.1:{self.http_port}/api/v1/",
            f"  smtp sink  127.0.0.1:{self.smtp_port} (log {self.sink_log})",
        ]
        lines += [f"  {p.name:<10} pid {p.popen.pid} (log {p.log})" for p in self.procs]
        return "\n".join(lines)

    def close(self) -> None:
        """Kill every process group (TERM, then KILL), drop the database, flush Redis."""
        if self.closed:
            return
        self.closed = True
        # The API first (no new work), then the scheduler, the workers, the sink.
        order = {"gunicorn": 0, "beat": 1, "closer": 2, "mailer": 2, "mailer2": 2, "sink": 3}
        procs = sorted(self.procs, key=lambda p: order.get(p.name, 9))
        for proc in procs:
            _signal_group(proc.popen, signal.SIGTERM)
        # Nothing of the bench stack needs a graceful end (the database is dropped next).
        deadline = time.monotonic() + 3.0
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Whatever is left in the group (a pool child, a hung worker) dies now.
            _signal_group(proc.popen, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)
        if self.db_created:
            try:
                with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            except psycopg.Error as exc:
                print(f"bench: could not drop {self.db_name}: {exc}", file=sys.stderr)
        try:
            self.redis_flush()
        except redis.RedisError as exc:
            print(f"bench: could not flush {REDIS_URL}: {exc}", file=sys.stderr)


def _signal_group(popen: subprocess.Popen, sig: int) -> None:
    # The child leads its own process group, so its pid is the group's id. The group may
    # outlive its leader (an orphaned pool child), hence no check on popen.poll() here.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, sig)


def argv_split(value: str) -> list[str]:
    return shlex.split(value)
