"""A real Celery worker (and beat) in a child process, as `make run` starts it, pointed at
the test database, the test broker and the test SMTP server."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    """The URL of the database the tests run on (the test database, not the real one)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class WorkerProcess:
    """`celery -A config worker` (optionally with `--beat`) as a child process."""

    def __init__(
        self,
        *,
        smtp_url: str,
        beat: bool = False,
        concurrency: int = 1,
        queues: str = "closing,notifications",
    ) -> None:
        self.smtp_url = smtp_url
        self.beat = beat
        self.concurrency = concurrency
        self.queues = queues
        self.process: subprocess.Popen | None = None
        self.log_path = Path(settings.VAR_DIR) / f"test-worker-{os.getpid()}-{id(self)}.log"

    def start(self) -> None:
        self.log_path.unlink(missing_ok=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "DATABASE_URL": test_database_url(),
            "CELERY_BROKER_URL": settings.TEST_BROKER_URL,
            "EMAIL_URL": self.smtp_url,
            # Persistent connections, as deployed (SQLite closes them anyway).
            "TEST_CONN_MAX_AGE": "600",
            # Fast retries and recovery, so fault tests take seconds.
            "NOTIFICATION_RETRY_BASE_SECONDS": "0.2",
            "NOTIFICATION_RECOVER_AFTER_SECONDS": "0.5",
        }
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--queues", self.queues, "--concurrency", str(self.concurrency),
            "--pool", "threads", "--loglevel", "INFO", "--without-mingle",
            "--without-gossip", "--hostname", f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
        ]  # fmt: skip
        if self.beat:
            schedule = Path(settings.VAR_DIR) / f"test-beat-{os.getpid()}"
            command += ["--beat", "--schedule", str(schedule)]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children): a crash."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """Tests never wait for a warm shutdown: whatever was in flight, the outbox keeps."""
        self.kill()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the worker has connected and consumes (its log says "ready")."""
        wait_for(lambda: " ready." in self.log(), timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wait_for(predicate: Callable[[], object], *, timeout: float = 20.0, every: float = 0.05):
    """Poll until `predicate()` is truthy and return it; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {predicate}")
        time.sleep(every)
