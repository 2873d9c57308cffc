"""The home page (/): who is signed in, and a link to sign in."""

from __future__ import annotations

from fastapi import APIRouter, Request

from gatehouse.web import routes
from gatehouse.web.answers import page
from gatehouse.web.session_cookie import current_session, session_user

router = APIRouter(include_in_schema=False)


@router.get(routes.HOME)
async def home(request: Request):
    # No form on this page: a visitor gets no cookie, and nothing is written (accounts.sessions).
    return page(request, "home.html", user=session_user(current_session(request)))
