"""The admin portal at /admin/: server-rendered pages and plain HTML forms.

No script runs in these pages (the CSP forbids it): every change is a form
POST carrying the session's CSRF token, answered by a redirect back to the
list (Post/Redirect/Get), except the one page that shows a new client
secret, which is never stored anywhere it could be shown again.

Signing in is the ordinary /login page; without a session the portal sends
the browser there and back. A signed-in user without the permission a page
needs gets a 403 page.

A sensitive change (errors.ReauthenticationRequired: the session's sign-in
is older than accounts.actor.REAUTHENTICATE_AFTER) gets the "Confirm it's
you" page instead: the operator's password, posted to /admin/reauthenticate,
renews the session's auth_time and sends them back to the page they were
on, where they repeat the change themselves (a POST is never replayed for
them). Wrong passwords there count against the same throttle and lockout
as /login.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from gatehouse.accounts import audit_log, clients, users
from gatehouse.accounts.actor import ADMIN_PERMISSIONS, ADMIN_ROLE, REAUTHENTICATE_AFTER, Actor
from gatehouse.accounts.users import roles_and_permissions
from gatehouse.crypto.passwords import off_loop, verify_password
from gatehouse.errors import Forbidden, GatehouseError, NotFound, ReauthenticationRequired
from gatehouse.runtime import audit, metrics
from gatehouse.runtime.ratelimit import LockoutPolicy, address_key
from gatehouse.store.models import Session, User
from gatehouse.web import routes
from gatehouse.web.admin.api import ClientCreate, UserCreate
from gatehouse.web.answers import page
from gatehouse.web.common import client_ip, gh, read_form
from gatehouse.web.errors import error_page_for
from gatehouse.web.pages.login import LOCKED
from gatehouse.web.session_cookie import current_session, safe_return_to, session_user

PAGE_SIZE = 50
# The portal's stylesheet lives with its templates and is served from this origin
# (the CSP allows only 'self' styles); the templates link it from the page body.
CSS = (Path(__file__).resolve().parents[2] / "templates" / "admin" / "admin.css").read_text()
WRONG_PASSWORD = "That password is not right."
CONFIRMED = "Confirmed. Repeat the change."
# Added to return_to after a re-authentication: the page shows CONFIRMED.
CONFIRMED_QUERY = "reauthenticated=1"


class SignIn(Exception):
    def __init__(self, location: str):
        self.location = location


class PortalRoute(APIRoute):
    """Turns 'sign in first' into a redirect and GatehouseError into an error page."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                try:
                    return await handler(request)
                except ReauthenticationRequired as exc:
                    me = _me(request, *ADMIN_PERMISSIONS)
                    return _confirm_page(request, me, _page_of(request), _sentence(exc.message), 403)
            except SignIn as exc:
                return RedirectResponse(exc.location, status_code=303)
            except GatehouseError as exc:
                return error_page_for(request, exc)

        return guarded


router = APIRouter(include_in_schema=False, route_class=PortalRoute)


@dataclass(frozen=True)
class Me:
    user: User
    session: Session
    permissions: frozenset
    is_admin: bool = False

    def can(self, permission: str) -> bool:
        return permission in self.permissions


def _me(request: Request, *permissions: str) -> Me:
    """The signed-in user, if they hold one of `permissions`."""
    user = session_user(session := current_session(request))
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignIn(f"{routes.LOGIN}?return_to=" + quote(target, safe="/"))
    roles, held = roles_and_permissions(user.id)
    if not set(held) & set(permissions):
        raise _forbidden("You do not have permission to use this part of the admin portal.")
    return Me(user, session, frozenset(held), ADMIN_ROLE in roles)


def _forbidden(message: str) -> Forbidden:
    return Forbidden(message, "access_denied")


