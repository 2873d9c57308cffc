"""Registered clients as Authlib sees them (RFC 6749 §2), with a short-lived cache.

The token endpoint looks a client up on every request; an in-process cache
of a few seconds saves that query. Admin changes invalidate this process's
entry at once; other processes see a change within CLIENT_CACHE_SECONDS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import ClientMixin

from gatehouse.crypto.digests import digest_matches
from gatehouse.oauth import redirect_uris
from gatehouse.oauth.admin_resource import ADMIN_SCOPE
from gatehouse.oauth.capabilities import RESPONSE_TYPES, client_auth_methods
from gatehouse.runtime import metrics
from gatehouse.store.models import Client


def redirect_uri_matches(registered: str, presented: str) -> bool:
    """Exact string match; an http URI on a loopback IP literal may differ only in its port (RFC 8252 §7.3).
    Both must pass the strict parse of redirect_uris.check(), which keeps Python and browsers in agreement."""
    return redirect_uris.matches(registered, presented)


@dataclass(frozen=True)
class ClientRecord(ClientMixin):
    id: int
    client_id: str
    name: str
    is_confidential: bool
    secret_digest: str | None
    redirect_uris: tuple
    post_logout_redirect_uris: tuple
    grant_types: frozenset
    scopes: tuple
    is_admin: bool = False

    @classmethod
    def from_model(cls, row: Client) -> ClientRecord:
        return cls(
            id=row.id,
            client_id=row.client_id,
            name=row.name,
            is_confidential=row.is_confidential,
            secret_digest=row.client_secret_digest,
            redirect_uris=tuple(row.redirect_uris),
            post_logout_redirect_uris=tuple(row.post_logout_redirect_uris),
            grant_types=frozenset(row.grant_types),
            scopes=tuple(row.scope.split()),
            is_admin=row.is_admin,
        )

    # Authlib's ClientMixin -------------------------------------------------
    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        # OAuth 2.1: redirect_uri is required whenever more than one is
        # registered; with exactly one, it is the default.
        # A URI registered before the strict rules and failing them is no default either.
        if len(self.redirect_uris) == 1 and redirect_uris.is_valid(self.redirect_uris[0]):
            return self.redirect_uris[0]
        return None

    def get_allowed_scope(self, scope):
        """The registered scope when none is asked for; None (invalid_scope) when
        any requested value is not registered for this client. The admin scope
        only ever for an admin client, whatever its registration says."""
        allowed = set(self.scopes) if self.is_admin else set(self.scopes) - {ADMIN_SCOPE}
        if not scope:
            return " ".join(s for s in self.scopes if s in allowed)
        requested = list(dict.fromkeys(scope.split()))
        if not set(requested) <= allowed:
            return None
        return " ".join(requested)

    def check_redirect_uri(self, redirect_uri):
        return any(redirect_uri_matches(r, redirect_uri) for r in self.redirect_uris)

    def check_post_logout_redirect_uri(self, redirect_uri):
        """The same rule for RP-initiated logout's post_logout_redirect_uri."""
        return any(redirect_uri_matches(r, redirect_uri) for r in self.post_logout_redirect_uris)

    def check_client_secret(self, client_secret):
        return self.is_confidential and digest_matches(self.secret_digest, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        """A confidential client must send its secret, at every endpoint; a public one has none to send.
        Which methods an endpoint takes at all is capabilities.ENDPOINT_AUTH_METHODS."""
        return method in client_auth_methods(self.is_confidential)

    def check_response_type(self, response_type):
        return response_type in RESPONSE_TYPES and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


class ClientCache:
    def __init__(self, ttl: int):
        self.ttl = ttl
        self._entries: dict[str, tuple[float, ClientRecord | None]] = {}

    def get(self, client_id: str) -> ClientRecord | None:
        if not isinstance(client_id, str) or not client_id or len(client_id) > 100:
            return None
        now = time.monotonic()
        entry = self._entries.get(client_id)
        if entry and entry[0] > now:
            metrics.cache_hits.labels("client").inc()
            return entry[1]
        metrics.cache_misses.labels("client").inc()
        row = Client.get_or_none((Client.client_id == client_id) & (Client.is_active == True))  # noqa: E712
        record = ClientRecord.from_model(row) if row else None
        if self.ttl:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[client_id] = (now + self.ttl, record)
        return record

    def is_active(self, client_id) -> bool:
        """The client is registered and active, as this cache sees it."""
        return self.get(client_id) is not None

    def invalidate(self, client_id: str | None = None) -> None:
        if client_id is None:
            self._entries.clear()
        else:
            self._entries.pop(client_id, None)
