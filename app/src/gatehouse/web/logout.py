"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

Redirects only to a post_logout_redirect_uri registered for the client;
anything else gets a page, never a redirect. Without a valid
id_token_hint for the signed-in user, the user confirms first, so a
third-party page cannot sign people out.
"""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse

from .common import error_page, gh, page, read_form
from .login import end_session
from .session_cookie import current_session, session_user

router = APIRouter(prefix="/api/v2/oauth", tags=["oauth"])

PARAMS = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id")


def _resolve(request: Request, data: dict):
    """(client, redirect_uri, hint_claims) or an error page."""
    state = gh(request)
    hint = None
    if data.get("id_token_hint"):
        hint = state.issuer.signer.verify(data["id_token_hint"], typ="JWT", allow_expired=True)
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
        if redirect_uri not in client.post_logout_redirect_uris:
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


async def _logout(request: Request, data: dict, confirmed: bool):
    resolved = _resolve(request, data)
    if not isinstance(resolved, tuple):
        return resolved
    client, redirect_uri, hint = resolved
    session = current_session(request)
    user = session_user(session)
    hint_matches = hint is not None and user is not None and hint.get("sub") == str(user.id)
    if user is None or hint_matches or confirmed:
        return _finish(request, session, redirect_uri, data.get("state"))
    return page(
        request,
        "logout.html",
        csrf_token=session.csrf_token,
        user=user,
        form_action="/api/v2/oauth/logout",
        hidden={k: data[k] for k in PARAMS if data.get(k)},
        client_name=client.name if client else None,
    )


@router.get("/logout", summary="RP-initiated logout")
async def logout_get(request: Request):
    data = {k: request.query_params.get(k) for k in PARAMS}
    return await _logout(request, data, confirmed=False)


@router.post("/logout", summary="RP-initiated logout (form post or confirmation)")
async def logout_post(request: Request):
    try:
        form = dict(await read_form(request))
    except OAuth2Error as error:
        return error_page(request, "Bad request", error.description)
    data = {k: form.get(k) for k in PARAMS}
    confirmed = form.get("confirm") == "yes" and gh(request).sessions.csrf_ok(
        current_session(request), form.get("csrf_token")
    )
    return await _logout(request, data, confirmed)
