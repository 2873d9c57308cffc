"""The refresh token grant (RFC 6749 §6) with OAuth 2.1's rotation (§4.3.1, RFC 9700 §4.14.2).

A refresh token is rotated on every use; a rotated-out token presented
again revokes the whole grant, for the thief and the client alike. The
scope may only narrow (RFC 6749 §6).
"""

from __future__ import annotations

import time

import peewee
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)

from gatehouse.accounts.users import collect_roles
from gatehouse.crypto.digests import digest
from gatehouse.oauth.admin_resource import check_resource
from gatehouse.oauth.capabilities import ENDPOINT_AUTH_METHODS
from gatehouse.runtime import audit
from gatehouse.store.models import Grant, Permission, RefreshToken, Role, RolePermission, User, UserRole
from gatehouse.store.statements import Compiled

# The refresh path's statements, compiled once (gatehouse.compiled): refresh is the busiest write path.
# The token, its grant, its user and the user's roles and permissions in one
# round trip (a row per role and permission), only the columns the grant reads.
_REFRESH_COLUMNS = {
    RefreshToken: ("id", "grant_id", "client_id", "user_id", "scope", "expires_at", "revoked_at"),
    Grant: ("auth_time", "expires_at", "revoked_at"),
    User: ("username", "email", "name", "is_active", "updated_at"),
}
_REFRESH_TOKEN_WITH_GRANT_AND_USER = Compiled(
    lambda token_digest: (
        RefreshToken.select(
            *[getattr(m, c) for m, cols in _REFRESH_COLUMNS.items() for c in cols], Role.name, Permission.name
        )
        .join(Grant, on=(Grant.id == RefreshToken.grant_id))
        .switch(RefreshToken)
        .join(User, on=(User.id == RefreshToken.user_id))
        .join(UserRole, peewee.JOIN.LEFT_OUTER, on=(UserRole.user == User.id))
        .join(Role, peewee.JOIN.LEFT_OUTER, on=(Role.id == UserRole.role))
        .join(RolePermission, peewee.JOIN.LEFT_OUTER, on=(RolePermission.role == Role.id))
        .join(Permission, peewee.JOIN.LEFT_OUTER, on=(Permission.id == RolePermission.permission))
        .where(RefreshToken.token_digest == token_digest)
        .tuples()
    ),
    arity=1,
)


def _refresh_token_row(token_digest: str) -> RefreshToken | None:
    """The refresh token with `.grant`, `.user` and `.roles_and_permissions` attached
    (partial rows: the columns above), or None."""
    rows = _REFRESH_TOKEN_WITH_GRANT_AND_USER.rows(token_digest)
    if not rows:
        return None
    models = {}
    position = 0
    for model, columns in _REFRESH_COLUMNS.items():
        models[model] = dict(zip(columns, rows[0][position : position + len(columns)], strict=True))
        position += len(columns)
    row = RefreshToken(**models[RefreshToken])
    row.grant = Grant(id=row.grant_id, **models[Grant])
    row.user = User(id=row.user_id, **models[User])
    row.roles_and_permissions = collect_roles(values[position:] for values in rows)
    return row


_CLAIM_REFRESH_TOKEN = Compiled(
    lambda now, token_id: RefreshToken.update(rotated_at=now).where(
        (RefreshToken.id == token_id) & RefreshToken.rotated_at.is_null()
    ),
    arity=2,
)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ENDPOINT_AUTH_METHODS["token"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def _claim(self, row: RefreshToken) -> bool:
        """Rotation: the first use claims the token; any later use is a replay
        and ends the whole grant, for the thief and the client alike."""
        now = int(time.time())
        if row.revoked_at or row.expires_at <= now:
            return False
        claimed = _CLAIM_REFRESH_TOKEN.rowcount(now, row.id)
        if not claimed:
            self.server.tokens.revoke_grant(row.grant_id, "refresh_replay")
            audit.record("refresh.replay_detected", actor=row.client_id, subject=str(row.user_id), gid=row.grant_id)
        return bool(claimed)

    def validate_token_request(self):
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("the client may not use grant_type=refresh_token")
        presented = self.request.form.get("refresh_token")
        if not presented:
            raise InvalidRequestError("Missing 'refresh_token' in request.")
        row = None
        if len(presented) <= 512:
            row = _refresh_token_row(digest(presented))
        # A token of another client is treated as unknown, and not claimed.
        if row is None or row.client_id != client.client_id:
            raise InvalidGrantError("Invalid 'refresh_token' in request.")
        requested = self.request.payload.scope
        if requested and not set(requested.split()) <= set(row.scope.split()):
            raise InvalidScopeError("the requested scope exceeds the scope of the grant")
        check_resource(self.request, requested or row.scope, self.server.settings.issuer)
        if not self._claim(row):
            raise InvalidGrantError("Invalid 'refresh_token' in request.")
        self.request.client = client
        self.request.refresh_token = row

    def create_token_response(self):
        row = self.request.refresh_token
        client = self.request.client
        grant, user = row.grant, row.user
        if grant.revoked_at or not user.is_active:
            raise InvalidGrantError("the authorization was revoked")
        scope = self.request.payload.scope or row.scope
        # One write (the new refresh token), so no transaction: BEGIN and COMMIT would be two more round trips.
        token = self.server.tokens.for_user(
            grant_type="refresh_token",
            client=client,
            user=user,
            grant=grant,
            scope=scope,
            include_refresh=True,
            include_id_token="openid" in scope.split(),
            roles_and_permissions=row.roles_and_permissions,
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER
