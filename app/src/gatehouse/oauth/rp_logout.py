"""RP-Initiated Logout 1.0: what a logout request asks for, and what the user may have it undo.

- id_token_hint (§2) is an ID token this server signed, expired or not;
  a client_id beside it must be the hint's audience.
- post_logout_redirect_uri (§3) must be registered for the client the
  request names (by client_id or the hint), under the same rules as a
  redirect URI (oauth.redirect_uris); anything else gets no redirect.
- The user ends the session without being asked only when the hint
  names them (§2: a third-party page cannot sign people out).
- Revoking the client's access, when the user chose it at the
  confirmation: every grant of this user to that client ends, so its
  refresh and access tokens stop working, and the consent is forgotten.

web.endpoints.end_session speaks HTTP: the pages, the form and the cookie.
"""

from __future__ import annotations

from dataclasses import dataclass

from authlib.common.urls import add_params_to_uri

from gatehouse.accounts import consents
from gatehouse.oauth import id_token
from gatehouse.runtime import audit
from gatehouse.store.models import Grant

PARAMS = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id")


class LogoutRequestError(ValueError):
    """The request cannot be honoured as asked; the message says why, for the user."""


@dataclass(frozen=True)
class LogoutRequest:
    client: object | None  # oauth.clients.ClientRecord
    redirect_uri: str | None
    hint: dict | None  # the id_token_hint's claims
    state: str | None

    def names_user(self, user) -> bool:
        """The hint is of this user: the relying party knows whom it signs out, no confirmation needed."""
        return self.hint is not None and user is not None and self.hint.get("sub") == str(user.id)

    def redirect_target(self) -> str | None:
        """Where to send the user once signed out (§3), with the client's state; None: no redirect."""
        if not self.redirect_uri:
            return None
        return add_params_to_uri(self.redirect_uri, [("state", self.state)] if self.state else [])


def resolve(signer, clients, params: dict) -> LogoutRequest:
    """The request's client, redirect and hint from its parameters (PARAMS); LogoutRequestError if refused."""
    hint = None
    if params.get("id_token_hint"):
        hint = id_token.verify_hint(signer, params["id_token_hint"])
        if hint is None:
            raise LogoutRequestError("The id_token_hint is not a valid ID token of this server.")
    client_id = params.get("client_id") or (hint or {}).get("aud")
    if hint is not None and params.get("client_id") and params["client_id"] != hint.get("aud"):
        raise LogoutRequestError("client_id does not match the id_token_hint.")
    client = clients.get(client_id) if isinstance(client_id, str) else None
    redirect_uri = params.get("post_logout_redirect_uri")
    if redirect_uri:
        if client is None:
            raise LogoutRequestError("post_logout_redirect_uri needs a client_id or id_token_hint.")
        if not client.check_post_logout_redirect_uri(redirect_uri):
            raise LogoutRequestError("post_logout_redirect_uri is not registered for this client.")
    return LogoutRequest(client, redirect_uri, hint, params.get("state"))


def revoke_client_access(tokens, user, client, ip: str) -> list[str]:
    """End every grant the user gave the client and forget the consent (the user chose so at logout).
    Returns the ids of the grants ended."""
    live = Grant.select(Grant.id).where(
        (Grant.user_id == user.id) & (Grant.client_id == client.client_id) & Grant.revoked_at.is_null()
    )
    grant_ids = [grant.id for grant in live]
    for grant_id in grant_ids:
        # Each in its own transaction: revoke_grant announces the revocation once it has committed.
        tokens.revoke_grant(grant_id, "logout")
    consents.forget(user.id, client.client_id)
    audit.record(
        "token.revoked",
        actor=str(user.id),
        subject=str(user.id),
        ip=ip,
        via="logout",
        client_id=client.client_id,
        grants=grant_ids,
    )
    return grant_ids
