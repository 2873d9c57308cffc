"""Issuing and revoking tokens: the storage side of every grant (RFC 6749 §5.1 token responses).

What each token says is its profile's (oauth.access_token, RFC 9068;
oauth.id_token, OIDC Core §2); this module decides which tokens a grant
gets and records them. An access token is a signed JWT that needs no row
of its own: a client_credentials token costs no write but its batched
audit row. Tokens of a user's authorization carry the grant id (`gid`), so
revoking the grant (code reuse, refresh replay, revocation of its refresh
token) revokes every one of them with a single `revocations` row that
introspection and userinfo look up.
"""

from __future__ import annotations

import time

from gatehouse.accounts.users import roles_and_permissions as user_roles_and_permissions
from gatehouse.crypto.digests import digest, new_token
from gatehouse.crypto.jws import TokenSigner
from gatehouse.oauth import access_token as access_tokens
from gatehouse.oauth import id_token as id_tokens
from gatehouse.oauth.admin_resource import admin_audience, is_admin_scope
from gatehouse.oauth.claims import oidc_claims
from gatehouse.runtime import audit, metrics
from gatehouse.runtime.revocation_list import RevocationList
from gatehouse.settings import Settings
from gatehouse.store.database import database
from gatehouse.store.models import Grant, RefreshToken, User
from gatehouse.store.statements import Compiled

# Written with every refresh token issued (gatehouse.compiled).
_INSERT_REFRESH_TOKEN = Compiled(
    lambda token_digest, grant_id, client_id, user_id, scope, issued_at, expires_at: RefreshToken.insert(
        token_digest=token_digest,
        grant_id=grant_id,
        client_id=client_id,
        user_id=user_id,
        scope=scope,
        issued_at=issued_at,
        expires_at=expires_at,
    ),
    arity=7,
)


class TokenService:
    def __init__(self, settings: Settings, signer: TokenSigner, revocations: RevocationList):
        self.settings = settings
        self.signer = signer
        self.revocations = revocations

    # Grants ------------------------------------------------------------------
    def new_grant(self, client_id: str, user_id: int, scope: str, auth_time: int) -> Grant:
        now = int(time.time())
        return Grant.create(
            id=new_token(16),
            client_id=client_id,
            user_id=user_id,
            scope=scope,
            auth_time=auth_time,
            created_at=now,
            expires_at=now + self.settings.refresh_token_ttl,
        )

    def revoke_grant(self, grant_id: str, reason: str) -> None:
        """Revoke an authorization and everything issued from it."""
        now = int(time.time())
        with database.atomic():
            updated = Grant.update(revoked_at=now).where((Grant.id == grant_id) & Grant.revoked_at.is_null()).execute()
            RefreshToken.update(revoked_at=now).where(
                (RefreshToken.grant_id == grant_id) & RefreshToken.revoked_at.is_null()
            ).execute()
            # Access tokens of this grant stay valid JWTs until they expire;
            # the revocation row makes introspection and userinfo refuse them.
            self.revocations.insert(grant_id, now + self.settings.max_token_lifetime)
        self.revocations.announce(grant_id)
        if updated:
            metrics.tokens_revoked.labels(reason).inc()

    def revoke_access_token(self, claims: dict) -> None:
        self.revocations.insert(claims["jti"], claims["exp"])
        self.revocations.announce(claims["jti"])
        metrics.tokens_revoked.labels("access_token").inc()

    def is_revoked(self, claims: dict) -> bool:
        ids = [claims.get("jti")]
        if claims.get("gid"):
            ids.append(claims["gid"])
        return self.revocations.any_revoked(ids)

    # Tokens ------------------------------------------------------------------
    def audience(self, client_id: str, scope: str) -> str:
        """The admin API for an admin-scoped token (oauth.admin_resource), the client itself otherwise."""
        return admin_audience(self.settings.issuer) if is_admin_scope(scope) else client_id

    def client_credentials(self, client, scope: str) -> dict:
        access_token, claims = access_tokens.issue(
            self.signer,
            client_id=client.client_id,
            subject=client.client_id,
            scope=scope,
            ttl=self.settings.access_token_ttl,
            audience=self.audience(client.client_id, scope),
        )
        metrics.tokens_issued.labels("client_credentials").inc()
        audit.record(
            "token.issued",
            actor=client.client_id,
            subject=client.client_id,
            grant_type="client_credentials",
            jti=claims["jti"],
        )
        return self._response(access_token, scope)

    def for_user(
        self,
        *,
        grant_type: str,
        client,
        user: User,
        grant: Grant,
        scope: str,
        nonce: str | None = None,
        include_refresh: bool,
        include_id_token: bool,
        roles_and_permissions: tuple[list[str], list[str]] | None = None,
        ttl: int | None = None,
    ) -> dict:
        """roles_and_permissions: the user's, when the caller already read them (refresh does, in its one query).

        Only a token for the admin API carries them (oauth.admin_resource)."""
        roles = permissions = ()
        if is_admin_scope(scope):
            roles, permissions = roles_and_permissions or user_roles_and_permissions(user.id)
        ttl = ttl or self.settings.access_token_ttl
        access_token, claims = access_tokens.issue(
            self.signer,
            client_id=client.client_id,
            subject=str(user.id),
            scope=scope,
            ttl=ttl,
            audience=self.audience(client.client_id, scope),
            roles=roles,
            permissions=permissions,
            grant_id=grant.id,
            auth_time=grant.auth_time,
        )
        token = self._response(access_token, scope, ttl)
        if include_refresh:
            refresh = new_token(32)
            _INSERT_REFRESH_TOKEN.insert(
                digest(refresh), grant.id, client.client_id, user.id, scope, claims["iat"], grant.expires_at
            )
            token["refresh_token"] = refresh
        if include_id_token:
            token["id_token"] = id_tokens.issue(
                self.signer,
                client_id=client.client_id,
                subject=str(user.id),
                ttl=self.settings.id_token_ttl,
                auth_time=grant.auth_time,
                nonce=nonce,
                access_token=access_token,
                extra={k: v for k, v in oidc_claims(user, scope).items() if k != "sub"},
            )
        metrics.tokens_issued.labels(grant_type).inc()
        audit.record(
            "token.refreshed" if grant_type == "refresh_token" else "token.issued",
            actor=client.client_id,
            subject=str(user.id),
            grant_type=grant_type,
            jti=claims["jti"],
            gid=grant.id,
        )
        return token

    def _response(self, access_token: str, scope: str, ttl: int | None = None) -> dict:
        token = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ttl or self.settings.access_token_ttl,
        }
        if scope:
            token["scope"] = scope
        return token
