"""The end-user session cookie: reading it, setting it, clearing it."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from ..models import Session, User
from .common import gh


def current_session(request: Request) -> Session | None:
    state = gh(request)
    return state.sessions.load(request.cookies.get(state.settings.session_cookie_name))


def session_user(session: Session | None) -> User | None:
    if session is None or session.user_id is None:
        return None
    return User.get_or_none((User.id == session.user_id) & (User.is_active == True))  # noqa: E712


def set_cookie(request: Request, response: Response, value: str) -> None:
    settings = gh(request).settings
    response.set_cookie(
        settings.session_cookie_name,
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
        settings.session_cookie_name, path="/", httponly=True, samesite="lax", secure=settings.secure_cookies
    )


def ensure_session(request: Request) -> tuple[Session, str | None]:
    """The current session, or a new anonymous one (for the CSRF token of a form).

    Returns the row and, when it was just created, the cookie value to set.
    """
    session = current_session(request)
    if session is not None:
        return session, None
    value, session = gh(request).sessions.create()
    return session, value


def safe_return_to(value: str | None) -> str:
    """Only a path on this server: never an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 4096:
        return "/"
    return value
