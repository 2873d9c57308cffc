"""The end-user session cookie: reading it, setting it, clearing it.

Its name is `Settings.session_cookie`: `__Host-gatehouse_session` under an
https issuer (Secure, Path=/, no Domain), `gatehouse_session` under http.
Everything reads it through current_session / ensure_session here.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from gatehouse.store.models import Session, User
from gatehouse.web.common import gh


def current_session(request: Request) -> Session | None:
    state = gh(request)
    return state.sessions.load(request.cookies.get(state.settings.session_cookie))


def session_user(session: Session | None) -> User | None:
    if session is None or session.user_id is None:
        return None
    return User.get_or_none((User.id == session.user_id) & (User.is_active == True))  # noqa: E712


def set_cookie(request: Request, response: Response, value: str) -> None:
    settings = gh(request).settings
    # The __Host- prefix needs exactly this: Secure (https), Path=/ and no Domain.
    response.set_cookie(
        settings.session_cookie,
        value,
        max_age=settings.session_ttl,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


def clear_cookie(request: Request, response: Response) -> None:
    settings = gh(request).settings
    response.delete_cookie(
        settings.session_cookie, path="/", httponly=True, samesite="lax", secure=settings.secure_cookies
    )


def ensure_session(request: Request) -> tuple[Session, str | None]:
    """The current session or, for a visitor, a stand-in with no row (Sessions.visitor):
    what a form needs for its CSRF token, without writing anything.

    Returns the session and, when the browser has no usable cookie yet, the
    new cookie value to set (the visitor's token is bound to it).
    """
    state = gh(request)
    value = request.cookies.get(state.settings.session_cookie)
    session = state.sessions.load(value)
    if session is not None:
        return session, None
    if state.sessions.usable(value):
        return state.sessions.visitor(value), None
    value = state.sessions.new_cookie_value()
    return state.sessions.visitor(value), value


def safe_return_to(value: str | None) -> str:
    """Only a path on this server: never an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 4096:
        return "/"
    return value
