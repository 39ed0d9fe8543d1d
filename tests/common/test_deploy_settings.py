"""Production behind TLS: the environment switches on secure cookies, HSTS and the proxy's
https header, and Django's deployment check then finds nothing to say about security."""

import os
import secrets
import subprocess
import sys

from tests.support.probe import ROOT, python_probe

BEHIND_TLS = {
    "SECRET_KEY": secrets.token_urlsafe(60),
    "DEBUG": "false",
    "ALLOWED_HOSTS": "auction.example.com",
    "HTTPS": "true",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def test_check_deploy_has_no_security_warning_behind_tls():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **BEHIND_TLS},
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
    assert "(security." not in result.stdout + result.stderr
    # Token storage and refresh-token reuse are settled too.
    assert "oauth2_provider.W006" not in result.stdout + result.stderr
    assert "oauth2_provider.W007" not in result.stdout + result.stderr


def test_behind_tls_the_proxy_header_makes_a_request_secure_and_cookies_secure():
    probe = """
import django
django.setup()
from django.conf import settings
from django.test import RequestFactory
request = RequestFactory().get("/", HTTP_X_FORWARDED_PROTO="https")
plain = RequestFactory().get("/")
print(request.is_secure(), plain.is_secure(), settings.SESSION_COOKIE_SECURE,
      settings.CSRF_COOKIE_SECURE, settings.SECURE_HSTS_SECONDS)
"""
    assert python_probe(probe, **BEHIND_TLS) == "True False True True 31536000"


def test_without_https_the_development_defaults_stay():
    probe = """
from django.conf import settings
print(settings.SESSION_COOKIE_SECURE, settings.SECURE_HSTS_SECONDS,
      getattr(settings, "SECURE_PROXY_SSL_HEADER", None))
"""
    assert python_probe(probe, HTTPS="", SECURE_PROXY_SSL_HEADER="") == "False 0 None"
