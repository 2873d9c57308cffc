"""Server-side sessions of end users, and the CSRF token each one carries.

The cookie holds a random id; the table holds only its keyed digest, so
a copy of the database does not yield live sessions.

A row is written when someone signs in, never for a visitor. The login
form still needs a CSRF token bound to the browser (login CSRF: another
site must not sign the visitor in to the attacker's account), so a visitor
gets the same cookie, a random value with no row behind it, and the form's
token is a keyed digest of that value (`visitor`): checking it needs no
storage, another site cannot read the cookie (HttpOnly) nor, under https,
plant one (the `__Host-` prefix), and without SESSION_SECRET the token
cannot be computed from the cookie. Signing in never adopts that value:
the row is created under a new one (`rotate`). So page views, crawlers
and floods of cookieless GETs write nothing.

A session ends at `expires_at` (SESSION_TTL after sign-in) or after
SESSION_IDLE_TIMEOUT seconds without use. Use is recorded in
`last_seen_at` at most once a minute per session (SESSION_TOUCH_SECONDS),
not on every request; so the idle timeout holds to within that minute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from gatehouse.crypto.digests import new_token
from gatehouse.errors import ConfigError
from gatehouse.settings import SESSION_SECRET_MIN, SESSION_TOUCH_SECONDS
from gatehouse.store.models import Session
from gatehouse.store.statements import Compiled

# Every page and login reads the session, and a login rotates it: compiled once (gatehouse.compiled).
_LOAD_COLUMNS = ("user_id", "csrf_token", "auth_time", "created_at", "expires_at", "last_seen_at")
_LOAD = Compiled(
    lambda session_id: (
        Session.select(*[getattr(Session, c) for c in _LOAD_COLUMNS]).where(Session.id == session_id).tuples()
    ),
    arity=1,
)
_ROW_COLUMNS = ("id", "user_id", "csrf_token", "auth_time", "created_at", "expires_at", "last_seen_at")
_ROTATE = Compiled(
    lambda old_id, new_id, user_id, csrf_token, auth_time, created_at, expires_at, last_seen_at: Session.update(
        id=new_id,
        user_id=user_id,
        csrf_token=csrf_token,
        auth_time=auth_time,
        created_at=created_at,
        expires_at=expires_at,
        last_seen_at=last_seen_at,
    ).where(Session.id == old_id),
    arity=8,
)
# Only when the last write is a minute old: two workers serving the same session write once.
_TOUCH = Compiled(
    lambda now, session_id, written_before: Session.update(last_seen_at=now).where(
        (Session.id == session_id) & (Session.last_seen_at.is_null() | (Session.last_seen_at <= written_before))
    ),
    arity=3,
)


class Sessions:
    def __init__(self, secret: str, ttl: int, idle_timeout: int = 0):
        if not secret or len(secret) < SESSION_SECRET_MIN:
            # No fallback key: with a known one, the stored digests and the visitors' CSRF tokens are forgeable.
            raise ConfigError(f"SESSION_SECRET is required: at least {SESSION_SECRET_MIN} characters")
        self._key = secret.encode()
        self.ttl = ttl
        self.idle_timeout = idle_timeout

    def _id(self, cookie_value: str) -> str:
        return hmac.new(self._key, cookie_value.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def usable(cookie_value: str | None) -> bool:
        """A value this server could have set: anything else is never looked up nor bound to."""
        return bool(cookie_value) and len(cookie_value) <= 128

    def load(self, cookie_value: str | None) -> Session | None:
        """The live session the cookie names, or None (no row, expired, or idle too long)."""
        if not self.usable(cookie_value):
            return None
        session_id = self._id(cookie_value)
        values = _LOAD.first(session_id)
        if values is None:
            return None
        row = Session(id=session_id, **dict(zip(_LOAD_COLUMNS, values, strict=True)))
        now = int(time.time())
        if row.expires_at <= now:
            return None
        seen = row.last_seen_at or row.created_at
        if self.idle_timeout and now - seen >= self.idle_timeout:
            self.end(row)  # over: the cookie, and any copy of it, must not revive it
            return None
        # Recorded whatever the timeout, so turning it on later judges by real use.
        if now - seen >= SESSION_TOUCH_SECONDS:
            _TOUCH.rowcount(now, session_id, now - SESSION_TOUCH_SECONDS)
            row.last_seen_at = now
        return row

    def new_cookie_value(self) -> str:
        return new_token(32)

    def visitor(self, cookie_value: str) -> Session:
        """The stand-in session of a browser that has not signed in: no row (id None), no user,
        and a CSRF token derived from its cookie (see the module docstring)."""
        mac = hmac.new(self._key, b"visitor-csrf\x00" + cookie_value.encode(), hashlib.sha256).digest()
        token = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        return Session(id=None, user_id=None, csrf_token=token, auth_time=None, created_at=None, expires_at=None)

    def _fresh(self, user_id: int | None, auth_time: int | None) -> tuple[str, Session]:
        """A new cookie value and the (unsaved) row it maps to."""
        cookie_value = self.new_cookie_value()
        now = int(time.time())
        row = Session(
            id=self._id(cookie_value),
            user_id=user_id,
            csrf_token=new_token(24),
            auth_time=auth_time,
            created_at=now,
            expires_at=now + self.ttl,
            last_seen_at=now,
        )
        return cookie_value, row

    def create(self, user_id: int | None = None, auth_time: int | None = None) -> tuple[str, Session]:
        cookie_value, row = self._fresh(user_id, auth_time)
        row.save(force_insert=True)
        return cookie_value, row

    def rotate(self, row: Session | None, user_id: int, auth_time: int) -> tuple[str, Session]:
        """Sign in: the session gets a new id and CSRF token (a planted or leaked
        cookie never becomes a signed-in session), in one UPDATE of its row;
        a visitor's first row is INSERTed under a new cookie value."""
        if row is None or row.id is None:
            return self.create(user_id=user_id, auth_time=auth_time)
        cookie_value, fresh = self._fresh(user_id, auth_time)
        if not _ROTATE.rowcount(row.id, *[getattr(fresh, c) for c in _ROW_COLUMNS]):
            # The row went meanwhile (logout elsewhere, cleanup): a new one.
            return self.create(user_id=user_id, auth_time=auth_time)
        return cookie_value, fresh

    def end(self, row: Session | None) -> None:
        if row is not None and row.id is not None:
            Session.delete().where(Session.id == row.id).execute()

    @staticmethod
    def csrf_ok(row: Session | None, presented: str | None) -> bool:
        # As bytes: compare_digest refuses str with non-ASCII characters (a 500).
        return bool(row and presented and hmac.compare_digest(row.csrf_token.encode(), presented.encode()))
