"""Hot-path queries compiled to SQL once per process: one model row by one value
(`PreparedQuery`: the bearer token, the auction lock, an event's lock), value rows by one
value, with counts and pages (`values_run`: the auction list and detail), and value rows by
several ids (`PreparedRows`: an event's recipients); several `PreparedQuery` reads in one round
trip (`fetch_together`: a bid's token and auction); and UPDATEs by primary key and INSERTs of
one new row written from the model's metadata (`pk_update`, `model_insert`: a bid's
transaction, the outbox's per-event writes).

Django compiles a queryset to SQL every time it runs it. On the two queries every bid runs
(the bearer token with its user, and the auction's row lock) the compilation cost more than
the database's own work: about 1.5 ms of the worker's CPU per query on a small machine, where
PostgreSQL answers in about 0.1 ms. A `PreparedQuery` is still written with the ORM, like every
other query in the project; it is compiled on its first use, with a placeholder in place of the
one value that changes, and from then on executed with the real value: the same SQL, the same
rows, the same model instances, without the compilation.

`PreparedQuery` is deliberately narrow: a queryset that selects one model's rows by one
value, with at most one level of `select_related` on forward foreign keys, no annotations,
and no deferred fields but those of an `only()` (the others load on first access, as the
ORM's would). Anything else is refused when it is compiled, so a misuse fails on its first
run, in tests.

On PostgreSQL the same statements are also kept prepared by the server, once per session
(see "Statements PostgreSQL keeps prepared" below): the server then neither parses nor plans
them again.
"""

import hashlib
import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Field, Model, QuerySet

try:
    from psycopg import ClientCursor
except ImportError:  # no psycopg 3 (SQLite only, or psycopg2): reads run one after another
    ClientCursor = None

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
    converters: tuple[tuple[int, Sequence[Callable], Any], ...]  # (column, functions, expression)


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
        return fetch_together([(self, value)], using=using)[0]

    def _statement(self, value: Any, using: str) -> tuple[_Compiled, list]:
        compiled = _once_per_database(self._compiled, using, self._compile)
        params = list(compiled.params)
        params[compiled.position] = value
        return compiled, params

    @staticmethod
    def _instance(compiled: _Compiled, row: Sequence | None, using: str) -> Any:
        if row is None:
            return None
        if compiled.converters:
            row = _row_convert(row, compiled.converters, connections[using])
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
        fields, defer = query.deferred_loading
        if query.annotations or query.values_select or (fields and defer):
            raise ValueError("PreparedQuery takes model rows, with `only()` at most")
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
        converters = _converters_of(compiler)
        return _Compiled(sql, tuple(params), positions[0], parts, converters)

    @staticmethod
    def _part(compiler, info: dict, **setters) -> _Part:
        fields = info["select_fields"]
        if fields != list(range(fields[0], fields[-1] + 1)):
            raise ValueError("a model's columns must be contiguous in the row")
        attnames = [compiler.select[i][0].target.attname for i in fields]
        return _Part(info["model"], attnames, fields[0], fields[-1] + 1, **setters)


def fetch_together(
    reads: Sequence[tuple[PreparedQuery, Any]], *, using: str = "default"
) -> list[Any]:
    """`[query.fetch_one(value) for query, value in reads]`, in one round trip to PostgreSQL.

    With client-side parameter binding (the project's setting) psycopg sends a query as one
    simple-protocol message, which may hold several statements; each answers with its own
    result set, read in turn with `nextset()`. PostgreSQL runs such a message as one implicit
    transaction, so in autocommit mode the rows come from one snapshot. A round trip is most
    of what a one-row read costs the worker (the driver's send, wait and result handling):
    two reads together cost about two thirds of two reads apart. On other databases, or with
    server-side binding, the reads run one after another.
    """
    connection = connections[using]
    statements = [query._statement(value, using) for query, value in reads]
    with connection.cursor() as cursor:
        each = _run_each(cursor, [(compiled.sql, params) for compiled, params in statements])
        rows = [cursor.fetchone() for _ in each]
    return [
        query._instance(compiled, row, using)
        for (query, _), (compiled, _), row in zip(reads, statements, rows, strict=True)
    ]


def _several_statements_per_execute(cursor) -> bool:
    """Whether the driver sends a query with its parameters bound client-side, as one
    simple-protocol message that may hold several statements (psycopg's `ClientCursor`)."""
    return (
        cursor.db.vendor == "postgresql"
        and ClientCursor is not None
        and isinstance(cursor.cursor, ClientCursor)
    )


