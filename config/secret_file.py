"""The secret key of a machine without `SECRET_KEY`: one random key in a file, readable only
by its owner, created exactly once however many processes start together.

The key is written whole to a private temporary file (`mkstemp` creates it with mode 0600
and O_EXCL) and then hard-linked to its name: `link` fails when the name exists, so the
first process to link wins, every other one reads the winner's key, and nobody can read a
file that is still being written. A file left world-readable by an older version is made
private when read.
"""

import contextlib
import os
import secrets
import stat
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def secret_key_load(path: Path) -> str:
    """The key in `path`, created there (mode 0600) if the file does not exist yet."""
    try:
        return _secret_key_read(path)
    except FileNotFoundError:
        pass
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(50))
            file.flush()
            os.fsync(file.fileno())
        # When another process linked its key first, that one is the key.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return _secret_key_read(path)


def _secret_key_read(path: Path) -> str:
    with open(path) as file:
        mode = os.fstat(file.fileno()).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            os.fchmod(file.fileno(), 0o600)
        key = file.read().strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty: delete it, or set SECRET_KEY.")
    return key
