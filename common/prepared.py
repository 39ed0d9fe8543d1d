"""Hot-path queries compiled to SQL once per process.

Django compiles a queryset to SQL every time it runs it. On the two queries every bid runs
(the bearer token with its user, and the auction's row lock) the compilation cost more than
the database's own work: about 1.5 ms of the worker's CPU per query on a small machine, where
PostgreSQL answers in about 0.1 ms. A `PreparedQuery` is still written with the ORM, like every
other query in the project; it is compiled on its first use, with a placeholder in place of the
one value that changes, and from then on executed with the real value: the same SQL, the same
rows, the same model instances, without the compilation.

Deliberately narrow: a queryset that selects one model's rows by one value, with at most one
level of `select_related` on forward foreign keys, no annotations, no deferred fields.
Anything else is refused when it is compiled, so a misuse fails on its first run, in tests.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class _Part:
    """Where one model's columns sit in a row, and how to build the instance from them."""

    model: type[Model]
    attnames: list[str]
    start: int
    end: int
    local_setter: Callable[[Model, Model | None], None] | None = None
    remote_setter: Callable[[Model | None, Model], None] | None = None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    position: int  # the index of the changing value in params
    parts: list[_Part]
    converters: list[tuple[int, list, Any]]  # (column, converter functions, expression)


class PreparedQuery(Generic[M]):
    """`build(value)` returns the queryset; `fetch_one(value)` runs its compiled SQL.

    `placeholder` must be a value of the lookup's type that no real query uses (a negative
    id, a string no checksum can equal): it is how the changing parameter is found in the
    compiled SQL's parameters.
    """

    def __init__(self, build: Callable[[Any], QuerySet[M]], *, placeholder: Any) -> None:
        self._build = build
        self._placeholder = placeholder
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def fetch_one(self, value: Any, *, using: str = "default") -> M | None:
        """The first row of `build(value)` as a model instance (with its `select_related`
        instance attached), or None. Runs inside whatever transaction is open, like the
        queryset would."""
        connection = connections[using]
        key = (using, connection.vendor)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(using)
        params = list(compiled.params)
        params[compiled.position] = value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        if compiled.converters:
            row = list(row)
            for column, functions, expression in compiled.converters:
                value = row[column]
                for function in functions:
                    value = function(value, expression, connection)
                row[column] = value
        main, *related = compiled.parts
        instance = main.model.from_db(using, main.attnames, row[main.start : main.end])
        for part in related:
            values = row[part.start : part.end]
            obj = None
            if any(v is not None for v in values):
                obj = part.model.from_db(using, part.attnames, values)
                if part.remote_setter is not None:
                    part.remote_setter(obj, instance)
            if part.local_setter is not None:
                part.local_setter(instance, obj)
        return instance

    def _compile(self, using: str) -> _Compiled:
        queryset = self._build(self._placeholder)
        query = queryset.query
        if query.annotations or query.deferred_loading[0] or query.values_select:
            raise ValueError("PreparedQuery takes plain model rows only")
        compiler = query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        positions = [i for i, p in enumerate(params) if p == self._placeholder]
        if len(positions) != 1:
            raise ValueError("the placeholder must appear exactly once in the parameters")
        info = compiler.klass_info
        parts = [self._part(compiler, info)]
        for related in info.get("related_klass_infos", []):
            if related.get("related_klass_infos") or related.get("reverse"):
                raise ValueError("PreparedQuery follows one level of forward relations only")
            parts.append(
                self._part(
                    compiler,
                    related,
                    local_setter=related["local_setter"],
                    remote_setter=related["remote_setter"],
                )
            )
        expressions = [column[0] for column in compiler.select]
        converters = [
            (column, functions, expression)
            for column, (functions, expression) in compiler.get_converters(expressions).items()
        ]
        return _Compiled(sql, tuple(params), positions[0], parts, converters)

    @staticmethod
    def _part(compiler, info: dict, **setters) -> _Part:
        fields = info["select_fields"]
        if fields != list(range(fields[0], fields[-1] + 1)):
            raise ValueError("a model's columns must be contiguous in the row")
        attnames = [compiler.select[i][0].target.attname for i in fields]
        return _Part(info["model"], attnames, fields[0], fields[-1] + 1, **setters)
