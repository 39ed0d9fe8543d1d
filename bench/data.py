"""Bulk-loaded data: users, finished and active auctions, bids, and the bench clients' tokens.

The API is the only way the product writes data, but creating 100,000 auctions through it
would take longer than the whole benchmark. So the bench writes the rows the services
would have written, with SQL (`INSERT ... SELECT generate_series`), in a few seconds, and
keeps every constraint and every invariant the services keep:

- users `bench00001` ... with one password hash (the project's `make_password`, computed
  once by bench/django_facts.py);
- finished auctions look closed: `closed_at` set, `winner` = `leader` = the last bidder,
  `final_price` = `current_price` = the highest bid, or no winner and no price if nobody
  bid (0 to 3 bids each, each a step above the previous), so the closing sweep ignores them;
- active auctions without bids (the `spread` scenario's ground), one active auction with
  1,000 bids (`detail`), one without bids (`hot`), and the rows pgbench bids on, which
  are old enough never to show on the first page of a list;
- an access token per bench client, inserted as django-oauth-toolkit rows (the raw token
  and its SHA-256 checksum), or obtained through `POST /api/v1/auth/token`.

Users 1..CLIENTS are the bench clients (they bid); every auction the bench loads is owned
by a user above them, so a client never bids on its own auction.

Ids are explicit and laid out in ranges (`Layout`); the identity sequences are moved past
them at the end, so the service's own inserts continue after them.
"""

import hashlib
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
from psycopg import sql

CLIENTS = 32  # users 1..32 bid; 16 of them in each bid scenario
PASSWORD = "bench-password-4f1c"  # a throwaway password for throwaway users
FIRST_PARTY_CLIENT_ID = "auction-first-party"


@dataclass(frozen=True)
class Sizes:
    users: int
    finished: int
    active: int
    detail_bids: int
    pg_spread_rows: int
    closing_auctions: int
    # seconds
    floor_s: float
    list_s: float
    detail_s: float
    hot_s: float
    spread_s: float
    pg_s: float
    fanout_timeout_s: float
    closing_timeout_s: float
    warmup_requests: int
    bid_warmup_s: float  # bids before `hot` and `spread` measure, with the same clients
    floor_slice_s: float  # the floor again after each scenario divided by it


FULL = Sizes(
    users=10_000,
    finished=100_000,
    active=1_000,
    detail_bids=1_000,
    pg_spread_rows=1_000,
    closing_auctions=200,
    floor_s=10,
    list_s=10,
    detail_s=10,
    hot_s=20,
    spread_s=20,
    pg_s=10,
    fanout_timeout_s=60,
    closing_timeout_s=30,
    warmup_requests=200,
    bid_warmup_s=2,
    floor_slice_s=5,
)

QUICK = Sizes(
    users=1_000,
    finished=5_000,
    active=100,
    detail_bids=1_000,
    pg_spread_rows=100,
    closing_auctions=50,
    floor_s=3,
    list_s=3,
    detail_s=3,
    hot_s=5,
    spread_s=5,
    pg_s=3,
    fanout_timeout_s=20,
    closing_timeout_s=15,
    warmup_requests=50,
    bid_warmup_s=0.5,
    floor_slice_s=2,
)


@dataclass(frozen=True)
class Layout:
    """Where each kind of auction sits in the id space (inclusive ranges)."""

    finished: tuple[int, int]
    active: tuple[int, int]
    detail_id: int
    hot_id: int
    pg_hot_id: int
    pg_spread: tuple[int, int]
    owner_id: int  # owns the detail, hot and pgbench auctions

    @classmethod
    def for_sizes(cls, sizes: Sizes) -> "Layout":
        f, a, p = sizes.finished, sizes.active, sizes.pg_spread_rows
        return cls(
            finished=(1, f),
            active=(f + 1, f + a),
            detail_id=f + a + 1,
            hot_id=f + a + 2,
            pg_hot_id=f + a + 3,
            pg_spread=(f + a + 4, f + a + 3 + p),
            owner_id=CLIENTS + 1,
        )

    @property
    def last_id(self) -> int:
        return self.pg_spread[1]

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Client:
    """A bench user that bids: its id, username, email and bearer token."""

    user_id: int
    username: str
    email: str
    token: str


def username(user_id: int) -> str:
    return f"bench{user_id:05d}"


def email(user_id: int) -> str:
    return f"{username(user_id)}@bench.test"