# --- Statements PostgreSQL keeps prepared ------------------------------------------------------
#
# PostgreSQL parses, analyses and plans every statement it receives as text. For the short
# statements of the hot path that is most of the server's work: a bid's two reads (its bearer
# token and its auction) cost a server process about 0.30 ms of CPU as text and 0.12 ms as
# EXECUTE of statements it keeps prepared; a new bid's transaction, 1.2 ms and 0.8 ms.
#
# So the statements written here once per process (`PreparedQuery`, `PreparedRows`,
# `pk_update`, `models_insert`) are also prepared by the server, once per session: the first
# use on a session sends `PREPARE name AS <the SQL, with $1, $2...>` ahead of
# `EXECUTE name(...)` in the same message (one round trip, as before); later uses send the
# EXECUTE alone. psycopg still binds the parameters on the client, as the literals of the
# EXECUTE, so several statements still travel in one message (`fetch_together`). The
# backend (`common.db`) records which statements its current session has prepared, and
# forgets them with the session. A statement is named after its SQL, so every process uses
# the same name for it. PostgreSQL plans a prepared statement for its first executions'
# values, then keeps a generic plan when that costs no more: these statements select by
# primary or unique keys, where the two plans are the same.
#
# Prepared statements outlive a transaction rolled back, but an error in a message that
# prepares one may leave the record unsure: the next message then starts with DEALLOCATE ALL.
# A session holds at most `MAX_PREPARED_PER_SESSION` of them; further statements are sent as
# text. Off where the database's settings say `PREPARED_STATEMENTS: False` (behind a pooler
# that may give the next transaction another server session), and on other databases.

MAX_PREPARED_PER_SESSION = 200
_MAX_STATEMENTS = 2000  # SQL texts named per process; further ones are sent as text


@dataclass(frozen=True)
class _ServerStatement:
    name: str
    prepare: str  # PREPARE name AS ..., with `%%` for a literal `%`
    execute: str  # EXECUTE name(%s, ...): psycopg binds the parameters


_server_statements: dict[str, _ServerStatement | None] = {}
_UNSEEN: Any = object()
_PLACEHOLDER = re.compile(r"%[%s]")


def _server_statement(sql: str, count: int) -> _ServerStatement | None:
    """The prepared form of `sql` (with `count` parameters), or None if it has none: no
    parameter (nothing to gain), or placeholders that do not match the parameters."""
    statement = _server_statements.get(sql, _UNSEEN)
    if statement is not _UNSEEN:
        return statement
    numbers = itertools.count(1)
    numbered = _PLACEHOLDER.sub(
        lambda match: "%%" if match.group() == "%%" else f"${next(numbers)}", sql
    )
    found = next(numbers) - 1
    statement = None
    if count and found == count:
        name = "stmt_" + hashlib.sha256(sql.encode()).hexdigest()[:24]
        marks = ", ".join(["%s"] * count)
        statement = _ServerStatement(
            name, f"PREPARE {name} AS {numbered}", f"EXECUTE {name}({marks})"
        )
    if len(_server_statements) < _MAX_STATEMENTS:
        _server_statements[sql] = statement
    return statement


_EXECUTED = re.compile(r"\bEXECUTE (stmt_[0-9a-f]{24})\(")


def statement_sql(sent: str) -> str:
    """The SQL a message sent by this module runs: for a message of prepared statements,
    each one's SQL (with its parameters as $1, $2...), joined by "; ", without the PREPAREs
    and DEALLOCATEs that travelled with them; any other message as it is. For logs and
    tests, which see `EXECUTE stmt_...(...)` in `connection.queries`."""
    names = _EXECUTED.findall(sent)
    if not names or not sent.startswith(("EXECUTE ", "PREPARE ", "DEALLOCATE ")):
        return sent
    by_name = {s.name: s.prepare for s in list(_server_statements.values()) if s is not None}
    return "; ".join(by_name[name].split(" AS ", 1)[1] for name in names)


