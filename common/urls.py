"""URL helpers: ids that fit the database, and routes with an optional trailing slash."""

from django.urls import path, register_converter
from django.urls.resolvers import URLPattern


class IdConverter:
    """A positive id that fits a 64-bit column: a longer number is a 404, not a crash."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")


def route(pattern: str, view, name: str) -> list[URLPattern]:
    """`pattern` and `pattern/`, both answered directly (no redirect, so POST works)."""
    return [path(pattern, view, name=name), path(f"{pattern}/", view)]