def column_defaults_apply(conn: psycopg.Connection, defaults: dict[str, dict]) -> list[str]:
    """Give the database the model defaults of the NOT NULL columns that lack one.

    The INSERTs below name the columns the bench knows; a column a later migration adds
    with a model default (Django keeps such defaults in Python, not in the database) gets
    it here, so the INSERTs keep working. Returns "table.column" for each default set.
    A NOT NULL column without any default cannot be guessed: the INSERT then fails, and
    the loader must learn about it.
    """
    applied = []
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = ANY(%s)"
        " AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'",
        (list(defaults),),
    ).fetchall()
    for table, column in rows:
        if column not in defaults[table]:
            continue
        conn.execute(
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
                sql.Identifier(table), sql.Identifier(column), sql.Literal(defaults[table][column])
            )
        )
        applied.append(f"{table}.{column}")
    return applied


# The owners of the bulk auctions are users CLIENTS+1 .. users, cycled with `% owners`.
# A bidder on a finished auction is an owner-pool user one to three places after its
# owner, so it is never the owner itself.
_SQL_USERS = """
INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email,
                       is_staff, is_active, date_joined)
SELECT g, %(hash)s, false, 'bench' || lpad(g::text, 5, '0'), '', '',
       'bench' || lpad(g::text, 5, '0') || '@bench.test', false, true,
       %(now)s - interval '60 days'
FROM generate_series(1, %(users)s::int) AS g
"""

_SQL_FINISHED = """
INSERT INTO auctions_auction (id, owner_id, title, description, starting_price, price_step,
    currency, end_time, closes_at, created_at, current_price, leader_id, bid_count,
    closed_at, winner_id, final_price)
SELECT k, o.owner, 'Finished lot ' || k, 'Bulk-loaded finished auction.', 10.00, 1.00, 'USD',
       e.t, e.t, e.t - interval '7 days',
       10.00 + greatest(k %% 4 - 1, 0),
       CASE WHEN k %% 4 > 0 THEN o.last_bidder END,
       k %% 4,
       e.t + interval '500 milliseconds',
       CASE WHEN k %% 4 > 0 THEN o.last_bidder END,
       CASE WHEN k %% 4 > 0 THEN 10.00 + (k %% 4 - 1) END
FROM generate_series(%(lo)s::int, %(hi)s::int) AS k,
     LATERAL (SELECT %(now)s - interval '1 hour' - (k * interval '20 seconds') AS t) AS e,
     LATERAL (SELECT %(c)s + 1 + (k %% %(owners)s) AS owner,
                     %(c)s + 1 + ((k + k %% 4) %% %(owners)s) AS last_bidder) AS o
"""

_SQL_FINISHED_BIDS = """
INSERT INTO auctions_bid (auction_id, bidder_id, amount, created_at)
SELECT k, %(c)s + 1 + ((k + j + 1) %% %(owners)s), 10.00 + j,
       %(now)s - interval '1 hour' - (k * interval '20 seconds') - interval '1 hour'
           + j * interval '1 minute'
FROM generate_series(%(lo)s::int, %(hi)s::int) AS k, generate_series(0, 2) AS j
WHERE j < k %% 4
ORDER BY k, j
"""

_SQL_ACTIVE = """
INSERT INTO auctions_auction (id, owner_id, title, description, starting_price, price_step,
    currency, end_time, closes_at, created_at, current_price, leader_id, bid_count)
SELECT k, %(c)s + 1 + (k %% %(owners)s), 'Active lot ' || k, 'Bulk-loaded active auction.',
       10.00 + (k %% 90), 1.00 + (k %% 5), 'USD',
       %(now)s + interval '1 day' + k * interval '1 second',
       %(now)s + interval '1 day' + k * interval '1 second',
       %(now)s - interval '1 hour' + (k - %(lo)s) * interval '1 second',
       10.00 + (k %% 90), NULL, 0
FROM generate_series(%(lo)s::int, %(hi)s::int) AS k
"""

# The detail, hot and pgbench auctions. created_at: detail and hot are the newest of the
# load; the pgbench rows a year old, so they never reach the first page of a list.
_SQL_SPECIAL = """
INSERT INTO auctions_auction (id, owner_id, title, description, starting_price, price_step,
    currency, end_time, closes_at, created_at, current_price, leader_id, bid_count)
SELECT k, %(owner)s, t.title, 'Bulk-loaded for the benchmark.', t.start, 1.00, 'USD',
       %(now)s + interval '1 day', %(now)s + interval '1 day', t.created, t.start, NULL, 0
FROM generate_series(%(lo)s::int, %(hi)s::int) AS k,
     LATERAL (SELECT
        CASE WHEN k = %(detail)s THEN 'Detail lot (1,000 bids)'
             WHEN k = %(hot)s THEN 'Hot lot'
             WHEN k = %(pg_hot)s THEN 'pgbench hot row'
             ELSE 'pgbench spread row ' || k END AS title,
        CASE WHEN k = %(hot)s THEN 100.00 ELSE 10.00 END AS start,
        CASE WHEN k IN (%(detail)s, %(hot)s) THEN %(now)s - interval '30 minutes'
             ELSE %(now)s - interval '365 days' END AS created) AS t
"""

