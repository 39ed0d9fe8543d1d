"""`make run` as honcho starts it: every process, whatever PORT honcho gives it, links to
the API in its emails."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.probe import ROOT

PROBE = """
import os

import django
from django.conf import settings

django.setup()
print("probe", os.environ["HONCHO_PROCESS_NAME"], os.environ["PORT"], settings.SITE_URL, flush=True)
"""


def honcho_command_of_make_run(port: int) -> str:
    """The line of `make run`'s recipe that starts honcho, as make would run it."""
    planned = subprocess.run(
        ["make", "-n", "run", f"PORT={port}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    [command] = [line for line in planned if " honcho " in line]
    return command


def process_names(procfile: Path) -> list[str]:
    return re.findall(r"^([A-Za-z0-9_]+):", procfile.read_text(), flags=re.MULTILINE)


def run_like_make_run(tmp_path: Path, *, port: int, **env: str) -> dict[str, tuple[str, str]]:
    """Start `make run`'s honcho command through make (so with what make exports), with the
    processes of Procfile.embedded replaced by a probe that prints the PORT it was given and
    the SITE_URL its settings computed; return {process: (PORT, SITE_URL)}."""
    names = process_names(ROOT / "Procfile.embedded")
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    procfile = tmp_path / "Procfile"
    procfile.write_text("".join(f"{name}: {sys.executable} {script}; sleep 60\n" for name in names))
    command = honcho_command_of_make_run(port).replace("Procfile.embedded", str(procfile))
    assert str(procfile) in command
    environment = {name: value for name, value in os.environ.items() if name != "SITE_URL"}
    environment.update(DJANGO_SETTINGS_MODULE="config.settings", PYTHONPATH=str(ROOT), **env)
    process = subprocess.Popen(
        ["make", "-s", "--eval", f"probe-run: ; {command}", "probe-run", f"PORT={port}"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: stopped as a whole below
    )
    seen: dict[str, tuple[str, str]] = {}
    output: list[str] = []
    deadline = time.monotonic() + 90
    try:
        assert process.stdout is not None
        while len(seen) < len(names) and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if match := re.search(r"probe (\w+)\.1 (\d+) (\S+)", line):
                seen[match.group(1)] = (match.group(2), match.group(3))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert set(seen) == set(names), "".join(output)
    return seen


def test_every_process_of_make_run_links_to_the_web_port_whatever_its_own(tmp_path):
    seen = run_like_make_run(tmp_path, port=23456)

    assert seen["web"] == ("23456", "http://127.0.0.1:23456")
    assert seen["mailer"] == ("23656", "http://127.0.0.1:23456")  # mailer's own PORT differs
    assert {site_url for _, site_url in seen.values()} == {"http://127.0.0.1:23456"}


def test_a_site_url_from_the_environment_wins_under_make_run(tmp_path):
    seen = run_like_make_run(tmp_path, port=23456, SITE_URL="https://auction.example.com")

    assert {site_url for _, site_url in seen.values()} == {"https://auction.example.com"}
