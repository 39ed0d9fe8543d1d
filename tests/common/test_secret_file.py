"""The generated secret key: private to its owner, and one key however many processes boot
together."""

import os
import stat
import subprocess
import sys

from tests.support.probe import ROOT, python_probe

# Waits for the starting signal, then loads the settings (which create the key file).
RACER = """
import os, sys, time
import dj_database_url, dj_email_url, django.core.exceptions
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.005)
from django.conf import settings
print(settings.SECRET_KEY)
"""


def test_processes_booting_together_share_one_key_in_a_private_file(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(tmp_path)}
    env.pop("SECRET_KEY", None)
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(go)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    go.touch()
    outputs = [racer.communicate(timeout=120) for racer in racers]

    assert all(racer.returncode == 0 for racer in racers), [err for _, err in outputs]
    keys = {out.strip() for out, _ in outputs}
    assert len(keys) == 1
    key_file = tmp_path / "secret_key"
    assert key_file.read_text().strip() == keys.pop()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".secret_key.*"))  # no temporary file left behind


def test_a_world_readable_key_file_is_made_private_and_kept(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text("an-older-key\n")
    key_file.chmod(0o644)

    key = python_probe(
        "from django.conf import settings; print(settings.SECRET_KEY)",
        VAR_DIR=str(tmp_path),
        SECRET_KEY="",
    )

    assert key == "an-older-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