# The detail auction's bids: each a step above the previous, from users other than its
# owner (the owner pool, skipping the owner).
_SQL_DETAIL_BIDS = """
INSERT INTO auctions_bid (auction_id, bidder_id, amount, created_at)
SELECT %(detail)s, %(owner)s + 1 + (j %% (%(owners)s - 1)), 10.00 + j,
       %(now)s - interval '20 minutes' + j * interval '1 second'
FROM generate_series(0, %(n)s::int - 1) AS j
ORDER BY j
"""

_SQL_DETAIL_DENORMALISE = """
UPDATE auctions_auction SET
    current_price = 10.00 + (%(n)s - 1),
    bid_count = %(n)s,
    leader_id = %(owner)s + 1 + ((%(n)s - 1) %% (%(owners)s - 1))
WHERE id = %(detail)s AND %(n)s > 0
"""


def load(conn: psycopg.Connection, sizes: Sizes, *, now: datetime, password_hash: str) -> Layout:
    """Bulk-insert the whole data set in one transaction; returns where things are.

    `password_hash`: one `make_password(PASSWORD)` by the project, reused for every user.
    """
    layout = Layout.for_sizes(sizes)
    owners = sizes.users - CLIENTS
    if owners < 8:
        raise ValueError(f"need more than {CLIENTS + 8} users")
    common = {"now": now, "c": CLIENTS, "owners": owners}
    with conn.transaction():
        (existing,) = conn.execute("SELECT count(*) FROM auth_user").fetchone()
        if existing:
            raise RuntimeError("the bench database is expected to start without users")
        conn.execute(_SQL_USERS, {**common, "hash": password_hash, "users": sizes.users})
        lo, hi = layout.finished
        conn.execute(_SQL_FINISHED, {**common, "lo": lo, "hi": hi})
        conn.execute(_SQL_FINISHED_BIDS, {**common, "lo": lo, "hi": hi})
        lo, hi = layout.active
        conn.execute(_SQL_ACTIVE, {**common, "lo": lo, "hi": hi})
        special = {
            **common,
            "owner": layout.owner_id,
            "lo": layout.detail_id,
            "hi": layout.pg_spread[1],
            "detail": layout.detail_id,
            "hot": layout.hot_id,
            "pg_hot": layout.pg_hot_id,
            "n": sizes.detail_bids,
        }
        conn.execute(_SQL_SPECIAL, special)
        conn.execute(_SQL_DETAIL_BIDS, special)
        conn.execute(_SQL_DETAIL_DENORMALISE, special)
        for table in ("auth_user", "auctions_auction", "auctions_bid"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    return layout


def analyze(conn: psycopg.Connection) -> None:
    """VACUUM ANALYZE the loaded tables, as a database that has lived a while would be."""
    previous = conn.autocommit
    conn.autocommit = True
    try:
        for table in ("auth_user", "auctions_auction", "auctions_bid"):
            conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        conn.autocommit = previous


def tokens_insert(conn: psycopg.Connection, *, now: datetime, count: int = CLIENTS) -> list[Client]:
    """Access tokens for users 1..count, as django-oauth-toolkit rows of the first-party
    application (the raw token and the SHA-256 checksum DOT looks tokens up by)."""
    row = conn.execute(
        "SELECT id FROM oauth2_provider_application WHERE client_id = %s",
        (FIRST_PARTY_CLIENT_ID,),
    ).fetchone()
    application_id = row[0] if row else None
    clients = []
    with conn.transaction(), conn.cursor() as cur:
        for user_id in range(1, count + 1):
            raw = secrets.token_urlsafe(30)
            cur.execute(
                "INSERT INTO oauth2_provider_accesstoken (token, token_checksum, expires, scope,"
                " application_id, user_id, created, updated, resource)"
                " VALUES (%s, %s, %s, 'read write', %s, %s, %s, %s, '[]')",
                (
                    raw,
                    hashlib.sha256(raw.encode()).hexdigest(),
                    now + timedelta(days=1),
                    application_id,
                    user_id,
                    now,
                    now,
                ),
            )
            clients.append(Client(user_id, username(user_id), email(user_id), raw))
    return clients


def bids_of(conn: psycopg.Connection, auction_ids: list[int]) -> dict[int, list[Decimal]]:
    rows = conn.execute(
        "SELECT auction_id, amount FROM auctions_bid WHERE auction_id = ANY(%s) ORDER BY id",
        (auction_ids,),
    ).fetchall()
    result: dict[int, list[Decimal]] = {}
    for auction_id, amount in rows:
        result.setdefault(auction_id, []).append(amount)
    return result