def _send(cursor, statements: Sequence[tuple[str, Sequence]]) -> Iterator[None]:
    """Run `statements` ((sql, params) each) in one message, as EXECUTE of prepared
    statements where the session may keep them; yields once per statement, with the cursor
    on that statement's result. The cursor must bind parameters on the client (psycopg's
    `ClientCursor`, see `_several_statements_per_execute`). Consume the whole iterator."""
    db = cursor.db
    names = getattr(db, "prepared_statements", None)
    parts: list[str] = []
    params: list = []
    results: list[int] = []  # the index of each statement's result in the message's results
    prepared_any = False
    if names is not None and db.prepared_unsure:
        parts.append("DEALLOCATE ALL")
        names.clear()
        db.prepared_unsure = False
        prepared_any = True
    for sql, statement_params in statements:
        statement = _server_statement(sql, len(statement_params)) if names is not None else None
        if statement is not None and (
            statement.name in names or len(names) < MAX_PREPARED_PER_SESSION
        ):
            if statement.name not in names:
                parts.append(statement.prepare)
                names.add(statement.name)
            parts.append(statement.execute)
            prepared_any = True
        else:
            parts.append(sql)
        results.append(len(parts) - 1)
        params.extend(statement_params)
    try:
        cursor.execute("; ".join(parts), params)
    except Exception:
        if prepared_any:
            db.prepared_unsure = True
        raise
    current = 0
    for index in results:
        while current < index:
            cursor.nextset()
            current += 1
        yield


def _run_each(cursor, statements: Sequence[tuple[str, Sequence]]) -> Iterator[None]:
    """Run `statements` ((sql, params) each), yielding once per statement with the cursor on
    its result: in one message, prepared where the session may keep them, on PostgreSQL
    (`_send`); one after another elsewhere. Consume the whole iterator."""
    if _several_statements_per_execute(cursor):
        yield from _send(cursor, statements)
        return
    for sql, params in statements:
        cursor.execute(sql, params)
        yield


def _execute(cursor, sql: str, params: Sequence) -> None:
    """`cursor.execute(sql, params)`, as EXECUTE of a statement the session keeps prepared
    where it can (PostgreSQL); the cursor is left on the statement's result."""
    for _ in _run_each(cursor, [(sql, params)]):
        pass


C = TypeVar("C")


def _once_per_database(
    cache: dict[tuple[str, str], C], using: str, compile_for: Callable[[str], C]
) -> C:
    """`compile_for(using)`, run once per database alias and vendor, kept in `cache`."""
    key = (using, connections[using].vendor)
    compiled = cache.get(key)
    if compiled is None:
        compiled = cache[key] = compile_for(using)
    return compiled


def _converters_of(compiler) -> tuple[tuple[int, tuple[Callable, ...], Any], ...]:
    """The converters Django applies to a compiled query's columns, by column."""
    expressions = [column[0] for column in compiler.select]
    return tuple(
        (column, tuple(functions), expression)
        for column, (functions, expression) in compiler.get_converters(expressions).items()
    )


def _rows_run(
    connection, sql: str, params: Sequence, converters, *, prepare: bool = False
) -> list[Sequence]:
    """The rows of `sql`, with Django's column converters applied; with `prepare`, through
    a statement the session keeps prepared where it can (`_execute`)."""
    with connection.cursor() as cursor:
        if prepare:
            _execute(cursor, sql, params)
        else:
            cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not converters:
        return rows
    return [_row_convert(row, converters, connection) for row in rows]


def _row_convert(row: Sequence, converters, connection) -> list:
    """Apply Django's column converters to one row (SQLite returns decimals, datetimes and
    booleans raw; PostgreSQL needs few or none)."""
    row = list(row)
    for column, functions, expression in converters:
        value = row[column]
        for function in functions:
            value = function(value, expression, connection)
        row[column] = value
    return row


# --- Value rows by one value ---------------------------------------------------------------
#
# A question that differs between requests only in one value (the instant that decides an
# auction's `status`, or an id) is compiled once per process and key, and run again with the
# new value. Unlike `PreparedQuery` it finds where the value enters the SQL by compiling the
# query twice, with two values, so the value may be one the ORM prepares (a datetime), and a
# query that uses it any other way is recognised and never reused.


