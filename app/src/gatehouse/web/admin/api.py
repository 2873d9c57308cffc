"""The admin JSON API: /api/v2/admin/{users,clients,roles,permissions,audit-logs}.

Reading needs `<resource>:read`, changing needs `<resource>:write`. The
caller is authenticated before the body is even parsed, so an anonymous
request learns nothing but 401. Bodies are strict pydantic models: an
unknown field, a wrong type or a missing one is a 400 naming it (the app's
RequestValidationError handler), and the rules in accounts/ answer
400/403/404/409 the same way (web.errors).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, ClassVar

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from gatehouse.accounts import audit_log, clients, roles, users
from gatehouse.accounts.actor import Actor
from gatehouse.accounts.password_policy import PASSWORD_MAX, PASSWORD_MIN
from gatehouse.crypto.passwords import off_loop
from gatehouse.errors import GatehouseError, Invalid
from gatehouse.web import routes
from gatehouse.web.admin.principal import authenticate, check_csrf, needs
from gatehouse.web.answers import NO_STORE, json_answer
from gatehouse.web.common import gh
from gatehouse.web.errors import error_answer

PREFIX = routes.ADMIN_API


class AdminAPIRoute(APIRoute):
    """Authenticates (and checks CSRF for cookie callers) before FastAPI parses the body,
    and turns GatehouseError into its JSON answer."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                principal = authenticate(request)
                check_csrf(request, principal)
                request.state.admin_principal = principal
                response = await handler(request)
            except GatehouseError as exc:
                return error_answer(exc)
            response.headers.update(NO_STORE)
            return response

        return guarded


router = APIRouter(prefix=PREFIX, tags=["admin"], route_class=AdminAPIRoute)

Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="items to skip")]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ClientId = Annotated[str, Path(min_length=1, max_length=100)]
RoleName = Annotated[str, Path(min_length=1, max_length=100)]
Uri = Annotated[str, Field(min_length=1, max_length=2000)]
Name = Annotated[str, Field(min_length=1, max_length=100)]


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NoNulls(StrictBody):
    """For PATCH bodies: a field may be left out (unchanged) but not set to null, unless nullable."""

    @field_validator("*", mode="after")
    @classmethod
    def _not_null(cls, value, info):
        if value is None and info.field_name not in getattr(cls, "NULLABLE", ()):
            raise ValueError("may be left out but not null")
        return value


class UserCreate(StrictBody):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)
    email: str | None = Field(default=None, max_length=254)
    name: str | None = Field(default=None, max_length=200)
    is_active: bool = True


class UserUpdate(NoNulls):
    NULLABLE: ClassVar[tuple] = ("email", "name")
    email: str | None = Field(default=None, max_length=254)
    name: str | None = Field(default=None, max_length=200)
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)


class ClientCreate(StrictBody):
    client_id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    confidential: bool = True
    redirect_uris: list[Uri] = Field(default_factory=list, max_length=20)
    post_logout_redirect_uris: list[Uri] = Field(default_factory=list, max_length=20)
    grant_types: list[str] = Field(min_length=1, max_length=3)
    scope: str = Field(default="", max_length=1000)
    is_admin: bool = False


class ClientUpdate(NoNulls):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    redirect_uris: list[Uri] | None = Field(default=None, max_length=20)
    post_logout_redirect_uris: list[Uri] | None = Field(default=None, max_length=20)
    grant_types: list[str] | None = Field(default=None, min_length=1, max_length=3)
    scope: str | None = Field(default=None, max_length=1000)
    is_active: bool | None = None
    is_admin: bool | None = None


class RoleCreate(StrictBody):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=255)
    permissions: list[Name] = Field(default_factory=list, max_length=200)


class RolePermissions(StrictBody):
    permissions: list[Name] = Field(max_length=200)


class PermissionCreate(StrictBody):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=255)


def _created(data: dict, location: str) -> Response:
    return json_answer(data, status=201, headers={"Location": location})


