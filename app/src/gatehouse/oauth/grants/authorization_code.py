"""The authorization code grant (RFC 6749 §4.1, OAuth 2.1 §4.1) with OpenID Connect's ID token (Core §3.1).

- PKCE S256 for every client (pkce.py, RFC 7636).
- A code is single use: a second redemption revokes every token issued
  from it (RFC 6749 §4.1.2, RFC 9700 §4.2.4 wording).
- A `resource` parameter may name only the admin API (RFC 8707, oauth.admin_resource).
"""

from __future__ import annotations

import time

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, OAuth2Error

from gatehouse.crypto.digests import digest
from gatehouse.oauth.admin_resource import check_resource
from gatehouse.oauth.capabilities import ENDPOINT_AUTH_METHODS
from gatehouse.runtime import audit
from gatehouse.store.models import AuthorizationCode, Grant, User


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ENDPOINT_AUTH_METHODS["token"]

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
