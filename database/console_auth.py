"""Who may use the staff console: passwords, sessions and the sign-in limit, in PostgreSQL
(migrations/0008_console.sql).

- Passwords are argon2id hashes (argon2-cffi's `PasswordHasher`, its recommended
  parameters), set with `complaints staff set-password ID`: at least 12 characters.
- A session is 256 random bits; the browser's cookie carries it (signed by the console),
  PostgreSQL keeps only its SHA-256. It ends after 8 idle hours, at sign-out, on a new
  password, or when its member is no longer on the roster or no longer available: every
  request reads the member afresh, so such a session stops working at once.
- Failed sign-ins are counted by client address (the proxy's X-Forwarded-For only from
  FORWARDED_ALLOW_IPS, starter/clients.py) and by the login tried. Past a few free ones,
  each failure makes the next attempt wait longer, doubling (2 s, 4 s, 8 s, ... up to a
  cap), and an attempt during the wait is refused (429, Retry-After) before any password
  is checked. Nothing locks an account for good: someone guessing at another's account
  slows it for minutes at most, and the owner's next attempt after the wait counts.

Only roster members have passwords: an intake system has an API key and nothing else, so
it cannot sign in.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from database.records import staff_member
from workflows.records import StaffMember

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # hashing a megabyte on every attempt would be a cheap attack
IDLE_TIMEOUT = timedelta(hours=8)
FAILURE_WINDOW = timedelta(minutes=15)  # failures older than this are forgotten
# Failures without any wait, then a wait that doubles with each one, up to the cap: per
# login gently (its owner may be the one mistyping), per client harder (a guesser).
MAX_FAILURES_PER_LOGIN = 5
MAX_FAILURES_PER_CLIENT = 20
FIRST_WAIT_SECONDS = 2
MAX_WAIT_PER_LOGIN = timedelta(minutes=5)
MAX_WAIT_PER_CLIENT = timedelta(minutes=15)

_hasher = PasswordHasher()  # argon2id
# Checked against when the login names nobody, so an unknown login takes as long as a known one.
_NOBODY = _hasher.hash(secrets.token_urlsafe(16))


class PasswordRefused(ValueError):
    """A password that cannot be set; the message says why."""


class SignInThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Session:
    member: StaffMember
    csrf_token: str


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def hash_password(password: str) -> str:
    """The argon2id hash of a password, in its encoded form ($argon2id$v=19$...)."""
    return _hasher.hash(password)


async def set_password(conn: asyncpg.Connection, staff_id: str, password: str,
                       hashed: str | None = None) -> None:
    """Set (or replace) a roster member's password; their open sessions end. `hashed`: its
    hash_password, already computed (the tests hash each password once)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRefused(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRefused(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise PasswordRefused("a password cannot be only spaces")
    hashed = hashed or await asyncio.to_thread(hash_password, password)
    async with conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM staff WHERE id = $1", staff_id):
            raise PasswordRefused(f"{staff_id!r} is not on the roster (complaints seed FILE)")
        await conn.execute(
            """INSERT INTO staff_passwords (staff_id, hash) VALUES ($1, $2)
               ON CONFLICT (staff_id) DO UPDATE SET hash = $2, set_at = now()""",
            staff_id, hashed)
        await conn.execute("UPDATE console_sessions SET ended_at = now() "
                           "WHERE staff_id = $1 AND ended_at IS NULL", staff_id)


async def sign_in(pool: asyncpg.Pool, login: str, password: str,
                  client: str) -> StaffMember | None:
    """The available roster member whose id or email is `login` and whose password this is;
    None otherwise (the failure counts). Raises SignInThrottled past the limit."""
    login = login.strip().casefold()[:320]
    async with pool.acquire() as conn:
        await _refuse_when_throttled(conn, login, client)
        row = await conn.fetchrow(
            """SELECT s.*, p.hash FROM staff s JOIN staff_passwords p ON p.staff_id = s.id
               WHERE (lower(s.id) = $1 OR lower(s.email) = $1) AND s.available
               ORDER BY lower(s.id) = $1 DESC LIMIT 1""", login)
    good = await asyncio.to_thread(_verify, row["hash"] if row else _NOBODY,
                                   password[:MAX_PASSWORD_LENGTH])
    if row is None or not good:
        async with pool.acquire() as conn:
            async with conn.transaction():  # the record keeps only the window it needs
                await conn.execute("DELETE FROM console_sign_in_failures "
                                   "WHERE at < now() - $1::interval", FAILURE_WINDOW)
                await conn.execute("INSERT INTO console_sign_in_failures (client, login) "
                                   "VALUES ($1, $2)", client, login)
        return None
    return staff_member(row)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def backoff(failures: int, free: int, cap: timedelta) -> timedelta:
    """How long after the last failure the next attempt must wait, with `failures` in the
    window: nothing for the first `free`, then FIRST_WAIT_SECONDS doubling, up to `cap`."""
    if failures < free:
        return timedelta(0)
    doublings = min(failures - free, 30)  # 2**30 s is far past any cap
    return min(cap, timedelta(seconds=FIRST_WAIT_SECONDS * 2 ** doublings))


async def _refuse_when_throttled(conn: asyncpg.Connection, login: str, client: str) -> None:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE login = $1) AS by_login,
                  max(at) FILTER (WHERE login = $1) AS last_by_login,
                  count(*) FILTER (WHERE client = $2) AS by_client,
                  max(at) FILTER (WHERE client = $2) AS last_by_client,
                  now() AS now
           FROM console_sign_in_failures
           WHERE at > now() - $3::interval AND (login = $1 OR client = $2)""",
        login, client, FAILURE_WINDOW)
    waits = [row[f"last_by_{who}"] + backoff(row[f"by_{who}"], free, cap) - row["now"]
             for who, free, cap in (("login", MAX_FAILURES_PER_LOGIN, MAX_WAIT_PER_LOGIN),
                                    ("client", MAX_FAILURES_PER_CLIENT, MAX_WAIT_PER_CLIENT))
             if row[f"by_{who}"]]
    wait = max(waits, default=timedelta(0))
    if wait > timedelta(0):
        raise SignInThrottled(math.ceil(wait.total_seconds()))


async def open_session(pool: asyncpg.Pool, staff_id: str, id_token: str | None = None
                       ) -> tuple[str, Session]:
    """A new session for a member who just signed in: (its token for the cookie, it).
    `id_token`: the identity provider's, when they signed in through it (for its sign-out)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM staff WHERE id = $1", staff_id)
        await conn.execute("INSERT INTO console_sessions (id_hash, staff_id, csrf_token, "
                           "id_token) VALUES ($1, $2, $3, $4)", _digest(token), staff_id, csrf,
                           id_token)
    return token, Session(staff_member(row), csrf)


async def member_named_by(pool: asyncpg.Pool, value: str, email_only: bool
                          ) -> StaffMember | None:
    """The available roster member an identity provider's claim names, case-insensitively:
    by their email when `email_only` (the claim is `email`), else by their roster id or
    email (an id match first); None otherwise."""
    value = value.strip().casefold()[:320]
    if not value:
        return None
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT * FROM staff
               WHERE ((lower(id) = $1 AND NOT $2) OR lower(email) = $1) AND available
               ORDER BY lower(id) = $1 DESC LIMIT 1""", value, email_only)
    return staff_member(row) if row else None


async def current_session(pool: asyncpg.Pool, token: str, touch: bool = True
                          ) -> Session | None:
    """The live session a cookie's token stands for, its idle clock restarted (unless not
    `touch`: a page refreshing itself is not a person at work); None when it ended, idled
    out, or its member left the roster or became unavailable."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """UPDATE console_sessions c
               SET last_seen_at = CASE WHEN $3 THEN now() ELSE c.last_seen_at END
               FROM staff s
               WHERE c.id_hash = $1 AND s.id = c.staff_id AND c.ended_at IS NULL
                 AND c.last_seen_at > now() - $2::interval AND s.available
               RETURNING s.*, c.csrf_token""",
            _digest(token), IDLE_TIMEOUT, touch)
        if row is None:
            await conn.execute("UPDATE console_sessions SET ended_at = now() "
                               "WHERE id_hash = $1 AND ended_at IS NULL", _digest(token))
            return None
    return Session(staff_member(row), row["csrf_token"])


async def end_session(pool: asyncpg.Pool, token: str) -> str | None:
    """End the session; the identity provider's ID token it was opened with, if any."""
    async with pool.acquire() as conn:
        return await conn.fetchval("UPDATE console_sessions SET ended_at = now() "
                                   "WHERE id_hash = $1 AND ended_at IS NULL RETURNING id_token",
                                   _digest(token))


async def cookie_secret(pool: asyncpg.Pool) -> bytes:
    """The key the console signs cookies with: made by the first server that asks."""
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO console_secret (secret) VALUES ($1) "
                           "ON CONFLICT (id) DO NOTHING", secrets.token_bytes(32))
        return await conn.fetchval("SELECT secret FROM console_secret")