def _no_content() -> Response:
    return Response(status_code=204)


# Users -----------------------------------------------------------------------


@router.get("/users", summary="List users")
async def list_users(limit: Limit = 50, offset: Offset = 0, actor: Actor = needs("users:read")):
    return json_answer(users.list_users(limit, offset).as_dict())


@router.get("/users/{user_id}", summary="Get a user with their roles and permissions")
async def get_user(user_id: UserId, actor: Actor = needs("users:read")):
    return json_answer(users.get_user(user_id))


@router.post("/users", summary="Create a user", status_code=201)
async def create_user(body: UserCreate, actor: Actor = needs("users:write")):
    password_hash = await off_loop(users.hash_new_password, body.password, body.username, body.email)
    user = users.create_user(
        actor,
        username=body.username,
        password_hash=password_hash,
        email=body.email,
        name=body.name,
        is_active=body.is_active,
    )
    return _created(user, f"{PREFIX}/users/{user['id']}")


@router.patch("/users/{user_id}", summary="Change a user's email, name, is_active or password")
async def update_user(request: Request, user_id: UserId, body: UserUpdate, actor: Actor = needs("users:write")):
    changes = body.model_dump(exclude_unset=True)
    if "password" in changes:
        target = users.get_user(user_id)  # 404 before any hashing; the password must not contain their name
        email = changes.get("email", target["email"])
        changes["password_hash"] = await off_loop(
            users.hash_new_password, changes.pop("password"), target["username"], email
        )
    return json_answer(users.update_user(actor, user_id, changes, gh(request).tokens))


@router.delete("/users/{user_id}", summary="Delete a user, their sessions and grants", status_code=204)
async def delete_user(request: Request, user_id: UserId, actor: Actor = needs("users:write")):
    users.delete_user(actor, user_id, gh(request).tokens)
    return _no_content()


# Granting a role grants its permissions: that is roles:write, not just users:write.
@router.put("/users/{user_id}/roles/{role}", summary="Give a user a role")
async def assign_role(
    user_id: UserId, role: RoleName, actor: Actor = needs("users:write"), _: Actor = needs("roles:write")
):
    return json_answer(users.assign_role(actor, user_id, role))


@router.delete("/users/{user_id}/roles/{role}", summary="Take a role from a user")
async def remove_role(
    user_id: UserId, role: RoleName, actor: Actor = needs("users:write"), _: Actor = needs("roles:write")
):
    return json_answer(users.remove_role(actor, user_id, role))


# Clients ---------------------------------------------------------------------


@router.get("/clients", summary="List clients")
async def list_clients(limit: Limit = 50, offset: Offset = 0, actor: Actor = needs("clients:read")):
    return json_answer(clients.list_clients(limit, offset).as_dict())


@router.get("/clients/{client_id}", summary="Get a client")
async def get_client(client_id: ClientId, actor: Actor = needs("clients:read")):
    return json_answer(clients.get_client(client_id))


@router.post(
    "/clients", summary="Register a client; the answer holds its secret, shown only this once", status_code=201
)
async def create_client(request: Request, body: ClientCreate, actor: Actor = needs("clients:write")):
    client, secret = clients.create_client(
        actor,
        client_id=body.client_id,
        name=body.name,
        confidential=body.confidential,
        redirect_uris=body.redirect_uris,
        post_logout_redirect_uris=body.post_logout_redirect_uris,
        grant_types=body.grant_types,
        scope=body.scope,
        is_admin=body.is_admin,
        cache=gh(request).clients,
    )
    return _created({**client, "client_secret": secret}, f"{PREFIX}/clients/{client['client_id']}")


@router.patch("/clients/{client_id}", summary="Change a client")
async def update_client(
    request: Request, client_id: ClientId, body: ClientUpdate, actor: Actor = needs("clients:write")
):
    changes = body.model_dump(exclude_unset=True)
    state = gh(request)
    return json_answer(clients.update_client(actor, client_id, changes, state.clients, state.tokens))


