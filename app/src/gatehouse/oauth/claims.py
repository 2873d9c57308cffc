"""Claims about a user: what each scope releases of them (OIDC Core §5.1, §5.4), and which user a
token's `sub` names (OIDC Core §2, RFC 9068 §2.2)."""

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


def user_id_of(claims: dict) -> int | None:
    """The user a token acts for: its `sub` when that is a user id as this server writes one (ASCII
    digits; a client's own token has the client_id as `sub`, never all digits). None otherwise.
    Not str.isdigit() alone: it accepts '²', which int() refuses, and '١', which int() reads as 1."""
    subject = claims.get("sub")
    if isinstance(subject, str) and 0 < len(subject) <= 18 and subject.isascii() and subject.isdigit():
        return int(subject)
    return None
