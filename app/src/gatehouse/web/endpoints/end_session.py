"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

Redirects only to a post_logout_redirect_uri registered for the client;
anything else gets a page, never a redirect. Without a valid
id_token_hint for the signed-in user, the user confirms first, so a
third-party page cannot sign people out.

The confirmation page also offers, with a second button (the default one
signs out only), to revoke what the user gave the client that asked: every
grant of this user to that client, so its refresh and access tokens stop
working, and the remembered consent, so it must ask again. Only the
confirmation form (its CSRF token) can ask for that.
"""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse

from gatehouse.runtime import audit
from gatehouse.store.models import Consent, Grant
from gatehouse.web import routes
from gatehouse.web.common import client_ip, error_page, gh, page, read_form
from gatehouse.web.pages.login import end_session
from gatehouse.web.session_cookie import current_session, session_user

router = APIRouter(tags=["oauth"])

PARAMS = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id")


def _resolve(request: Request, data: dict):
    """(client, redirect_uri, hint_claims) or an error page."""
    state = gh(request)
    hint = None
    if data.get("id_token_hint"):
        hint = state.tokens.signer.verify(data["id_token_hint"], typ="JWT", allow_expired=True)
        if hint is None:
            return error_page(request, "Sign-out failed", "The id_token_hint is not a valid ID token of this server.")
    client_id = data.get("client_id") or (hint or {}).get("aud")
    if hint is not None and data.get("client_id") and data["client_id"] != hint.get("aud"):
        return error_page(request, "Sign-out failed", "client_id does not match the id_token_hint.")
    client = state.clients.get(client_id) if isinstance(client_id, str) else None
    redirect_uri = data.get("post_logout_redirect_uri")
    if redirect_uri:
        if client is None:
            return error_page(
                request, "Sign-out failed", "post_logout_redirect_uri needs a client_id or id_token_hint."
            )
        if not client.check_post_logout_redirect_uri(redirect_uri):
            return error_page(request, "Sign-out failed", "post_logout_redirect_uri is not registered for this client.")
    return client, redirect_uri, hint


def _finish(request: Request, session, redirect_uri: str | None, client_state: str | None):
    if redirect_uri:
        params = [("state", client_state)] if client_state else []
        response = RedirectResponse(add_params_to_uri(redirect_uri, params), status_code=303)
    else:
        response = page(request, "logged_out.html")
    end_session(request, session, response)
    return response


def _revoke_client_access(request: Request, user, client) -> None:
    """End every grant the user gave the client and forget the consent (the user chose so at logout)."""
    tokens = gh(request).tokens
    live = Grant.select(Grant.id).where(
        (Grant.user_id == user.id) & (Grant.client_id == client.client_id) & Grant.revoked_at.is_null()
    )
    grant_ids = [grant.id for grant in live]
    for grant_id in grant_ids:
        # Each in its own transaction: revoke_grant announces the revocation once it has committed.
        tokens.revoke_grant(grant_id, "logout")
    Consent.delete().where((Consent.user_id == user.id) & (Consent.client_id == client.client_id)).execute()
    audit.record(
        "token.revoked",
        actor=str(user.id),
        subject=str(user.id),
        ip=client_ip(request),
        via="logout",
        client_id=client.client_id,
        grants=grant_ids,
    )


async def _logout(request: Request, data: dict, confirmed: bool, revoke: bool = False):
    """confirmed: the confirmation form was posted with a valid CSRF token;
    revoke: that form also asked to revoke the client's grants."""
    resolved = _resolve(request, data)
    if not isinstance(resolved, tuple):
        return resolved
    client, redirect_uri, hint = resolved
    session = current_session(request)
    user = session_user(session)
    hint_matches = hint is not None and user is not None and hint.get("sub") == str(user.id)
    if user is None or hint_matches or confirmed:
        if confirmed and revoke and user is not None and client is not None:
            _revoke_client_access(request, user, client)
        return _finish(request, session, redirect_uri, data.get("state"))
    return page(
        request,
        "logout.html",
        csrf_token=session.csrf_token,
        user=user,
        form_action=routes.END_SESSION,
        hidden={k: data[k] for k in PARAMS if data.get(k)},
        client_name=client.name if client else None,
        offer_revoke=client is not None,
    )


@router.get(routes.END_SESSION, summary="RP-initiated logout")
async def logout_get(request: Request):
    data = {k: request.query_params.get(k) for k in PARAMS}
    return await _logout(request, data, confirmed=False)


@router.post(routes.END_SESSION, summary="RP-initiated logout (form post or confirmation)")
async def logout_post(request: Request):
    try:
        form = dict(await read_form(request))
    except OAuth2Error as error:
        return error_page(request, "Bad request", error.description)
    data = {k: form.get(k) for k in PARAMS}
    confirmed = form.get("confirm") == "yes" and gh(request).sessions.csrf_ok(
        current_session(request), form.get("csrf_token")
    )
    return await _logout(request, data, confirmed, revoke=form.get("revoke_grants") == "yes")
