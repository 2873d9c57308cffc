"""The authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2) and the consent decision.

A bad client_id or redirect_uri gets an error page and never a redirect
(RFC 6749 §4.1.2.1); every other error goes back to the client with
`state` and `iss` (RFC 9207).

A remembered consent (accounts.consents) holds for one user, client,
scope set and redirect URI.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode

from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidRequestError, OAuth2Error
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse

from gatehouse.accounts import consents
from gatehouse.runtime import metrics
from gatehouse.web import routes
from gatehouse.web.answers import error_page, oauth_answer, page
from gatehouse.web.common import gh, oauth_request, read_form
from gatehouse.web.session_cookie import current_session, session_user

router = APIRouter(tags=["oauth"])

SCOPE_TEXT = {
    "openid": "Sign you in with your Gatehouse account",
    "profile": "See your name and username",
    "email": "See your email address",
    "offline_access": "Stay connected while you are away (refresh tokens)",
}


class LoginRequired(OAuth2Error):
    error = "login_required"


class ConsentRequired(OAuth2Error):
    error = "consent_required"


# max_age is whole seconds; 18 ASCII digits is any sane value and keeps int() small.
MAX_AGE_DIGITS = 18


def _seconds(value: str) -> int | None:
    """A number of seconds in ASCII digits, or None. Not str.isdigit(): it accepts
    '²', which int() refuses (a 500), and '١', which int() reads as 1."""
    if 0 < len(value) <= MAX_AGE_DIGITS and value.isascii() and value.isdigit():
        return int(value)
    return None


def _error(request: Request, error: OAuth2Error):
    metrics.authorization_requests.labels("error").inc()
    if error.redirect_uri:
        status, body, headers = gh(request).oauth.handle_error_response(None, error)
        return oauth_answer(status, body, headers)
    description = error.get_error_description() if hasattr(error, "get_error_description") else error.description
    return error_page(request, "This sign-in request cannot be completed", f"{error.error}: {description}")


def _issue_code(request: Request, req, grant, user, session):
    req.auth_time = session.auth_time
    status, body, headers = gh(request).oauth.create_authorization_response(req, grant_user=user, grant=grant)
    metrics.authorization_requests.labels("granted" if status == 302 else "error").inc()
    return oauth_answer(status, body, headers)


async def _authorize(request: Request, items):
    state = gh(request)
    req = oauth_request(request, items)
    session = current_session(request)
    user = session_user(session)
    try:
        grant = state.oauth.get_consent_grant(req, end_user=user)
    except OAuth2Error as error:
        return _error(request, error)
    data = req.payload.data
    prompt = set(data.get("prompt", "").split())
    redirect_uri, client_state = grant.redirect_uri, data.get("state")

    max_age = data.get("max_age")
    too_old = False
    if max_age is not None:
        seconds = _seconds(max_age)
        if seconds is None:
            return _error(
                request,
                InvalidRequestError(
                    "max_age must be a number of seconds", redirect_uri=redirect_uri, state=client_state
                ),
            )
        too_old = session is not None and (session.auth_time or 0) + seconds < time.time()
    if user is None or "login" in prompt or too_old:
        if "none" in prompt:
            return _error(request, LoginRequired(redirect_uri=redirect_uri, state=client_state))
        # Come back without prompt=login/max_age, or the login would repeat forever.
        again = [(k, v) for k, v in items if k not in ("prompt", "max_age")]
        target = request.url.path + "?" + urlencode(again)
        return RedirectResponse(routes.LOGIN + "?" + urlencode({"return_to": target}), status_code=303)

    remembered = consents.is_remembered(user.id, grant.client.client_id, req.scope, grant.redirect_uri)
    if remembered and "consent" not in prompt:
        return _issue_code(request, req, grant, user, session)
    if "none" in prompt:
        return _error(request, ConsentRequired(redirect_uri=redirect_uri, state=client_state))
    return page(
        request,
        "consent.html",
        client_name=grant.client.name,
        scopes=[(s, SCOPE_TEXT.get(s, s)) for s in req.scope.split()],
        username=user.username,
        csrf_token=session.csrf_token,
        original=urlencode(items),
    )


@router.get(routes.AUTHORIZE, summary="Authorization endpoint")
async def authorize_get(request: Request):
    return await _authorize(request, request.query_params.multi_items())


@router.post(routes.AUTHORIZE, summary="Authorization endpoint (form post)")
async def authorize_post(request: Request):
    try:
        items = await read_form(request)
    except OAuth2Error as error:
        return error_page(request, "Bad request", error.description)
    return await _authorize(request, items)


@router.post(routes.CONSENT, include_in_schema=False)
async def consent(request: Request):
    try:
        form = dict(await read_form(request))
    except OAuth2Error as error:
        return error_page(request, "Bad request", error.description)
    state = gh(request)
    session = current_session(request)
    user = session_user(session)
    if user is None:
        return error_page(request, "Your session has ended", "Sign in again from the application.", 401)
    if not state.sessions.csrf_ok(session, form.get("csrf_token")):
        return error_page(request, "This form has expired", "Go back to the application and try again.", 400)
    items = parse_qsl(form.get("request", ""), keep_blank_values=True, max_num_fields=100)
    # Re-validate the original request: nothing from the form is trusted but the decision.
    req = oauth_request(request, items)
    req.method = "GET"
    try:
        grant = state.oauth.get_consent_grant(req, end_user=user)
    except OAuth2Error as error:
        return _error(request, error)
    if form.get("decision") != "allow":
        metrics.authorization_requests.labels("denied").inc()
        return _error(request, AccessDeniedError(redirect_uri=grant.redirect_uri, state=req.payload.data.get("state")))
    consents.remember(user.id, grant.client.client_id, req.scope, grant.redirect_uri)
    return _issue_code(request, req, grant, user, session)
