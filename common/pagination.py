"""`{"count", "next", "previous", "results"}` with `?page=` and `?page_size=` (max 100)."""

import threading
import time
from functools import partial

from django.core.paginator import Paginator
from django.utils.functional import cached_property
from rest_framework import pagination
from rest_framework.exceptions import ValidationError

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
    `LARGE_COUNT_SECONDS` old. Pages are always read fresh. `count_key` names the question
    (the URL, the user and the filters); without one, every count is exact."""

    def __init__(self, *args, count_key: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.count_key = count_key

    @cached_property
    def count(self) -> int:
        if self.count_key is None:
            return super().count
        cached = _counts.get(self.count_key)
        if cached is not None:
            return cached
        count = super().count
        if count > LARGE_COUNT:
            _counts.put(self.count_key, count)
        return count


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        # A page or a page size that is not a positive whole number is the client's mistake,
        # said as such (400), not served as page 1 or the default size; a page past the last
        # one is a 404. The schema says the same (`get_schema_operation_parameters`).
        self._positive_int_param(request, self.page_query_param)
        self._positive_int_param(request, self.page_size_query_param)
        # The same list for the same user with the same filters is the same count.
        filters = sorted(
            (key, value)
            for key, value in request.query_params.lists()
            if key not in (self.page_query_param, self.page_size_query_param)
        )
        self._count_key = f"{request.path}|{request.user.pk}|{filters!r}"
        return super().paginate_queryset(queryset, request, view)

    @property
    def django_paginator_class(self):
        return partial(CachedCountPaginator, count_key=getattr(self, "_count_key", None))

    @staticmethod
    def _positive_int_param(request, name: str) -> None:
        values = request.query_params.getlist(name)
        if not values:
            return
        if len(values) > 1:
            raise ValidationError({name: ["Give this parameter once."]})
        if not (values[0].isascii() and values[0].isdigit() and int(values[0]) >= 1):
            raise ValidationError({name: ["A positive whole number is required."]})

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["description"] = "The page number, from 1. A page past the last is 404."
            elif parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Items per page, default {self.page_size}; a size over "
                    f"{self.max_page_size} is served as {self.max_page_size}."
                )
            else:
                continue
            parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters
