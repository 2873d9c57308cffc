"""The end-session endpoint of RP-Initiated Logout 1.0 (§2): its pages, form and cookie.

The protocol (the hint, the client, the post-logout redirect, revoking
the client's access) is oauth.rp_logout. Without a valid id_token_hint for
the signed-in user, the user confirms first. The confirmation page also
offers, with a second button (the default one signs out only), to revoke
what the user gave the client that asked; only the confirmation form (its
CSRF token) can ask for that.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse

from gatehouse.oauth import rp_logout
from gatehouse.web import routes
from gatehouse.web.answers import error_page, page
from gatehouse.web.common import client_ip, gh, read_form
from gatehouse.web.pages.logout import end_session
from gatehouse.web.session_cookie import current_session, session_user

router = APIRouter(tags=["oauth"])


def _finish(request: Request, session, logout: rp_logout.LogoutRequest):
    target = logout.redirect_target()
    response = RedirectResponse(target, status_code=303) if target else page(request, "logged_out.html")
    end_session(request, session, response)
    return response


async def _logout(request: Request, params: dict, confirmed: bool, revoke: bool = False):
    """confirmed: the confirmation form was posted with a valid CSRF token;
    revoke: that form also asked to revoke the client's grants."""
    state = gh(request)
    try:
        logout = rp_logout.resolve(state.tokens.signer, state.clients, params)
    except rp_logout.LogoutRequestError as error:
        return error_page(request, "Sign-out failed", str(error))
    session = current_session(request)
    user = session_user(session)
    if user is None or logout.names_user(user) or confirmed:
        if confirmed and revoke and user is not None and logout.client is not None:
            rp_logout.revoke_client_access(state.tokens, user, logout.client, client_ip(request))
        return _finish(request, session, logout)
    return page(
        request,
        "logout.html",
        csrf_token=session.csrf_token,
        user=user,
        form_action=routes.END_SESSION,
        hidden={k: params[k] for k in rp_logout.PARAMS if params.get(k)},
        client_name=logout.client.name if logout.client else None,
        offer_revoke=logout.client is not None,
    )


@router.get(routes.END_SESSION, summary="RP-initiated logout")
async def logout_get(request: Request):
    params = {k: request.query_params.get(k) for k in rp_logout.PARAMS}
    return await _logout(request, params, confirmed=False)


@router.post(routes.END_SESSION, summary="RP-initiated logout (form post or confirmation)")
async def logout_post(request: Request):
    try:
        form = dict(await read_form(request))
    except OAuth2Error as error:
        return error_page(request, "Bad request", error.description)
    params = {k: form.get(k) for k in rp_logout.PARAMS}
    confirmed = form.get("confirm") == "yes" and gh(request).sessions.csrf_ok(
        current_session(request), form.get("csrf_token")
    )
    return await _logout(request, params, confirmed, revoke=form.get("revoke_grants") == "yes")