@dataclass(frozen=True)
class _Statement:
    """A values_list query compiled to SQL: the positions of its varying value in the
    parameters, the field that prepares that value for the database, and the converters
    Django applies to the columns (SQLite returns decimals, datetimes and booleans raw)."""

    sql: str
    params: tuple
    field: Field
    positions: tuple[int, ...]
    converters: tuple[tuple[int, Sequence[Callable], Any], ...] = ()

    def run(
        self, value: Any, using: str, *, extra: Sequence = (), prepare: bool = False
    ) -> list[Sequence]:
        """The rows for `value`; `extra` are the parameters of placeholders appended to
        the compiled SQL (a page's LIMIT and OFFSET); with `prepare`, through a statement
        the session keeps prepared (`_execute`)."""
        connection = connections[using]
        params = list(self.params)
        prepared = self.field.get_db_prep_value(value, connection)
        for position in self.positions:
            params[position] = prepared
        params.extend(extra)
        return _rows_run(connection, self.sql, params, self.converters, prepare=prepare)


def _statement_compile(
    values_at: Callable[[Any], QuerySet],
    value: Any,
    *,
    other: Any,
    field: Field,
    using: str,
    count: bool = False,
    paged: bool = False,
) -> _Statement | None:
    """Compile `values_at(value)`, a values_list queryset, into a `_Statement`: with
    `count`, one that counts its rows; with `paged`, one that ends in `LIMIT %s OFFSET %s`
    (Django writes a slice's bounds into the SQL text; as parameters, every page of a
    question shares one statement).

    Compiled a second time with `other`, the query shows which parameters carry the value:
    those that differ. They must be the value itself as `field` prepares it, so that any
    later value can be put in their place. A query that uses the value in any other way (in
    its SQL text, or as `now - 1 day`) gives None: it is never reused. `EmptyResultSet`
    (a value that can match nothing, such as an id out of range) goes to the caller.
    """
    compiled = []
    for each in (value, other):
        compiler = values_at(each).query.get_compiler(using=using)
        compiled.append((compiler, *compiler.as_sql()))
    (compiler, sql, params), (_, other_sql, other_params) = compiled
    if sql != other_sql or len(params) != len(other_params):
        return None
    connection = connections[using]
    expected = (
        field.get_db_prep_value(value, connection),
        field.get_db_prep_value(other, connection),
    )
    positions = tuple(
        i for i, pair in enumerate(zip(params, other_params, strict=True)) if pair[0] != pair[1]
    )
    if any((params[i], other_params[i]) != expected for i in positions):
        return None
    if count:
        return _Statement(f"SELECT COUNT(*) FROM ({sql}) counted", tuple(params), field, positions)
    if paged:
        sql = f"{sql} LIMIT %s OFFSET %s"
    converters = _converters_of(compiler)
    return _Statement(sql, tuple(params), field, positions, converters)