async def _form(request: Request, me: Me, permission: str | None = None) -> dict:
    """The posted form, once its CSRF token and the user's permission (if one is named) have been checked."""
    try:
        items = await read_form(request)
    except OAuth2Error:  # not a url-encoded form: it has no CSRF token either
        items = []
    form: dict = {}
    for key, value in items:
        form.setdefault(key, []).append(value)
    token = (form.get("csrf_token") or [""])[0]
    if not gh(request).sessions.csrf_ok(me.session, token):
        raise _forbidden("Your form expired or did not come from this site. Go back, reload and try again.")
    if permission and not me.can(permission):
        raise _forbidden(f"This needs the {permission} permission.")
    return form


def _one(form: dict, key: str) -> str:
    return (form.get(key) or [""])[0].strip()


def _lines(form: dict, key: str) -> list[str]:
    return [line.strip() for line in _one(form, key).splitlines() if line.strip()]


def _actor(request: Request, me: Me) -> Actor:
    return Actor(
        id=str(me.user.id),
        user_id=me.user.id,
        ip=client_ip(request),
        via="portal",
        permissions=me.permissions,
        is_admin=me.is_admin,
        auth_time=me.session.auth_time,
    )


def _offset(request: Request) -> int:
    value = request.query_params.get("offset", "0")
    return min(int(value), 1_000_000_000) if value.isascii() and value.isdigit() and len(value) < 12 else 0


def _validation_message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ()))
    return f"{where}: {error.get('msg')}" if where else str(error.get("msg"))


def _timed(entries: list[dict]) -> list[dict]:
    for entry in entries:
        entry["time"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry["created_at"]))
    return entries


def _render(request: Request, me: Me, name: str, status: int = 200, **context) -> Response:
    if request.method == "GET" and request.query_params.get("reauthenticated") == "1":
        context.setdefault("notice", CONFIRMED)
    return page(request, f"admin/{name}", status=status, me=me, csrf_token=me.session.csrf_token, **context)


