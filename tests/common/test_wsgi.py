"""The WSGI entry point loads what the first requests would otherwise wait for."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_booted_worker_has_the_redis_transport_loaded_before_any_request():
    # A fresh interpreter: in the test process, other tests have imported everything.
    probe = "import sys, config.wsgi; print('kombu.transport.redis' in sys.modules)"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",  # never contacted: nothing connects
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
