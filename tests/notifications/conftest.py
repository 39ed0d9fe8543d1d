import pytest

from config.celery import app as celery_app
from tests.support.smtp import SmtpServer
from tests.support.worker import WorkerProcess


@pytest.fixture(scope="session")
def smtp_server():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp_server, settings):
    """The SMTP server's mailbox, emptied; this process's mail goes to that server too."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    smtp_server.mailbox.clear()
    smtp_server.mailbox.delay = 0.0
    yield smtp_server.mailbox
    smtp_server.mailbox.delay = 0.0
    smtp_server.mailbox.refuse = set()
    smtp_server.mailbox.refuse_for_now = set()
    smtp_server.mailbox.refuse_content = set()
    smtp_server.mailbox.closing = set()
    smtp_server.mailbox.on_data = None
    smtp_server.mailbox.pipelining = True


@pytest.fixture
def start_worker(smtp_server):
    """Start real Celery workers for this test; they are stopped at its end."""
    celery_app.control.purge()
    workers: list[WorkerProcess] = []

    def start(
        *, beat: bool = False, concurrency: int = 1, queues: str = "closing,notifications"
    ) -> WorkerProcess:
        worker = WorkerProcess(
            smtp_url=smtp_server.url, beat=beat, concurrency=concurrency, queues=queues
        )
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
