"""Authlib grants bound to Gatehouse storage, with OAuth 2.1 rules.

- Authorization code: PKCE S256 required for every client (RFC 7636,
  OAuth 2.1 §4.1.1), code single use; a second redemption revokes every
  token issued from the code (RFC 6749 §4.1.2, RFC 9700 §4.2.4 wording).
- Refresh token: rotated on every use; a rotated-out token presented again
  revokes the whole grant (RFC 9700 §4.14.2).
- Client credentials: confidential clients only.
"""

from __future__ import annotations

import time

import peewee
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc7636 import CodeChallenge

from gatehouse.accounts.users import collect_roles
from gatehouse.crypto.digests import digest
from gatehouse.oauth.admin_resource import check_resource
from gatehouse.runtime import audit
from gatehouse.store.models import (
    AuthorizationCode,
    Grant,
    Permission,
    RefreshToken,
    Role,
    RolePermission,
    User,
    UserRole,
)
from gatehouse.store.statements import Compiled

SECRET_METHODS = ["client_secret_basic", "client_secret_post"]


class S256CodeChallenge(CodeChallenge):
    """PKCE as OAuth 2.1 wants it: a challenge on every request, S256 only."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("'code_challenge' is required (PKCE with S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_METHODS + ["none"]

    def validate_authorization_request(self):
        redirect_uri = super().validate_authorization_request()
        try:
            check_resource(self.request, self.request.scope or "", self.server.settings.issuer)
        except OAuth2Error as error:
            error.redirect_uri = redirect_uri
            raise
        return redirect_uri

    def validate_token_request(self):
        super().validate_token_request()
        check_resource(self.request, self.request.authorization_code.scope, self.server.settings.issuer)

    def save_authorization_code(self, code, request):
        data = request.payload.data
        auth_time = getattr(request, "auth_time", None) or int(time.time())
        grant = self.server.tokens.new_grant(request.client.client_id, request.user.id, request.scope, auth_time)
        AuthorizationCode.create(
            code_digest=digest(code),
            grant_id=grant.id,
            client_id=request.client.client_id,
            user_id=request.user.id,
            # Empty when the request relied on the single registered URI: then
            # the token request need not repeat it (RFC 6749 §4.1.3).
            redirect_uri=request.payload.redirect_uri or "",
            scope=request.scope,
            nonce=data.get("nonce"),
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            auth_time=auth_time,
            expires_at=int(time.time()) + self.server.settings.authorization_code_ttl,
        )

    def query_authorization_code(self, code, client):
        if not isinstance(code, str) or len(code) > 512:
            return None
        row = AuthorizationCode.get_or_none(AuthorizationCode.code_digest == digest(code))
        if row is None or row.client_id != client.client_id:
            return None
        if row.used_at is not None:
            self._reuse_detected(row, client)
            return None
        if row.expires_at <= int(time.time()):
            return None
        return row

    def _reuse_detected(self, row, client):
        self.server.tokens.revoke_grant(row.grant_id, "code_reuse")
        audit.record("code.reuse_detected", actor=client.client_id, subject=str(row.user_id), gid=row.grant_id)

    def delete_authorization_code(self, authorization_code):
        # Kept (marked used) until it expires, so a replay is recognised.
        pass

    def authenticate_user(self, authorization_code):
        return User.get_or_none((User.id == authorization_code.user_id) & (User.is_active == True))  # noqa: E712

    def create_token_response(self):
        code = self.request.authorization_code
        client = self.request.client
        # Claimed only now, after PKCE passed, so that a stolen code presented
        # without its verifier cannot burn the client's code. Of two
        # concurrent redemptions one wins; the other counts as reuse.
        claimed = (
            AuthorizationCode.update(used_at=int(time.time()))
            .where((AuthorizationCode.id == code.id) & AuthorizationCode.used_at.is_null())
            .execute()
        )
        if not claimed:
            self._reuse_detected(code, client)
            raise InvalidGrantError("Invalid 'code' in request.")
        user = self.authenticate_user(code)
        if user is None:
            raise InvalidGrantError("the user of this code no longer exists")
        grant = Grant.get_or_none((Grant.id == code.grant_id) & Grant.revoked_at.is_null())
        if grant is None:
            raise InvalidGrantError("the authorization was revoked")
        scopes = code.scope.split()
        token = self.server.tokens.for_user(
            grant_type="authorization_code",
            client=client,
            user=user,
            grant=grant,
            scope=code.scope,
            nonce=code.nonce,
            include_refresh="offline_access" in scopes and client.check_grant_type("refresh_token"),
            include_id_token="openid" in scopes,
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_METHODS

    def validate_token_request(self):
        client = self.authenticate_token_endpoint_client()
        if not client.is_confidential or not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("the client may not use grant_type=client_credentials")
        self.request.client = client
        self.validate_requested_scope()

    def create_token_response(self):
        client = self.request.client
        scope = client.get_allowed_scope(self.request.payload.scope)
        if scope is None:
            raise InvalidScopeError("the client is not registered for the requested scope")
        # OIDC user scopes mean nothing without a user.
        scope = " ".join(s for s in scope.split() if s not in ("openid", "offline_access"))
        check_resource(self.request, scope, self.server.settings.issuer)
        token = self.server.tokens.client_credentials(client, scope)
        return 200, token, self.TOKEN_RESPONSE_HEADER


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
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_METHODS + ["none"]
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
