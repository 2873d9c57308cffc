"""Server-side sessions of end users, and the CSRF token each one carries.

The cookie holds a random id; the table holds only its keyed digest, so
a copy of the database does not yield live sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from .compiled import Compiled
from .hashing import new_token
from .models import Session

# Every page and login reads the session, and a login rotates it: compiled once (gatehouse.compiled).
_LOAD_COLUMNS = ("user_id", "csrf_token", "auth_time", "created_at", "expires_at")
_LOAD = Compiled(
    lambda session_id: Session.select(*[getattr(Session, c) for c in _LOAD_COLUMNS])
    .where(Session.id == session_id)
    .tuples(),
    arity=1,
)
_ROTATE = Compiled(
    lambda old_id, new_id, user_id, csrf_token, auth_time, created_at, expires_at: Session.update(
        id=new_id,
        user_id=user_id,
        csrf_token=csrf_token,
        auth_time=auth_time,
        created_at=created_at,
        expires_at=expires_at,
    ).where(Session.id == old_id),
    arity=7,
)


class Sessions:
    def __init__(self, secret: str, ttl: int):
        self._key = secret.encode() if secret else b"gatehouse-session"
        self.ttl = ttl

    def _id(self, cookie_value: str) -> str:
        return hmac.new(self._key, cookie_value.encode(), hashlib.sha256).hexdigest()

    def load(self, cookie_value: str | None) -> Session | None:
        if not cookie_value or len(cookie_value) > 128:
            return None
        session_id = self._id(cookie_value)
        values = _LOAD.first(session_id)
        if values is None:
            return None
        row = Session(id=session_id, **dict(zip(_LOAD_COLUMNS, values, strict=True)))
        if row.expires_at <= int(time.time()):
            return None
        return row

    def _fresh(self, user_id: int | None, auth_time: int | None) -> tuple[str, Session]:
        """A new cookie value and the (unsaved) row it maps to."""
        cookie_value = new_token(32)
        now = int(time.time())
        row = Session(
            id=self._id(cookie_value),
            user_id=user_id,
            csrf_token=new_token(24),
            auth_time=auth_time,
            created_at=now,
            expires_at=now + self.ttl,
        )
        return cookie_value, row

    def create(self, user_id: int | None = None, auth_time: int | None = None) -> tuple[str, Session]:
        cookie_value, row = self._fresh(user_id, auth_time)
        row.save(force_insert=True)
        return cookie_value, row

    def rotate(self, row: Session | None, user_id: int, auth_time: int) -> tuple[str, Session]:
        """Sign in: the session gets a new id and CSRF token (a planted or leaked
        cookie never becomes a signed-in session), in one UPDATE of its row."""
        if row is None:
            return self.create(user_id=user_id, auth_time=auth_time)
        cookie_value, fresh = self._fresh(user_id, auth_time)
        values = [getattr(fresh, c) for c in ("id", "user_id", "csrf_token", "auth_time", "created_at", "expires_at")]
        if not _ROTATE.rowcount(row.id, *values):
            # The row went meanwhile (logout elsewhere, cleanup): a new one.
            return self.create(user_id=user_id, auth_time=auth_time)
        return cookie_value, fresh

    def end(self, row: Session | None) -> None:
        if row is not None:
            Session.delete().where(Session.id == row.id).execute()

    @staticmethod
    def csrf_ok(row: Session | None, presented: str | None) -> bool:
        # As bytes: compare_digest refuses str with non-ASCII characters (a 500).
        return bool(row and presented and hmac.compare_digest(row.csrf_token.encode(), presented.encode()))
