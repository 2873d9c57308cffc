"""Remembered consents: the one writer of the consents table.

A consent holds for one user, client, scope set and redirect URI: a code
never goes silently to a URI the user has not approved (a loopback
client's other port included, RFC 8252 §7.3). The authorization endpoint
asks and remembers; RP-initiated logout may forget (oauth.rp_logout).
"""

from __future__ import annotations

import time

from gatehouse.crypto.digests import digest
from gatehouse.runtime import audit
from gatehouse.store.models import Consent


def _key(user_id: int, client_id: str, scope: str, redirect_uri: str) -> dict:
    """The columns a remembered consent matches on; the scope as a set (order and repeats do not count)."""
    return {
        "user_id": user_id,
        "client_id": client_id,
        "scope": " ".join(sorted(set(scope.split()))),
        "redirect_uri_digest": digest(redirect_uri),
    }


def is_remembered(user_id: int, client_id: str, scope: str, redirect_uri: str) -> bool:
    key = _key(user_id, client_id, scope, redirect_uri)
    return Consent.select().where(*[getattr(Consent, name) == value for name, value in key.items()]).exists()


def remember(user_id: int, client_id: str, scope: str, redirect_uri: str) -> None:
    """The user allowed this client this scope at this redirect URI."""
    key = _key(user_id, client_id, scope, redirect_uri)
    Consent.insert(**key, created_at=int(time.time())).on_conflict_ignore().execute()
    audit.record(
        "consent.granted", actor=str(user_id), subject=client_id, scope=key["scope"], redirect_uri=redirect_uri
    )


def forget(user_id: int, client_id: str) -> None:
    """Every consent the user gave the client: it must ask again."""
    Consent.delete().where((Consent.user_id == user_id) & (Consent.client_id == client_id)).execute()


def forget_user(user_id: int) -> None:
    """Every consent of a user (deactivated, deleted, or their password reset): clients must ask again."""
    Consent.delete().where(Consent.user_id == user_id).execute()


def forget_client(client_id: str) -> None:
    """Every consent given to a client (deactivated or deleted)."""
    Consent.delete().where(Consent.client_id == client_id).execute()
