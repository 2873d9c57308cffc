"""Server-side sessions of end users, and the CSRF token each one carries.

The cookie holds a random id; the table holds only its keyed digest, so
a copy of the database does not yield live sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from .hashing import new_token
from .models import Session


class Sessions:
    def __init__(self, secret: str, ttl: int):
        self._key = secret.encode() if secret else b"gatehouse-session"
        self.ttl = ttl

    def _id(self, cookie_value: str) -> str:
        return hmac.new(self._key, cookie_value.encode(), hashlib.sha256).hexdigest()

    def load(self, cookie_value: str | None) -> Session | None:
        if not cookie_value or len(cookie_value) > 128:
            return None
        row = Session.get_or_none(Session.id == self._id(cookie_value))
        if row is None or row.expires_at <= int(time.time()):
            return None
        return row

    def create(self, user_id: int | None = None, auth_time: int | None = None) -> tuple[str, Session]:
        cookie_value = new_token(32)
        now = int(time.time())
        row = Session.create(
            id=self._id(cookie_value),
            user_id=user_id,
            csrf_token=new_token(24),
            auth_time=auth_time,
            created_at=now,
            expires_at=now + self.ttl,
        )
        return cookie_value, row

    def end(self, row: Session | None) -> None:
        if row is not None:
            Session.delete().where(Session.id == row.id).execute()

    @staticmethod
    def csrf_ok(row: Session | None, presented: str | None) -> bool:
        # As bytes: compare_digest refuses str with non-ASCII characters (a 500).
        return bool(row and presented and hmac.compare_digest(row.csrf_token.encode(), presented.encode()))