class _StatementCache:
    """A per-process LRU of compiled statements; None marks a question not to reuse."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, _Statement | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[bool, _Statement | None]:
        """(whether the question was compiled before, its statement)."""
        with self._lock:
            if key not in self._entries:
                return False, None
            self._entries.move_to_end(key)
            return True, self._entries[key]

    def put(self, key: Hashable, statement: _Statement | None) -> None:
        with self._lock:
            self._entries[key] = statement
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


_statements = _StatementCache()


def values_run(
    key: Hashable,
    values_at: Callable[[Any], QuerySet],
    value: Any,
    *,
    other: Any,
    field: Field,
    using: str = "default",
    count: bool = False,
    window: tuple[int, int] | None = None,
    prepare: bool = False,
) -> list[Sequence]:
    """The rows of `values_at(value)` (with `count`: one row, its count; with `window`:
    the rows from `start` up to `stop`), through SQL compiled once per process for `key`.
    `other` is another value of the same kind, used once to find where the value enters
    the SQL; `field` prepares it for the database. With `prepare`, the session keeps the
    statement prepared: for a lookup by key, whose plan does not depend on the value (a
    list filtered by an instant is planned for each instant, which prepared costs more)."""
    paged = window is not None
    key = (using, connections[using].vendor, key, count, paged)
    compiled, statement = _statements.get(key)
    if not compiled:
        try:
            statement = _statement_compile(
                values_at, value, other=other, field=field, using=using, count=count, paged=paged
            )
        except EmptyResultSet:
            statement = None  # says nothing about the next value: compile again then
        else:
            _statements.put(key, statement)
    start, stop = window or (0, None)
    if statement is not None:
        extra = (stop - start, start) if paged else ()
        return statement.run(value, using, extra=extra, prepare=prepare)
    queryset = values_at(value)  # not reusable: the ORM, as usual
    return [(queryset.count(),)] if count else list(queryset[start:stop])


# --- Value rows by several values ------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    sql: str
    params: tuple
    slots: tuple[tuple[int, str], ...]  # (parameter position, name of the value that goes there)
    converters: tuple[tuple[int, Sequence[Callable], Any], ...]


class PreparedRows:
    """`build(values)` returns a values_list queryset; `fetch(values)` runs its SQL compiled
    once per process and database, with each value where its placeholder was.

    `values` is a mapping; the query is first built with `placeholders` (the same keys,
    integers no real query uses, all different), and a parameter equal to a placeholder is
    where that value goes. A placeholder the query does not use is simply not needed. For
    integer values (ids, cursors), which Django passes to the database as they are.
    """

    def __init__(
        self, build: Callable[[dict[str, Any]], QuerySet], *, placeholders: dict[str, int]
    ) -> None:
        if len(set(placeholders.values())) != len(placeholders):
            raise ValueError("placeholders must all be different")
        self._build = build
        self._placeholders = placeholders
        self._compiled: dict[tuple[str, str], _Rows] = {}

    def fetch(self, values: dict[str, Any], *, using: str = "default") -> list[Sequence]:
        """The rows of `build(values)`; runs inside whatever transaction is open."""
        connection = connections[using]
        compiled = _once_per_database(self._compiled, using, self._compile)
        params = list(compiled.params)
        for position, name in compiled.slots:
            params[position] = values[name]
        return _rows_run(connection, compiled.sql, params, compiled.converters, prepare=True)

    def _compile(self, using: str) -> _Rows:
        compiler = self._build(dict(self._placeholders)).query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        names = {placeholder: name for name, placeholder in self._placeholders.items()}
        slots = tuple(
            (i, names[p])
            for i, p in enumerate(params)
            if type(p) is int and p in names  # a bool, a list or a JSON value is never one
        )
        return _Rows(sql, tuple(params), slots, _converters_of(compiler))


# --- Updates by primary key --------------------------------------------------------------------


def pk_update(
    model: type[Model],
    pks: Sequence[Any],
    values: dict[str, Any],
    *,
    increments: Sequence[str] = (),
    using: str = "default",
) -> int:
    """`model.objects.filter(pk__in=pks).update(**values, **{name: F(name) + 1 ...})`, with
    the SQL written from the model's metadata instead of compiled by the ORM: on the outbox's
    per-message writes the compilation cost more than the database's work. Each value is
    prepared by its field, as `update()` does (datetimes for SQLite, say). Returns the number
    of rows updated."""
    if not pks:
        return 0
    connection = connections[using]
    sql, params = _pk_update_statement(connection, model, pks, values, increments)
    with connection.cursor() as cursor:
        _execute(cursor, sql, params)
        return cursor.rowcount


def pk_updates(
    model: type[Model],
    changes: Sequence[tuple[Sequence[Any], dict[str, Any]]],
    *,
    using: str = "default",
) -> None:
    """`pk_update(model, pks, values)` for each (pks, values) of `changes`, in one round trip
    on PostgreSQL (one message of several statements), one after another elsewhere."""
    connection = connections[using]
    statements = [
        _pk_update_statement(connection, model, pks, values, ()) for pks, values in changes if pks
    ]
    if not statements:
        return
    with connection.cursor() as cursor:
        for _ in _run_each(cursor, statements):
            pass


def _pk_update_statement(
    connection, model: type[Model], pks: Sequence[Any], values: dict, increments: Sequence[str]
) -> tuple[str, list]:
    """The UPDATE of `pk_update`, with its parameters."""
    quote = connection.ops.quote_name
    meta = model._meta
    fields = [meta.get_field(name) for name in values]
    sets = [f"{quote(field.column)} = %s" for field in fields]
    for name in increments:
        column = quote(meta.get_field(name).column)
        sets.append(f"{column} = {column} + 1")
    marks = ", ".join(["%s"] * len(pks))
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {', '.join(sets)} "
        f"WHERE {quote(meta.pk.column)} IN ({marks})"
    )
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, values.values(), strict=True)
    ]
    return sql, [*params, *pks]


# --- Inserts of one new row --------------------------------------------------------------------

_insert_sql: dict[tuple[type[Model], str, str], tuple[str, str, list[Field]]] = {}


def model_insert(instance: M, *, using: str = "default") -> M:
    """`instance.save(force_insert=True)` for a new row whose primary key the database
    assigns, with the INSERT written once per model from its metadata instead of compiled by
    the ORM on every save: on a bid's transaction (the bid, its event) the compilation cost
    more than the database's work. See `models_insert`."""
    return models_insert([instance], using=using)[0]


