"""The client credentials grant (RFC 6749 §4.4): confidential clients only, no user, no refresh token."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError, UnauthorizedClientError

from gatehouse.oauth.admin_resource import check_resource
from gatehouse.oauth.capabilities import SECRET_METHODS


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
