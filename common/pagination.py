"""`{"count", "next", "previous", "results"}` with `?page=` and `?page_size=` (max 100)."""

import threading
import time
from datetime import datetime

from django.core.paginator import Paginator
from django.utils.functional import cached_property
from rest_framework import pagination

# Counting a large result set costs more than rendering a page of it (100,000 finished
# auctions: a scan of the whole index, every request). A count above this is reused for
# a short while by the process that computed it; smaller counts are always exact.
LARGE_COUNT = 1000
LARGE_COUNT_SECONDS = 2.0


class _CountCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, int]] = {}

    def get(self, key: str) -> int | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, count: int) -> None:
        with self._lock:
            if len(self._entries) > 1000:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + LARGE_COUNT_SECONDS, count)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_counts = _CountCache()


class CachedCountPaginator(Paginator):
    """Django's paginator, whose count of a large result set may be up to
    `LARGE_COUNT_SECONDS` old. Pages are always read fresh."""

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is None:
            return super().count
        sql, params = query.sql_with_params()
        # "now" is a parameter of the status filters: within a second, the same question.
        params = tuple(
            value.replace(microsecond=0) if isinstance(value, datetime) else value
            for value in params
        )
        key = f"{sql}|{params!r}"
        cached = _counts.get(key)
        if cached is not None:
            return cached
        count = super().count
        if count > LARGE_COUNT:
            _counts.put(key, count)
        return count


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    django_paginator_class = CachedCountPaginator