@router.get(routes.PORTAL_STYLESHEET)
async def stylesheet():
    return Response(CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


READ_PERMISSIONS = [p for p in ADMIN_PERMISSIONS if p.endswith(":read")]


@router.get(routes.PORTAL_HOME)
async def dashboard(request: Request):
    me = _me(request, *READ_PERMISSIONS)
    recent = _timed(audit_log.list_audit(limit=10).items) if me.can("audit-logs:read") else []
    return _render(request, me, "dashboard.html", heading="Dashboard", counts=audit_log.counts(), recent=recent)


# Re-authentication (ASVS 7.5) -------------------------------------------------


def admin_return_to(value: str | None) -> str:
    """A page of the portal to send the operator back to: a local path under PORTAL_HOME, else PORTAL_HOME."""
    value = safe_return_to(value)
    if (
        not value.startswith(routes.PORTAL_HOME)
        or "//" in value
        or ":" in value  # no scheme, whatever follows
        or "\\" in value
        or not (value.isascii() and value.isprintable())
        or " " in value
    ):
        return routes.PORTAL_HOME
    return value


def _page_of(request: Request) -> str:
    """The page the operator was on: a page they got, or the list of the section they posted a form from.
    (Pages are served with Referrer-Policy: no-referrer, so there is no Referer to read.)"""
    if request.method == "GET":
        return admin_return_to(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    section = request.url.path.removeprefix(routes.PORTAL_HOME).split("/", 1)[0]
    return admin_return_to(routes.PORTAL_HOME + section)


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:].rstrip(".") + "."


def _confirm_page(request: Request, me: Me, return_to: str, reason: str, status: int, error: str | None = None):
    return _render(
        request,
        me,
        "reauthenticate.html",
        status,
        heading="Confirm it's you",
        reason=reason,
        error=error,
        return_to=return_to,
        minutes=REAUTHENTICATE_AFTER // 60,
    )


@router.post(routes.PORTAL_REAUTHENTICATE)
async def reauthenticate(request: Request):
    """The operator's password again: renews the session's auth_time, then back to return_to (303).

    Attempts go through the same throttle (per address) and lockout (per account and address) as /login,
    so a stolen session cookie gives no more guesses at the password than the login page does."""
    try:
        me = _me(request, *ADMIN_PERMISSIONS)
    except SignIn:
        raise SignIn(f"{routes.LOGIN}?return_to={routes.PORTAL_HOME}") from None
    form = await _form(request, me)
    return_to = admin_return_to(_one(form, "return_to"))
    password = (form.get("password") or [""])[0]
    user, ip = me.user, client_ip(request)
    state = gh(request)
    settings = state.settings

    def again(error: str, status: int) -> Response:
        return _confirm_page(request, me, return_to, "Enter your password again to make this change.", status, error)

    def failed(reason: str) -> None:
        audit.record(
            "login.failed", actor=str(user.id), subject=user.username, ip=ip, reason=reason, via="reauthenticate"
        )

    valid = bool(password) and len(password) <= 1024
    policy = LockoutPolicy.of(settings)
    attempt = state.limiter.login_gate(
        f"login:{address_key(ip)}" if settings.rate_limit_enabled else None,
        settings.rate_limit_login_per_minute,
        user.username if valid else "",
        ip,
        policy,
    )
    if attempt.throttled:
        metrics.rate_limited.labels("login").inc()
        return again(LOCKED, 429)
    if not valid:
        return again(WRONG_PASSWORD, 400)
    metrics.login_attempts.inc()
    if attempt.refused:
        metrics.login_failures.labels(attempt.refused).inc()
        failed(attempt.refused)
        return again(LOCKED, 429)
    # me.user is the session's active user: there is always a hash to check (no burn_password_check needed).
    if not await off_loop(verify_password, user.password_hash, password):
        metrics.login_failures.labels("bad_credentials").inc()
        failed("bad_credentials")
        failure = state.limiter.login_failed(user.username, ip, attempt.number, policy)
        if failure.ceiling_reached:
            metrics.lockouts.inc()
            audit.record(
                "login.locked_out", actor=user.username, ip=ip, scope="account", failures=failure.account_failures
            )
        if failure.locked_for:
            metrics.lockouts.inc()
            audit.record("login.locked_out", actor=user.username, ip=ip, scope="address", seconds=failure.locked_for)
            return again(LOCKED, 429)
        return again(WRONG_PASSWORD, 400)
    if not state.limiter.login_succeeded(user.username, ip):  # locked meanwhile by a parallel attempt
        metrics.login_failures.labels("locked").inc()
        failed("locked")
        return again(LOCKED, 429)
    if not Session.update(auth_time=int(time.time())).where(Session.id == me.session.id).execute():
        raise SignIn(f"{routes.LOGIN}?return_to=" + quote(return_to, safe="/"))  # the session ended meanwhile
    audit.record("login.succeeded", actor=str(user.id), subject=user.username, ip=ip, via="reauthenticate")
    return RedirectResponse(f"{return_to}{'&' if '?' in return_to else '?'}{CONFIRMED_QUERY}", status_code=303)


# Users -----------------------------------------------------------------------


def _users_page(request: Request, me: Me, status: int = 200, error: str | None = None, values=None) -> Response:
    listed = users.list_users(PAGE_SIZE, _offset(request))
    return _render(request, me, "users.html", status, heading="Users", users=listed, error=error, values=values or {})


@router.get(routes.PORTAL_USERS)
async def show_users(request: Request):
    return _users_page(request, _me(request, "users:read"))


@router.post(routes.PORTAL_USERS)
async def create_user(request: Request):
    me = _me(request, "users:read", "users:write")
    form = await _form(request, me, "users:write")
    values = {k: _one(form, k) for k in ("username", "email", "name")}
    try:
        body = UserCreate(
            username=values["username"],
            password=(form.get("password") or [""])[0],
            email=values["email"] or None,
            name=values["name"] or None,
        )
        password_hash = await off_loop(users.hash_new_password, body.password, body.username, body.email)
        users.create_user(
            _actor(request, me), username=body.username, password_hash=password_hash, email=body.email, name=body.name
        )
    except ReauthenticationRequired:
        raise  # the "Confirm it's you" page, not an error on the form
    except ValidationError as exc:
        return _users_page(request, me, 400, _validation_message(exc), values)
    except GatehouseError as exc:
        return _users_page(request, me, exc.status, exc.message, values)
    return RedirectResponse(routes.PORTAL_USERS, status_code=303)


@router.post(routes.PORTAL_USERS + "/{user_id}/active")
async def set_user_active(request: Request, user_id: str):
    me = _me(request, "users:read", "users:write")
    form = await _form(request, me, "users:write")
    if not (user_id.isascii() and user_id.isdigit()) or len(user_id) > 10:
        raise NotFound("no such user")
    users.update_user(_actor(request, me), int(user_id), {"is_active": _one(form, "active") == "1"}, gh(request).tokens)
    return RedirectResponse(routes.PORTAL_USERS, status_code=303)


# Clients ---------------------------------------------------------------------


def _clients_page(request: Request, me: Me, status: int = 200, error: str | None = None, values=None) -> Response:
    listed = clients.list_clients(PAGE_SIZE, _offset(request))
    return _render(
        request,
        me,
        "clients.html",
        status,
        heading="Clients",
        clients=listed,
        error=error,
        values=values or {"kind": "confidential", "grant_types": ["authorization_code"], "scope": "openid profile"},
    )


@router.get(routes.PORTAL_CLIENTS)
async def show_clients(request: Request):
    return _clients_page(request, _me(request, "clients:read"))


@router.post(routes.PORTAL_CLIENTS)
async def create_client(request: Request):
    me = _me(request, "clients:read", "clients:write")
    form = await _form(request, me, "clients:write")
    values = {
        "client_id": _one(form, "client_id"),
        "name": _one(form, "name"),
        "kind": _one(form, "kind"),
        "redirect_uris": _one(form, "redirect_uris"),
        "post_logout_redirect_uris": _one(form, "post_logout_redirect_uris"),
        "grant_types": form.get("grant_types") or [],
        "scope": _one(form, "scope"),
    }
    try:
        body = ClientCreate(
            client_id=values["client_id"],
            name=values["name"],
            confidential=values["kind"] != "public",
            redirect_uris=_lines(form, "redirect_uris"),
            post_logout_redirect_uris=_lines(form, "post_logout_redirect_uris"),
            grant_types=values["grant_types"],
            scope=values["scope"],
        )
        client, secret = clients.create_client(
            _actor(request, me), cache=gh(request).clients, **body.model_dump(include=set(ClientCreate.model_fields))
        )
    except ReauthenticationRequired:
        raise
    except ValidationError as exc:
        return _clients_page(request, me, 400, _validation_message(exc), values)
    except GatehouseError as exc:
        return _clients_page(request, me, exc.status, exc.message, values)
    if secret is None:
        return RedirectResponse(routes.PORTAL_CLIENTS, status_code=303)
    return _render(request, me, "secret.html", heading="Client registered", client=client, secret=secret)


@router.post(routes.PORTAL_CLIENTS + "/{client_id}/rotate-secret")
async def rotate_secret(request: Request, client_id: str):
    me = _me(request, "clients:read", "clients:write")
    await _form(request, me, "clients:write")
    secret = clients.rotate_client_secret(_actor(request, me), client_id, gh(request).clients)
    client = clients.get_client(client_id)
    return _render(request, me, "secret.html", heading="Secret rotated", client=client, secret=secret)


@router.post(routes.PORTAL_CLIENTS + "/{client_id}/active")
async def set_client_active(request: Request, client_id: str):
    me = _me(request, "clients:read", "clients:write")
    form = await _form(request, me, "clients:write")
    state = gh(request)
    clients.update_client(
        _actor(request, me), client_id, {"is_active": _one(form, "active") == "1"}, state.clients, state.tokens
    )
    return RedirectResponse(routes.PORTAL_CLIENTS, status_code=303)


# Audit log -------------------------------------------------------------------


@router.get(routes.PORTAL_AUDIT)
async def show_audit_log(request: Request):
    me = _me(request, "audit-logs:read")
    event = request.query_params.get("event", "").strip()[:64] or None
    entries = audit_log.list_audit(PAGE_SIZE, _offset(request), event=event)
    _timed(entries.items)
    return _render(request, me, "audit.html", heading="Audit log", entries=entries, event=event or "")