@router.post("/clients/{client_id}/rotate-secret", summary="Replace a client's secret; the new one is shown once")
async def rotate_secret(request: Request, client_id: ClientId, actor: Actor = needs("clients:write")):
    secret = clients.rotate_client_secret(actor, client_id, gh(request).clients)
    return json_answer({"client_id": clients.get_client(client_id)["client_id"], "client_secret": secret})


@router.delete("/clients/{client_id}", summary="Delete a client and revoke its grants", status_code=204)
async def delete_client(request: Request, client_id: ClientId, actor: Actor = needs("clients:write")):
    state = gh(request)
    clients.delete_client(actor, client_id, state.clients, state.tokens)
    return _no_content()


# Roles -------------------------------------------------------------------------


@router.get("/roles", summary="List roles")
async def list_roles(limit: Limit = 100, offset: Offset = 0, actor: Actor = needs("roles:read")):
    return json_answer(roles.list_roles(limit, offset).as_dict())


@router.get("/roles/{role}", summary="Get a role")
async def get_role(role: RoleName, actor: Actor = needs("roles:read")):
    return json_answer(roles.get_role(role))


@router.post("/roles", summary="Create a role", status_code=201)
async def create_role(body: RoleCreate, actor: Actor = needs("roles:write")):
    role = roles.create_role(actor, name=body.name, description=body.description, permissions=body.permissions)
    return _created(role, f"{PREFIX}/roles/{role['name']}")


@router.delete("/roles/{role}", summary="Delete a role", status_code=204)
async def delete_role(role: RoleName, actor: Actor = needs("roles:write")):
    roles.delete_role(actor, role)
    return _no_content()


@router.put("/roles/{role}/permissions", summary="Set the permissions of a role")
async def set_role_permissions(
    role: RoleName, body: Annotated[RolePermissions, Body()], actor: Actor = needs("roles:write")
):
    return json_answer(roles.set_role_permissions(actor, role, body.permissions))


# Permissions -------------------------------------------------------------------


@router.get("/permissions", summary="List permissions")
async def list_permissions(limit: Limit = 100, offset: Offset = 0, actor: Actor = needs("permissions:read")):
    return json_answer(roles.list_permissions(limit, offset).as_dict())


@router.post("/permissions", summary="Create a resource:action permission", status_code=201)
async def create_permission(body: PermissionCreate, actor: Actor = needs("permissions:write")):
    permission = roles.create_permission(actor, name=body.name, description=body.description)
    return _created(permission, f"{PREFIX}/permissions/{permission['name']}")


@router.delete("/permissions/{permission}", summary="Delete a permission", status_code=204)
async def delete_permission(
    permission: Annotated[str, Path(min_length=1, max_length=100)], actor: Actor = needs("permissions:write")
):
    roles.delete_permission(actor, permission)
    return _no_content()


# Audit log -----------------------------------------------------------------------


def parse_since(value: str | None) -> int | None:
    """Unix seconds, or an ISO 8601 time (naive means UTC)."""
    if value is None or value == "":
        return None
    if value.isascii() and value.isdigit() and len(value) <= 12:  # '²'.isdigit() is True, int('²') fails
        return int(value)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid("since must be Unix seconds or an ISO 8601 time", "since") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


@router.get("/audit-logs", summary="Audit events, newest first")
async def list_audit_logs(
    limit: Limit = 50,
    offset: Offset = 0,
    event: Annotated[str | None, Query(max_length=64)] = None,
    actor_filter: Annotated[str | None, Query(alias="actor", max_length=200)] = None,
    since: Annotated[str | None, Query(max_length=40, description="Unix seconds or ISO 8601")] = None,
    actor: Actor = needs("audit-logs:read"),
):
    page = audit_log.list_audit(limit, offset, event=event, actor=actor_filter, since=parse_since(since))
    return json_answer(page.as_dict())
