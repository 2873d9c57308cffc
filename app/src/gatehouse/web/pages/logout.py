"""The logout page of end users (/logout), and end_session: how every sign-out ends a session."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Request

from gatehouse.runtime import audit
from gatehouse.web import routes
from gatehouse.web.answers import page
from gatehouse.web.common import client_ip, gh, read_form
from gatehouse.web.session_cookie import clear_cookie, current_session, ensure_session, session_user, set_cookie

router = APIRouter(include_in_schema=False)


@router.get(routes.LOGOUT)
async def logout_form(request: Request):
    session, new_cookie = ensure_session(request)
    response = page(
        request,
        "logout.html",
        csrf_token=session.csrf_token,
        user=session_user(session),
        form_action=routes.LOGOUT,
        hidden={},
    )
    if new_cookie:
        set_cookie(request, response, new_cookie)
    return response


def end_session(request: Request, session, response) -> None:
    user = session_user(session)
    gh(request).sessions.end(session)
    clear_cookie(request, response)
    if user is not None:
        audit.record("logout", actor=str(user.id), ip=client_ip(request))


@router.post(routes.LOGOUT)
async def logout(request: Request):
    try:
        form = dict(await read_form(request))
    except OAuth2Error:
        form = {}
    session = current_session(request)
    if not gh(request).sessions.csrf_ok(session, form.get("csrf_token")):
        return page(request, "logged_out.html", status=400 if session else 200)
    response = page(request, "logged_out.html")
    end_session(request, session, response)
    return response
