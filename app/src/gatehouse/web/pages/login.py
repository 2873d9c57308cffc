"""The login page of end users (/login), with throttling and lockout (see ratelimit)."""

from __future__ import annotations

import time

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse

from gatehouse.accounts import users
from gatehouse.crypto.passwords import burn_password_check, hash_password, needs_rehash, off_loop, verify_password
from gatehouse.runtime import audit, metrics
from gatehouse.runtime.ratelimit import LockoutPolicy, address_key
from gatehouse.web import routes
from gatehouse.web.answers import page
from gatehouse.web.common import client_ip, gh, read_form
from gatehouse.web.session_cookie import ensure_session, safe_return_to, set_cookie

router = APIRouter(include_in_schema=False)

GENERIC_FAILURE = "Invalid username or password."
LOCKED = "Too many failed sign-in attempts. Try again later."


def _login_page(
    request: Request,
    session,
    return_to: str,
    error: str | None = None,
    status: int = 200,
    username: str = "",
    new_cookie: str | None = None,
):
    response = page(
        request,
        "login.html",
        status=status,
        csrf_token=session.csrf_token,
        return_to=return_to,
        error=error,
        username=username,
    )
    if new_cookie:
        set_cookie(request, response, new_cookie)
    return response


@router.get(routes.LOGIN)
async def login_form(request: Request):
    session, new_cookie = ensure_session(request)
    return _login_page(request, session, safe_return_to(request.query_params.get("return_to")), new_cookie=new_cookie)


@router.post(routes.LOGIN)
async def login(request: Request):
    state = gh(request)
    settings = state.settings
    try:
        form = dict(await read_form(request))
    except OAuth2Error:  # a malformed body fails the CSRF check below
        form = {}
    session, new_cookie = ensure_session(request)
    return_to = safe_return_to(form.get("return_to"))
    username = (form.get("username") or "").strip()[:150]
    password = form.get("password") or ""
    ip = client_ip(request)

    if not state.sessions.csrf_ok(session, form.get("csrf_token")):
        return _login_page(
            request, session, return_to, "Your form expired. Please try again.", 400, username, new_cookie
        )
    valid = bool(username and password and len(password) <= 1024)
    # The address's throttle and this attempt at the account from this
    # address, spent before the password is checked, in one Redis round trip.
    policy = LockoutPolicy.of(settings)
    attempt = state.limiter.login_gate(
        f"login:{address_key(ip)}" if settings.rate_limit_enabled else None,
        settings.rate_limit_login_per_minute,
        username if valid else "",
        ip,
        policy,
    )
    if attempt.throttled:
        metrics.rate_limited.labels("login").inc()
        return _login_page(request, session, return_to, LOCKED, 429, username)
    if not valid:
        return _login_page(request, session, return_to, GENERIC_FAILURE, 400, username)

    metrics.login_attempts.inc()
    if attempt.refused:
        metrics.login_failures.labels(attempt.refused).inc()
        audit.record("login.failed", actor=username, ip=ip, reason=attempt.refused)
        return _login_page(request, session, return_to, LOCKED, 429, username)

    user = users.find_for_login(username)
    if user is None or not user.is_active:
        await off_loop(burn_password_check, password)
        ok = False
    else:
        ok = await off_loop(verify_password, user.password_hash, password)
    if not ok:
        metrics.login_failures.labels("bad_credentials").inc()
        audit.record("login.failed", actor=username, ip=ip, reason="bad_credentials")
        failure = state.limiter.login_failed(username, ip, attempt.number, policy)
        if failure.ceiling_reached:
            # Not a lock of the account: addresses that failed at it get one attempt each until it expires.
            metrics.lockouts.inc()
            audit.record("login.locked_out", actor=username, ip=ip, scope="account", failures=failure.account_failures)
        if failure.locked_for:
            metrics.lockouts.inc()
            audit.record("login.locked_out", actor=username, ip=ip, scope="address", seconds=failure.locked_for)
            return _login_page(request, session, return_to, LOCKED, 429, username)
        return _login_page(request, session, return_to, GENERIC_FAILURE, 401, username)
    # A parallel attempt may have locked the pair while this one was checked.
    if not state.limiter.login_succeeded(username, ip):
        metrics.login_failures.labels("locked").inc()
        audit.record("login.failed", actor=username, ip=ip, reason="locked")
        return _login_page(request, session, return_to, LOCKED, 429, username)

    if needs_rehash(user.password_hash):
        users.upgrade_password_hash(user.id, await off_loop(hash_password, password))
    value, _ = state.sessions.rotate(session, user_id=user.id, auth_time=int(time.time()))
    audit.record("login.succeeded", actor=str(user.id), subject=user.username, ip=ip)
    response = RedirectResponse(return_to, status_code=303)
    set_cookie(request, response, value)
    return response