def models_insert(instances: Sequence[M], *, using: str = "default") -> Sequence[M]:
    """`bulk_create(instances)` of new rows of one model whose primary key the database
    assigns, in one INSERT written from the model's metadata; sets each new primary key.

    Each value is prepared by its field (`pre_save`, then `get_db_prep_save`), as a save
    does. Sends no `pre_save` / `post_save` signal: for models nothing listens to. A value
    the database must compute (a `db_default`), or several rows on a database that cannot
    return their keys, go through the ORM's own save / `bulk_create` instead.
    """
    if not instances:
        return instances
    connection = connections[using]
    model = type(instances[0])
    meta = model._meta
    key = (model, using, connection.vendor)
    cached = _insert_sql.get(key)
    if cached is None:
        cached = _insert_sql[key] = _insert_compile(model, connection)
    head, returning, fields = cached
    rows = [[field.pre_save(instance, True) for field in fields] for instance in instances]
    returns_rows = connection.features.can_return_rows_from_bulk_insert
    if any(hasattr(v, "resolve_expression") for row in rows for v in row) or (
        len(instances) > 1 and not returns_rows
    ):
        if len(instances) == 1:
            instances[0].save(force_insert=True, using=using)
        else:
            model._base_manager.using(using).bulk_create(instances)
        return instances
    marks = f"({', '.join(['%s'] * len(fields))})"
    limit = max(connection.ops.bulk_batch_size(fields, instances), 1)  # SQLite's variable limit
    pks = []
    with connection.cursor() as cursor:
        if _several_statements_per_execute(cursor):  # kept and prepared: a few shapes only
            sizes = _insert_chunk_sizes(len(rows), limit)
        else:  # SQLite: each chunk as large as its variable limit allows
            sizes = [min(limit, len(rows) - start) for start in range(0, len(rows), limit)]
        statements = []
        start = 0
        for size in sizes:
            chunk = rows[start : start + size]
            start += size
            sql = f"{head} VALUES {', '.join([marks] * size)}{returning}"
            params = [
                field.get_db_prep_save(value, connection)
                for row in chunk
                for field, value in zip(fields, row, strict=True)
            ]
            statements.append((sql, params))
        for _ in _run_each(cursor, statements):  # in one message on PostgreSQL
            if returning:
                pks.extend(row[0] for row in cursor.fetchall())
            else:
                pks.append(connection.ops.last_insert_id(cursor, meta.db_table, meta.pk.column))
    for instance, pk in zip(instances, pks, strict=True):
        setattr(instance, meta.pk.attname, pk)
        instance._state.adding = False
        instance._state.db = using
    return instances


# On PostgreSQL, rows are inserted in chunks whose sizes are powers of two, up to this many,
# all in one message: each distinct row count is another SQL text (kept by
# `_server_statement`, and prepared on the server), so that any number of rows costs at
# most 11 texts per model (1, 2, 4 ... 1024 rows), not one per batch size ever seen (2.5 MB
# of text for an INSERT of 15,000 rows). SQLite's driver keeps its own statements in a
# small LRU cache, and one statement per chunk spares it round trips.
INSERT_CHUNK_MAX = 1024


def _insert_chunk_sizes(count: int, limit: int) -> list[int]:
    """The sizes of the chunks that insert `count` rows: the largest power of two that fits,
    again and again, never above `limit` (a database's bound on parameters) nor
    `INSERT_CHUNK_MAX`. Largest first."""
    cap = 1 << (min(limit, INSERT_CHUNK_MAX).bit_length() - 1)
    sizes = []
    while count:
        size = min(cap, 1 << (count.bit_length() - 1))
        sizes.append(size)
        count -= size
    return sizes


def _insert_compile(model: type[Model], connection) -> tuple[str, str, list[Field]]:
    """The INSERT's head (table and columns), its RETURNING clause, and its fields."""
    meta = model._meta
    if meta.auto_field is None or meta.auto_field is not meta.pk:
        raise ValueError("models_insert takes models whose primary key the database assigns")
    fields = [
        field
        for field in meta.local_concrete_fields
        if field is not meta.pk and not getattr(field, "generated", False)
    ]
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"
    returning = ""
    if connection.features.can_return_columns_from_insert:
        returning = f" RETURNING {quote(meta.pk.column)}"
    return head, returning, fields
