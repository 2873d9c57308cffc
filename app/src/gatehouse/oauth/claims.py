"""The OpenID Connect claims of a user (Core §5.1, §5.4): what each scope releases."""

from __future__ import annotations

from gatehouse.store.models import User


def oidc_claims(user: User, scope: str) -> dict:
    scopes = set(scope.split())
    claims: dict = {"sub": str(user.id)}
    if "profile" in scopes:
        claims["preferred_username"] = user.username
        if user.name:
            claims["name"] = user.name
        claims["updated_at"] = user.updated_at
    if "email" in scopes and user.email:
        claims["email"] = user.email
        claims["email_verified"] = False
    return claims
